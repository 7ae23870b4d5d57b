"""Service settings: defaults < TOML config file < ``AIGC_GATEWAY_*`` environment < CLI flags.

The config file is named by ``--config`` or ``AIGC_GATEWAY_CONFIG``. Nested sections use
``__`` in environment names (``AIGC_GATEWAY_PROXY__TIMEOUT_S=30``). ``load_settings`` turns
every problem (unreadable file, TOML syntax, wrong type, unknown key) into one
``ConfigError`` whose message names the setting and where it came from.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from service.classifier.settings import ClassifierSettings, resolve
from service.records.settings import RecordSettings
from service.tenants import Policy, Profile, Tenant

ENV_PREFIX = "AIGC_GATEWAY_"
MIN_ADMIN_TOKEN = 16


class ConfigError(ValueError):
    """The configuration is invalid; the message is meant for the operator."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProxySettings(_Section):
    """Gateway proxy settings (owned by the proxy; extend here)."""

    timeout_s: float = Field(default=120.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=512, ge=1)
    # added by the proxy (service/proxy):
    api_key: SecretStr | None = None  # injected upstream key; None: the caller's key passes
    # routes without an adapter: "screen" (the generic walker, both ways) or "refuse" (404);
    # true/false are the older spellings of "screen"/"refuse"
    passthrough: bool | Literal["screen", "refuse"] = "screen"
    fail_open_output: bool = False  # on a scanner failure let output pass (default: block)
    refusal_message: str | None = None  # message of the 400 for a blocked prompt
    # a blocked prompt: "error" = the protocol's 400 envelope; "refusal" = a 200 assistant reply
    block_mode: Literal["error", "refusal"] = "error"
    # image URL fetches, speech and video downloads (with labels.max_upload_bytes)
    media_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    media_timeout_s: float = Field(default=30.0, gt=0)  # image URL fetch time limit


# Syntactically valid TC260-PG-20252A codes with an all-zero subject code, used in --demo only
# so that demo labels are well-formed; a deployment must configure its own code.
DEMO_PRODUCER_CODE = "0011" + "0" * 18 + "10000"
DEMO_PROPAGATOR_CODE = "0011" + "0" * 18 + "20000"


class LabelsC2paSettings(_Section):
    """C2PA manifest beside the TC260 record (opt-in); PEM certificate chain and private key."""

    enabled: bool = False
    cert_path: Path | None = None  # PEM chain, signing certificate first
    key_path: Path | None = None  # PEM private key
    algorithm: Literal["es256", "es384", "es512", "ps256", "ed25519"] = "es256"
    tsa_url: str | None = None  # RFC 3161 time-stamp authority; None: no time stamp
    claim_generator: str = "aigc-gateway"


class LabelsSettings(_Section):
    """Global label settings (owned by the labels routes; extend here)."""

    enabled: bool = True
    producer_code: str = ""
    explicit_text: str = "AI生成"
    # added by the proxy: the explicit notice on generated text
    text_notice: str = "本内容由人工智能生成"
    text_position: Literal["start", "end", "off"] = "start"
    # added by the labels routes (service/routes/label.py):
    propagator_code: str = ""  # TC260-PG-20252A code of this platform (position 23 = "2")
    max_upload_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    signing: Literal["none", "hmac-sha256", "sm2"] = "none"
    signing_key_id: str = "k1"
    signing_key: SecretStr | None = None  # HMAC secret
    sm2_private_key: SecretStr | None = None  # hex
    sm2_public_key: str = ""  # hex x||y; also pinned when inspecting
    font_path: str | None = None  # CJK font for explicit image labels
    image_position: Literal["bottom-right", "bottom-left", "top-right", "top-left"] = "bottom-right"
    audio_morse: Literal["start", "end", "both"] = "start"
    strict_provider_code: bool = True
    # added by the labels bridge (service/labeling.py):
    image_text_height: float = Field(default=0.06, ge=0.05, le=0.5)
    video_max_seconds: float = Field(default=600.0, gt=0)  # longer videos: 422
    video_notice_seconds: float = Field(default=3.0, ge=2.0)  # GB 45438 §5.4: at least 2 s
    detect_traces: bool = False  # /label/propagate looks for AI traces unless detect=false
    c2pa: LabelsC2paSettings = Field(default_factory=lambda: LabelsC2paSettings())


# Compliance records settings live with their owner (service.records.settings).
RecordsSettings = RecordSettings


class LimitsSettings(_Section):
    """Request and connection limits (``service.limits``; docs/service.md "Limits").

    Bigger requests get 413 ``payload_too_large``; the connection limits are enforced by the
    HTTP server itself, per worker process.
    """

    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_text_chars: int = Field(default=200_000, ge=1)
    max_batch_items: int = Field(default=256, ge=1)
    # connections (service/limits.py, service/server.py):
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)  # request line + headers; 431
    header_timeout_s: float = Field(default=10.0, gt=0)  # whole request head within this time
    keep_alive_s: float = Field(default=5.0, gt=0)  # idle keep-alive connections closed after
    max_connections: int = Field(default=10_000, ge=16)  # per worker; lowered to fit the fd limit
    linger_s: float = Field(default=5.0, ge=0)  # discard the unread body after an early answer
    linger_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)  # ... for at most this much


class ConsoleSettings(_Section):
    """The operator console at ``/console`` (service/console); needs ``admin_token``."""

    enabled: bool = True
    session_hours: float = Field(default=8.0, gt=0, le=168)  # absolute session lifetime
    idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60)  # sliding idle timeout
    # Signs session cookies; default: a key derived from admin_token (so every worker and
    # replica with the same token shares sessions, and changing the token ends them all).
    secret: SecretStr | None = Field(default=None, min_length=32)
    # "auto": Secure cookie when the request came over https (X-Forwarded-Proto is honoured
    # only from uvicorn's --forwarded-allow-ips); "always" behind a TLS-terminating proxy.
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    login_attempts_per_minute: int = Field(default=10, ge=1)  # failed logins per address


def _split_paths(value: Any) -> Any:
    """``AIGC_GATEWAY_LEXICONS`` may be a JSON list or ``os.pathsep``-separated directories."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part for part in text.split(os.pathsep) if part]
    return value


class Settings(BaseSettings):
    """Everything ``aigc-gateway serve`` can be told. Build with ``load_settings``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    # DESIGN §3.1 flags
    config: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    upstream: str | None = None
    lexicons: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    database: str | None = None  # None -> sqlite:///<data_dir>/aigc-gateway.sqlite3
    admin_token: SecretStr | None = None
    demo: bool = False

    # files
    data_dir: Path = Path("var")
    lexicon_cache_dir: Path | None = None
    lexicon_sets: dict[str, list[Path]] = Field(default_factory=dict)
    pinyin_categories: list[str] = Field(default_factory=list)
    watch: bool = False
    watch_interval_s: float = Field(default=1.0, gt=0)

    # operations
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True

    # policy
    profile: Profile = "standard"
    policy: Policy = Field(default_factory=Policy)
    mandatory: Policy = Field(default_factory=Policy)
    tenants: list[Tenant] = Field(default_factory=list)

    # areas
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    labels: LabelsSettings = Field(default_factory=LabelsSettings)
    records: RecordSettings = Field(default_factory=RecordSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)

    _overrides: dict[str, Any] = PrivateAttr(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self._overrides = dict(values)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_path(getattr(init_settings, "init_kwargs", {}))
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("lexicons", mode="before")
    @classmethod
    def _lexicon_list(cls, value: Any) -> Any:
        return _split_paths(value)

    @field_validator("lexicons")
    @classmethod
    def _lexicon_dirs_exist(cls, dirs: list[Path]) -> list[Path]:
        for d in dirs:
            if not d.is_dir():
                raise ValueError(f"lexicon directory not found: {d}")
        return dirs

    @field_validator("upstream")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
        return url.rstrip("/") if url else None

    @field_validator("lexicon_sets")
    @classmethod
    def _sets(cls, sets: dict[str, list[Path]]) -> dict[str, list[Path]]:
        if "default" in sets:
            raise ValueError("'default' is the --lexicons set; name extra sets differently")
        for name, dirs in sets.items():
            if not dirs:
                raise ValueError(f"lexicon set {name!r} has no directories")
            for d in dirs:
                if not d.is_dir():
                    raise ValueError(f"lexicon set {name!r}: directory not found: {d}")
        return sets

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.demo:
            self.labels.producer_code = self.labels.producer_code or DEMO_PRODUCER_CODE
            self.labels.propagator_code = self.labels.propagator_code or DEMO_PROPAGATOR_CODE
        if self.database is None:
            self.database = f"sqlite:///{self.data_dir / 'aigc-gateway.sqlite3'}"
        token = self.admin_token.get_secret_value() if self.admin_token else None
        if token is not None and len(token) < MIN_ADMIN_TOKEN and not self.demo:
            raise ValueError(f"admin_token must be at least {MIN_ADMIN_TOKEN} characters")
        known = {"default", *self.lexicon_sets}
        for tenant in self.tenants:
            unknown = [s for s in tenant.lexicon_sets if s not in known]
            if unknown:
                raise ValueError(
                    f"tenant {tenant.id!r} uses unknown lexicon set(s) {unknown}; "
                    f"known: {sorted(known)}"
                )
        owners: dict[str, str] = {}
        for tenant in self.tenants:
            for key_hash in tenant.api_keys:
                if owners.setdefault(key_hash, tenant.id) != tenant.id:
                    raise ValueError(
                        f"the same API key is configured for tenants {owners[key_hash]!r} "
                        f"and {tenant.id!r}"
                    )
        for tenant in self.tenants:
            try:
                resolve(self.classifier, tenant.classifier)
            except ValueError as exc:
                raise ValueError(f"tenant {tenant.id!r} classifier: {exc}") from None
        ids = [t.id for t in self.tenants]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"tenant ids configured twice: {dupes}")
        return self

    @property
    def cache_dir(self) -> Path:
        """Where compiled lexicons are cached (shared by workers and restarts)."""
        return self.lexicon_cache_dir or self.data_dir / "lexicon-cache"

    def reloaded(self) -> Settings:
        """The settings read again from the same file, environment and overrides."""
        return load_settings(**self._overrides)


def _config_path(init_kwargs: dict[str, Any]) -> Path | None:
    path = init_kwargs.get("config") or os.environ.get(ENV_PREFIX + "CONFIG")
    return Path(path) if path else None


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "settings"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Build ``Settings``; ``overrides`` (CLI flags) win, ``None`` values are ignored.

    Raises ``ConfigError`` with one line per problem.
    """
    values = {k: v for k, v in overrides.items() if v is not None}
    path = _config_path(values)
    if path is not None:
        try:
            with path.open("rb") as fh:
                tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    try:
        return Settings(**values)
    except ValidationError as exc:
        origin = f" (config file {path} and environment {ENV_PREFIX}*)" if path else ""
        raise ConfigError(f"invalid configuration{origin}:\n{_describe(exc)}") from None
    except ValueError as exc:  # e.g. malformed JSON in an environment variable
        raise ConfigError(f"invalid configuration: {exc}") from None
