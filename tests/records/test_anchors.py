"""Signed anchors of the chain heads catch what the chain alone cannot: a cut or recomputed chain.

Signatures are checked with a second implementation (stdlib ``hmac``; gmssl's SM2 directly),
the tampering is done with ``sqlite3`` behind the gateway's back.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from gmssl import sm2

from labelers.integrity import generate_sm2_keypair
from service.cli import main
from service.records import IncidentEvent, NetworkLogEvent
from service.records.anchors import AnchorKey
from service.records.backends import SqliteBackend
from tests.records.conftest import make_recorder

SECRET = "anchor-secret-0123456789"
T = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _canonical(anchor: dict) -> bytes:
    body = {k: v for k, v in anchor.items() if k != "sig"}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _config(tmp_path: Path, signing: str = "hmac", **extra: str) -> Path:
    lines = [
        f'database = "sqlite:///{tmp_path / "db.sqlite3"}"',
        f'data_dir = "{tmp_path}"',
        "[records]",
        f'anchor_file = "{tmp_path / "anchors.jsonl"}"',
        *(f'{k} = "{v}"' for k, v in extra.items()),
        "[labels]",
    ]
    if signing == "hmac":
        lines += ['signing = "hmac-sha256"', f'signing_key = "{SECRET}"']
    path = tmp_path / "gateway.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _fill_and_anchor(tmp_path: Path, key: AnchorKey, batches: int = 3, per: int = 5) -> None:
    """``batches`` times: ``per`` incidents and network logs, then an anchor."""

    async def run() -> None:
        rec = make_recorder(
            SqliteBackend(tmp_path / "db.sqlite3"),
            tmp_path,
            anchor_interval_s=0,
        )
        rec.anchor_file = type(rec.anchor_file)(tmp_path / "anchors.jsonl")
        rec.anchor_key = key
        await rec.start()
        n = 0
        for _ in range(batches):
            for _ in range(per):
                n += 1
                await rec.record(
                    IncidentEvent(
                        f"r{n}",
                        "t1",
                        "u1",
                        "output",
                        "/v1/x",
                        "mask",
                        ["a1"],
                        ["x"],
                        [(0, 1)],
                        "v1",
                        time=T,
                    ),
                    NetworkLogEvent(f"r{n}", "t1", "u1", "/v1/x", "m", None, 200, 1.0, time=T),
                )
            assert await rec.anchor() is not None
        await rec.stop()

    asyncio.run(run())


def _anchors(tmp_path: Path) -> list[dict]:
    return [json.loads(x) for x in (tmp_path / "anchors.jsonl").read_text().splitlines()]


def test_hmac_anchors_verify_with_stdlib_hmac(tmp_path, capsys):
    _fill_and_anchor(tmp_path, AnchorKey("hmac-sha256", "k1", secret=SECRET.encode()))
    anchors = _anchors(tmp_path)
    assert len(anchors) == 3
    prev = "0" * 64
    for raw, anchor in zip(
        (tmp_path / "anchors.jsonl").read_bytes().splitlines(), anchors, strict=True
    ):
        expected = hmac.new(SECRET.encode(), _canonical(anchor), hashlib.sha256).hexdigest()
        assert anchor["sig"] == {"alg": "hmac-sha256", "key_id": "k1", "value": expected}
        assert anchor["prev"] == prev
        prev = hashlib.sha256(raw).hexdigest()
    assert anchors[-1]["chains"]["incident"]["seq"] > anchors[0]["chains"]["incident"]["seq"]
    config = _config(tmp_path)
    assert main(["records", "--config", str(config), "verify", "--anchors"]) == 0
    err = capsys.readouterr().err
    assert "3 anchors" in err and "0 problems" in err


def test_sm2_anchors_verify_with_gmssl(tmp_path, capsys):
    private, public = generate_sm2_keypair()
    _fill_and_anchor(tmp_path, AnchorKey("sm2-sm3", "k9", private_key=private, public_key=public))
    verifier = sm2.CryptSM2(private_key="", public_key="")  # public key only
    verifier.public_key = public  # not through the constructor: it mangles keys (see sm2_key)
    for anchor in _anchors(tmp_path):
        assert anchor["sig"]["alg"] == "sm2-sm3" and anchor["sig"]["key_id"] == "k9"
        assert verifier.verify_with_sm3(anchor["sig"]["value"], _canonical(anchor))
        forged = dict(anchor, time="2030-01-01T00:00:00.000000Z")
        assert not verifier.verify_with_sm3(anchor["sig"]["value"], _canonical(forged))
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'database = "sqlite:///{tmp_path / "db.sqlite3"}"\n[records]\n'
        f'anchor_file = "{tmp_path / "anchors.jsonl"}"\n[labels]\nsigning = "sm2"\n'
        f'signing_key_id = "k9"\nsm2_public_key = "{public}"\n',
        encoding="utf-8",
    )
    assert main(["records", "--config", str(config), "verify", "--anchors"]) == 0
    capsys.readouterr()


def _truncate(db: Path, kind: str, keep: int) -> None:
    """Cut ``kind``'s chain after its ``keep``-th record and repoint the head: a consistent
    shorter chain that plain ``verify`` accepts."""
    with sqlite3.connect(db) as conn:
        seqs = [
            r[0] for r in conn.execute("SELECT seq FROM records WHERE kind=? ORDER BY seq", (kind,))
        ]
        last = seqs[keep - 1]
        conn.execute("DELETE FROM records WHERE kind = ? AND seq > ?", (kind, last))
        conn.execute(
            "UPDATE chain_heads SET head_hash = (SELECT hash FROM records WHERE seq = ?) "
            "WHERE kind = ?",
            (last, kind),
        )


def _rewrite(db: Path, kind: str, start: int) -> None:
    """Change the ``start``-th record of ``kind`` and recompute the chain from there on."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT seq, body, prev_hash FROM records WHERE kind = ? ORDER BY seq", (kind,)
        ).fetchall()
        prev = rows[start - 1][2]
        for i, (seq, body, _prev) in enumerate(rows[start - 1 :]):
            if i == 0:
                body = body.replace('"mask"', '"flag"')
            digest = hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()
            conn.execute(
                "UPDATE records SET body = ?, action = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (body, json.loads(body).get("action"), prev, digest, seq),
            )
            prev = digest
        conn.execute("UPDATE chain_heads SET head_hash = ? WHERE kind = ?", (prev, kind))


def test_truncated_tail_passes_the_chain_but_not_the_anchors(tmp_path, capsys):
    _fill_and_anchor(tmp_path, AnchorKey("hmac-sha256", "k1", secret=SECRET.encode()))
    _truncate(tmp_path / "db.sqlite3", "incident", keep=8)  # anchors were taken at 5, 10, 15
    config = _config(tmp_path)
    assert main(["records", "--config", str(config), "verify"]) == 0  # the chain looks fine
    capsys.readouterr()
    assert main(["records", "--config", str(config), "verify", "--anchors"]) == 1
    out = capsys.readouterr().out
    assert out.count("TAMPERED incident") == 2 and "cut short" in out
    assert "network_log" not in out


def test_rewritten_chain_passes_the_chain_but_not_the_anchors(tmp_path, capsys):
    _fill_and_anchor(tmp_path, AnchorKey("hmac-sha256", "k1", secret=SECRET.encode()))
    _rewrite(tmp_path / "db.sqlite3", "incident", start=7)
    config = _config(tmp_path)
    assert main(["records", "--config", str(config), "verify"]) == 0
    capsys.readouterr()
    assert main(["records", "--config", str(config), "verify", "--anchors"]) == 1
    out = capsys.readouterr().out
    assert out.count("TAMPERED incident") == 2 and "rewritten" in out


def test_edited_or_removed_anchor_lines_show(tmp_path, capsys):
    _fill_and_anchor(tmp_path, AnchorKey("hmac-sha256", "k1", secret=SECRET.encode()))
    path = tmp_path / "anchors.jsonl"
    lines = path.read_bytes().splitlines()
    config = _config(tmp_path)

    path.write_bytes(lines[0] + b"\n" + lines[2] + b"\n")  # the middle one removed
    assert main(["records", "--config", str(config), "verify", "--anchors"]) == 1
    assert "does not follow the line before it" in capsys.readouterr().out

    edited = json.loads(lines[1])
    edited["chains"]["incident"]["seq"] -= 1  # moved back, as if the tail were shorter
    path.write_bytes(b"\n".join([lines[0], json.dumps(edited).encode(), lines[2]]) + b"\n")
    assert main(["records", "--config", str(config), "verify", "--anchors"]) == 1
    assert "bad signature" in capsys.readouterr().out

    wrong_key = _config(tmp_path)
    wrong_key.write_text(wrong_key.read_text().replace(SECRET, SECRET[::-1]))
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["records", "--config", str(wrong_key), "verify", "--anchors"]) == 1
    assert "bad signature" in capsys.readouterr().out


def test_records_purged_by_retention_are_not_tampering(tmp_path, capsys):
    _fill_and_anchor(tmp_path, AnchorKey("hmac-sha256", "k1", secret=SECRET.encode()))
    config = _config(tmp_path)
    assert main(["records", "--config", str(config), "purge", "--now", "2026-09-15T00:00:00"]) == 0
    capsys.readouterr()
    assert main(["records", "--config", str(config), "verify", "--anchors"]) == 0
    assert "purged by retention" in capsys.readouterr().err


def test_periodic_anchors_are_posted_to_the_anchor_url(tmp_path):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    received: list[dict] = []

    async def sink(request: Request) -> Response:
        received.append(json.loads(await request.body()))
        return Response(status_code=204)

    from tests.support.server import serve

    with serve(Starlette(routes=[Route("/anchors", sink, methods=["POST"])])) as base:

        async def run() -> None:
            rec = make_recorder(
                SqliteBackend(tmp_path / "db.sqlite3"),
                tmp_path,
                anchor_interval_s=0.2,
                anchor_url=base + "/anchors",
            )
            rec.anchor_key = AnchorKey("hmac-sha256", "k1", secret=SECRET.encode())
            await rec.start()
            await rec.record(NetworkLogEvent("r1", "t1", None, "/v1/x", "m", None, 200, 1.0))
            for _ in range(200):
                if len(received) >= 2:
                    break
                await asyncio.sleep(0.05)
            await rec.stop()

        asyncio.run(run())
    assert len(received) >= 2
    written = _anchors_at(tmp_path / "records-anchors.jsonl")
    assert received[: len(written)] == written[: len(received)]
    for anchor in received:
        expected = hmac.new(SECRET.encode(), _canonical(anchor), hashlib.sha256).hexdigest()
        assert anchor["sig"]["value"] == expected
    assert received[-1]["chains"]["network_log"]["seq"] is not None


def _anchors_at(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]
