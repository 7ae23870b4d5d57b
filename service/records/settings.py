"""``[records]`` settings: retention, sanctions, complaints, writer queue and spool."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Six calendar months are 181-184 days; a fixed 180-day purge falls short (regulation.md §5).
MIN_RETENTION_DAYS = 184


class RecordSettings(BaseModel):
    """Compliance records settings, nested in the service settings as ``settings.records``."""

    model_config = ConfigDict(extra="forbid")

    # retention per record class, days; never below six calendar months
    retention_days: int = Field(default=MIN_RETENTION_DAYS, ge=MIN_RETENTION_DAYS)
    network_log_retention_days: int | None = Field(default=None, ge=MIN_RETENTION_DAYS)
    incident_retention_days: int | None = Field(default=None, ge=MIN_RETENTION_DAYS)
    label_delivery_retention_days: int | None = Field(default=None, ge=MIN_RETENTION_DAYS)
    sanction_retention_days: int | None = Field(default=None, ge=MIN_RETENTION_DAYS)
    complaint_retention_days: int | None = Field(default=None, ge=MIN_RETENTION_DAYS)
    purge_interval_s: float = Field(default=3600.0, gt=0)

    # user sanctions ladder (IM Art. 14 ¶2): thresholds are configurable defaults, not law
    sanction_consecutive: int = Field(default=3, ge=1)
    sanction_daily: int = Field(default=5, ge=1)
    suspension_hours: float = Field(default=24.0, gt=0)
    sanction_cache_s: float = Field(default=2.0, ge=0)
    sanction_day_offset_hours: int = Field(default=8, ge=-12, le=14)  # Beijing day
    sanction_directions: list[str] = Field(default_factory=lambda: ["input"])
    # "restricted" (IM Art. 14 ¶2 限制功能): screened with the minor profile; media refused
    restricted_refuse_media: bool = True

    # complaints (IM Art. 15, DS Art. 12): the provider sets and publishes the time limit
    complaint_feedback_days: int = Field(default=15, ge=1, le=60)
    complaint_rate_per_minute: int = Field(default=10, ge=1)
    allowlist_dir: Path | None = None  # default: <data_dir>/allowlists

    # durability (docs/records.md "Durability"): "sync" = a request's records are committed
    # or fsynced to the spool before its answer ends (group commit); "async" = queued, a crash
    # loses up to the last flush interval
    durability: Literal["sync", "async"] = "sync"
    # neither the database nor the spool can take records: "refuse" = 503 records_unavailable
    # for new requests; "serve" = go on, count the records as dropped
    when_unrecordable: Literal["refuse", "serve"] = "refuse"
    commit_timeout_s: float = Field(default=5.0, gt=0)  # slower commits go to the spool

    # signed anchors of the chain heads (signed with the [labels] signing key): 0 = off
    anchor_interval_s: float = Field(default=300.0, ge=0)
    anchor_file: Path | None = None  # default: <data_dir>/records-anchors.jsonl
    anchor_url: str | None = None  # also POST each anchor here (configuration, never input)

    # shared state of workers and replicas (complaint rate limits, sanction notices):
    # None = the records database; "redis://host:port/db" = Redis
    shared_state_url: str | None = None
    shared_state_prefix: str = Field(default="aigc-gateway", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    # writer
    queue_size: int = Field(default=100_000, ge=10)
    batch_size: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(default=0.2, gt=0)
    spool_dir: Path | None = None  # default: records-spool/ next to the SQLite file, or in data_dir
    spool_max_bytes: int = Field(default=1 << 30, ge=1024)
    retry_interval_s: float = Field(default=2.0, gt=0)

    @field_validator("anchor_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
        return url or None

    @field_validator("shared_state_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"must be a redis://, rediss:// or unix:// URL, got {url!r}")
        return url or None

    def retention_for(self, kind: str) -> int:
        """Retention in days of record class ``kind`` (falls back to ``retention_days``)."""
        value = getattr(self, f"{kind}_retention_days", None)
        return int(value) if value is not None else self.retention_days
