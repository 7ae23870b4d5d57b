"""Signed anchors of the chain heads: tamper evidence beyond the hash chain.

The hash chain shows an edited or removed record, but not a chain that was cut short (its
head reset to an earlier record) or recomputed from some point on. So every
``anchor_interval_s`` one process writes an *anchor*: for every chain the sequence number, hash
and time of its last record, signed with the label signing key (HMAC-SHA256, or SM2 with SM3).
Anchors are appended to a JSON-lines file (each line names the SHA-256 of the line before it, so
a line removed from the middle shows) and, when ``anchor_url`` is configured, POSTed there:
the copy an operator who can edit the database cannot reach.

``records verify --anchors FILE`` checks each anchor's signature and link, then that each
anchored record is still in the database with the same hash: a missing record past the end of
the chain is a truncated tail, a different hash a rewritten chain. A record that the retention
purge deleted is only accepted when it was old enough to be purged.

An anchor line::

    {"v":1,"time":"...Z","chains":{"incident":{"seq":812,"hash":"9f..","time":"...Z"},...},
     "prev":"<sha256 hex of the previous line, or 64 zeros>",
     "sig":{"alg":"hmac-sha256"|"sm2-sm3"|"none","key_id":"k1","value":"<hex>"}}

The signed message is the canonical JSON (sorted keys, no spaces, UTF-8) of the line without
``sig``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from service.records.chain import GENESIS, parse_utc, utc_text
from service.records.store import Problem, Store

ALGORITHMS = ("hmac-sha256", "sm2-sm3", "none")


def canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class AnchorKey:
    """How anchors are signed and checked: ``hmac-sha256`` (``secret``), ``sm2-sm3``
    (``private_key`` to sign, ``public_key`` to check; hex, gmssl form) or ``none``."""

    algorithm: str = "none"
    key_id: str = "k1"
    secret: bytes = b""
    private_key: str = ""
    public_key: str = ""

    @classmethod
    def from_label_settings(cls, labels: Any) -> AnchorKey:
        """The label signing key of ``[labels]`` (``signing``, ``signing_key``, ``sm2_*``)."""
        signing = getattr(labels, "signing", "none")
        key_id = getattr(labels, "signing_key_id", "k1")
        if signing == "hmac-sha256" and getattr(labels, "signing_key", None) is not None:
            secret = labels.signing_key.get_secret_value().encode()
            return cls("hmac-sha256", key_id, secret=secret)
        if signing == "sm2" and getattr(labels, "sm2_public_key", ""):
            private = labels.sm2_private_key
            return cls(
                "sm2-sm3",
                key_id,
                private_key=private.get_secret_value() if private is not None else "",
                public_key=labels.sm2_public_key,  # sm2_key() drops a 04 prefix
            )
        return cls()

    def sign(self, message: bytes) -> dict[str, str]:
        if self.algorithm == "hmac-sha256":
            value = hmac.new(self.secret, message, hashlib.sha256).hexdigest()
        elif self.algorithm == "sm2-sm3":
            if not self.private_key:
                raise ValueError("SM2 anchors need labels.sm2_private_key")
            value = self._sm2().sign_with_sm3(message)
        else:
            return {"alg": "none"}
        return {"alg": self.algorithm, "key_id": self.key_id, "value": value}

    def check(self, message: bytes, sig: dict[str, Any]) -> str | None:
        """None when ``sig`` is a valid signature of ``message`` with this key, else why not."""
        alg = sig.get("alg")
        if alg == "none":
            return None if self.algorithm == "none" else "the anchor is not signed"
        if alg != self.algorithm:
            return f"signed with {alg!r}, but the configured key is {self.algorithm!r}"
        if sig.get("key_id") != self.key_id:
            return f"signed with key {sig.get('key_id')!r}, not {self.key_id!r}"
        value = str(sig.get("value", ""))
        if alg == "hmac-sha256":
            good = hmac.compare_digest(
                value, hmac.new(self.secret, message, hashlib.sha256).hexdigest()
            )
        else:
            try:
                good = bool(self._sm2().verify_with_sm3(value, message))
            except Exception:  # a malformed signature is a bad one
                good = False
        return None if good else "bad signature"

    def _sm2(self) -> Any:
        from labelers.integrity import sm2_key

        return sm2_key(self.private_key, self.public_key)


# --- taking an anchor ------------------------------------------------------------------------


async def chain_heads(store: Store) -> dict[str, dict[str, Any]]:
    """``{kind: {"seq", "hash", "time"}}`` of every chain's last record, in one snapshot
    (``seq`` None: the chain has no record)."""
    out: dict[str, dict[str, Any]] = {}
    async with store.backend.transaction(write=False) as tx:
        heads = await tx.fetch("SELECT kind, head_hash FROM chain_heads ORDER BY kind")
        for kind, head in heads:
            rows = await tx.fetch(
                "SELECT seq, hash, time FROM records WHERE kind = ? ORDER BY seq DESC LIMIT 1",
                kind,
            )
            if rows and rows[0][1] == head:
                out[kind] = {"seq": int(rows[0][0]), "hash": head, "time": rows[0][2]}
            else:  # empty, or everything purged: the head is the genesis or purge anchor
                out[kind] = {"seq": None, "hash": head, "time": None}
    return out


def make_anchor(
    chains: dict[str, dict[str, Any]], key: AnchorKey, *, prev: str, now: datetime
) -> dict[str, Any]:
    anchor = {"v": 1, "time": utc_text(now), "chains": chains, "prev": prev}
    return {**anchor, "sig": key.sign(canonical(anchor))}


class AnchorFile:
    """The append-only anchor file; appends are serialised across processes by ``flock``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)

    def append(
        self, build: Callable[[str, datetime | None], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Under the lock: ``build(prev_line_hash, last_anchor_time)`` returns the anchor to
        append (or None to skip: another worker anchored a moment ago). Fsynced."""
        with self._locked() as fd:
            last = _last_line(fd)
            prev = hashlib.sha256(last).hexdigest() if last else GENESIS
            last_time = None
            if last:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    last_time = parse_utc(json.loads(last)["time"])
            anchor = build(prev, last_time)
            if anchor is None:
                return None
            line = canonical(anchor) + b"\n"
            os.write(fd, line)
            os.fsync(fd)
            return anchor

    def lines(self) -> list[bytes]:
        try:
            return self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []


def _last_line(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    if size == 0:
        return b""
    chunk = min(size, 1 << 16)
    data = os.pread(fd, chunk, size - chunk)
    lines = data.rstrip(b"\n").rsplit(b"\n", 1)
    return lines[-1]


# --- checking anchors ------------------------------------------------------------------------


@dataclass
class AnchorReport:
    anchors: int = 0
    checked: int = 0  # anchored records compared with the database
    purged: int = 0  # anchored records legitimately removed by the retention purge
    unsigned: int = 0


async def check_anchors(
    store: Store,
    lines: list[bytes],
    key: AnchorKey,
    *,
    retention_days: Callable[[str], int],
    now: datetime,
) -> tuple[AnchorReport, list[Problem]]:
    """Check each anchor line (signature, link to the line before) and each anchored record
    against the database (still there, same hash, same chain)."""
    report, problems = AnchorReport(), []
    prev = GENESIS
    for number, line in enumerate(lines, 1):
        where = f"anchor line {number}"
        try:
            anchor = json.loads(line)
            sig = anchor.pop("sig")
            chains = anchor["chains"]
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(Problem("anchors", None, f"{where}: unreadable ({exc})"))
            prev = hashlib.sha256(line).hexdigest()
            continue
        report.anchors += 1
        if anchor.get("prev") != prev:
            problems.append(
                Problem(
                    "anchors",
                    None,
                    f"{where}: does not follow the line before it "
                    "(a line was removed, reordered or edited)",
                )
            )
        prev = hashlib.sha256(line).hexdigest()
        if sig.get("alg") == "none":
            report.unsigned += 1
        bad = key.check(canonical(anchor), sig)
        if bad is not None:
            problems.append(Problem("anchors", None, f"{where}: {bad}"))
            continue
        for kind, head in sorted(chains.items()):
            problems += await _check_head(store, kind, head, where, report, retention_days, now)
    return report, problems


async def _check_head(
    store: Store,
    kind: str,
    head: dict[str, Any],
    where: str,
    report: AnchorReport,
    retention_days: Callable[[str], int],
    now: datetime,
) -> list[Problem]:
    seq = head.get("seq")
    if seq is None:
        return []
    report.checked += 1
    rows = await store.backend.fetch("SELECT kind, hash FROM records WHERE seq = ?", int(seq))
    if rows:
        if rows[0][0] != kind or rows[0][1] != head.get("hash"):
            return [Problem(kind, int(seq), f"differs from {where}: the chain was rewritten")]
        return []
    bounds = await store.backend.fetch(
        "SELECT min(r.seq), max(r.seq), max(h.purged) FROM chain_heads h "
        "LEFT JOIN records r ON r.kind = h.kind WHERE h.kind = ?",
        kind,
    )
    low, high, purged = bounds[0] if bounds else (None, None, 0)
    # the retention purge deletes the oldest part of a chain: fine for a record old enough
    old_enough = parse_utc(str(head.get("time"))) < now - timedelta(days=retention_days(kind))
    if old_enough and (purged or 0) > 0 and (low is None or int(low) > int(seq)):
        report.purged += 1
        return []
    if high is None or int(high) < int(seq):
        end = f"#{high}" if high is not None else "no record at all"
        return [
            Problem(
                kind,
                int(seq),
                f"anchored in {where} but gone: the chain was cut short (it now ends at {end})",
            )
        ]
    return [Problem(kind, int(seq), f"anchored in {where} but removed from the chain")]
