"""Lexicon version manifests: recorded by the running service, resolved, listed and diffed."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from lexicons import load_lexicon
from lexicons.history import ManifestStore, diff, manifest_of, read_manifest
from service.app import create_app
from service.config import load_settings
from tests.support.server import serve

from .helpers import write_lexicon

ROOT = Path(__file__).resolve().parents[2]
GAMBLING = "a1.other_prohibited.gambling"
TOKEN = "admin-token-0123456789"


def _cli(*args: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGC_GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "service", "lexicon", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_store_records_once_and_resolves_terms(tmp_path: Path):
    lexdir = write_lexicon(
        tmp_path / "lex",
        {
            f"{GAMBLING}.txt": "网上赌场\n百家乐\tmatch=word\taction=flag\n",
            "allow.txt": "百家乐园\n",
        },
    )
    lex = load_lexicon([lexdir])
    store = ManifestStore(tmp_path / "versions")
    assert store.get(lex.version) is None
    assert store.record(lex, [lexdir]) is True
    assert store.record(lex, [lexdir]) is False  # same version: only the last load is marked
    (only,) = store.versions()
    assert (only.version, only.term_count, only.sources) == (lex.version, 2, [str(lexdir)])
    m = store.get(lex.version)
    assert [(r.term, r.category, r.action, r.severity, r.match) for r in m.terms] == [
        ("百家乐", GAMBLING, "flag", "low", "word"),
        ("网上赌场", GAMBLING, "block", "high", ""),
    ]
    assert m.allow == ["百家乐园"]
    assert m.categories[GAMBLING]["name_zh"] == "赌博"
    # the file on disk is gzipped JSON another reader can open
    stored = next((tmp_path / "versions").glob("*.json.gz"))
    assert json.loads(gzip.decompress(stored.read_bytes()))["version"] == lex.version
    assert read_manifest(stored).terms == m.terms
    # a version string that is not one cannot reach outside the store
    assert store.get("../../etc/passwd") is None


def test_diff_terms_attributes_categories_allow(tmp_path: Path):
    old_dir = write_lexicon(
        tmp_path / "old",
        {f"{GAMBLING}.txt": "网上赌场\n百家乐\n", "custom.txt": "旧词语\n", "allow.txt": "a b\n"},
    )
    new_dir = write_lexicon(
        tmp_path / "new",
        {
            f"{GAMBLING}.txt": "网上赌场\taction=flag\n老虎机\n",
            "a4.personal_info.txt": "卖身份证\n",
            "allow.txt": "a b\n老虎机游戏\n",
        },
    )
    old = manifest_of(load_lexicon([old_dir]), [old_dir])
    new = manifest_of(load_lexicon([new_dir]), [new_dir])
    d = diff(old, new)
    assert [(r.term, r.category) for r in d.added] == [
        ("卖身份证", "a4.personal_info"),
        ("老虎机", GAMBLING),
    ]
    assert [(r.term, r.category) for r in d.removed] == [("旧词语", "custom"), ("百家乐", GAMBLING)]
    assert [(o.action, n.action, n.term) for o, n in d.changed] == [("block", "flag", "网上赌场")]
    assert d.categories_added == ["a4.personal_info"] and d.categories_removed == ["custom"]
    assert d.allow_added == ["老虎机游戏"] and d.allow_removed == []
    assert d.by_category()[GAMBLING] == (1, 1, 1)
    assert diff(new, new).empty
    text = d.to_text()
    assert "+ a4.personal_info\t卖身份证" in text and "action: block -> flag" in text


def test_service_records_every_loaded_version_and_the_cli_diffs_them(tmp_path: Path):
    """A decision's lexicon_version, as the service reports it (and records carry it),
    resolves to the terms in force, also after a reload."""
    lexdir = write_lexicon(tmp_path / "lex", {f"{GAMBLING}.txt": "网上赌场\n百家乐\n"})
    data_dir = tmp_path / "var"
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'lexicons = ["{lexdir}"]\nadmin_token = "{TOKEN}"\ndata_dir = "{data_dir}"\n',
        encoding="utf-8",
    )
    app = create_app(load_settings(config=config))
    with serve(app) as url, httpx.Client(base_url=url, timeout=20) as c:
        v1 = c.post("/moderate", json={"text": "网上赌场"}).json()["lexicon_version"]
        (lexdir / f"{GAMBLING}.txt").write_text("网上赌场\n老虎机\n", encoding="utf-8")
        r = c.post("/admin/reload", headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        v2 = c.post("/moderate", json={"text": "老虎机"}).json()["lexicon_version"]
    assert v1 != v2
    store = ManifestStore(data_dir / "lexicon-versions")
    assert {t.term for t in store.get(v1).terms} == {"网上赌场", "百家乐"}
    assert {t.term for t in store.get(v2).terms} == {"网上赌场", "老虎机"}
    assert [v.version for v in store.versions()] == [v2, v1]

    proc = _cli("diff", v1, v2, "--data-dir", str(data_dir))
    assert proc.returncode == 1, proc.stderr
    assert f"+ {GAMBLING}\t老虎机" in proc.stdout and f"- {GAMBLING}\t百家乐" in proc.stdout
    proc = _cli("diff", v2, str(lexdir), "--data-dir", str(data_dir), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["added"] == []
    listed = _cli("versions", "--data-dir", str(data_dir))
    assert listed.returncode == 0 and v1 in listed.stdout and v2 in listed.stdout
    terms = _cli("versions", v1, "--data-dir", str(data_dir))
    assert terms.stdout.splitlines() == [
        f"百家乐\t{GAMBLING}\tblock\thigh\t",
        f"网上赌场\t{GAMBLING}\tblock\thigh\t",
    ]
    assert _cli("versions", "sha256:0000000000000000", "--data-dir", str(data_dir)).returncode == 2
    assert _cli("diff", "sha256:0000000000000000", v1, "--data-dir", str(data_dir)).returncode == 2
