"""docs/lexicons.md "Bring your lexicon", end to end, on a generated 100,000-line public list:
import -> map the unknown categories -> check -> audit -> deploy (reload) -> history and diff.

Every step is the documented command, run as a process; the deployed service is the real app
on loopback.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.config import load_settings
from tests.support.server import serve

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "admin-token-0123456789"
LINES = 100_000
pytestmark = pytest.mark.slow


def _words(n: int) -> list[str]:
    """``n`` distinct made-up 3-4 character terms (rare characters, so that they do not occur
    in the corpus below by chance)."""
    rng = random.Random(14)
    chars = [chr(c) for c in range(0x5600, 0x5FFF)]
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(chars) for _ in range(rng.choice((3, 4)))))
    return sorted(out)


def _public_list(root: Path) -> Path:
    """A konsheng-shaped Vocabulary/ directory: two category files and one big unmapped
    list with repeats, traditional and spaced spellings, co-occurrence pairs, single
    characters, and a few ordinary words (中国, 口交 as in 路口交通)."""
    vocab = root / "Vocabulary"
    vocab.mkdir(parents=True)
    words = _words(60_000)
    politics, porn, rest = words[:1000], words[1000:2000], words[2000:]
    (vocab / "政治类型.txt").write_text("\n".join(politics) + "\n", encoding="utf-8")
    (vocab / "色情词库.txt").write_text("\n".join(porn) + "\n", encoding="utf-8")
    rng = random.Random(1)
    lines = ["中国", "口交", "反动标语", "反動標語"]
    while len(lines) < LINES - 2000:
        w = rng.choice(rest)
        roll = rng.random()
        if roll < 0.03:
            w = " ".join(w)
        elif roll < 0.05:
            w = w + " " + rng.choice(rest)
        elif roll < 0.06:
            w = w[0]
        lines.append(w)
    (vocab / "零时-Tencent.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert sum(1 for p in vocab.iterdir() for _ in p.open(encoding="utf-8")) == LINES
    return vocab


def _run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )


def test_bring_your_lexicon(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGC_GATEWAY_")}
    env["AIGC_GATEWAY_LEXICON_CACHE_DIR"] = str(tmp_path / "cache")
    vocab = _public_list(tmp_path / "Sensitive-lexicon")
    staging = tmp_path / "staging" / "lexicons"

    # 1. import
    proc = _run(env, "lexicon", "import", str(vocab), "--out", str(staging))
    assert proc.returncode == 0, proc.stderr
    assert "source categories NOT mapped" in proc.stderr and "零时-Tencent" in proc.stderr

    # 2. map the unknown category, import again
    mapping = tmp_path / "my-mapping.toml"
    mapping.write_text('[categories]\n"零时-Tencent" = "custom"\n', encoding="utf-8")
    report = tmp_path / "import-report.json"
    proc = _run(
        env,
        "lexicon",
        "import",
        str(vocab),
        "--out",
        str(staging),
        "--mapping",
        str(mapping),
        "--report",
        str(report),
        "--force",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["read"] == LINES
    assert data["unknown"] == {}
    assert (
        data["written"]["a1.subversion"] == 1000
        and data["written"]["a1.violence_obscenity"] == 1000
    )
    assert data["kept"] > 45_000
    assert {"duplicate", "cooccurrence", "single_char"} <= set(data["dropped_by_reason"])

    # 3. check
    proc = _run(env, "lexicon", "check", "--lexicons", str(staging))
    assert proc.returncode in (0, 1) and "valid" in proc.stdout, proc.stderr

    # 5 (first deployment, before the audit): the service loads it
    deployed = tmp_path / "etc" / "lexicons"
    shutil.copytree(staging, deployed)
    data_dir = tmp_path / "var"
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'lexicons = ["{deployed}"]\nadmin_token = "{TOKEN}"\ndata_dir = "{data_dir}"\n'
        f'lexicon_cache_dir = "{tmp_path / "cache"}"\n',
        encoding="utf-8",
    )
    ordinary = "十字路口交通拥堵，中国的经济在发展。"
    app = create_app(load_settings(config=config))
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as c:
        first = c.post("/moderate", json={"text": ordinary}).json()
        v1 = first["lexicon_version"]
        assert {m["term"] for m in first["matches"]} == {"口交", "中国"}  # false hits

        # 4. audit against ordinary text, and act on the suggestions
        corpus = tmp_path / "corpus.txt"
        corpus.write_text((ordinary + "\n") * 50 + "今天天气很好。\n" * 5000, encoding="utf-8")
        audit = tmp_path / "audit.json"
        proc = _run(
            env, "lexicon", "audit", str(staging), "--corpus", str(corpus), "--out", str(audit)
        )
        assert proc.returncode == 1, proc.stderr
        found = {f["term"]: f for f in json.loads(audit.read_text(encoding="utf-8"))["findings"]}
        assert found["中国"]["suggestion"] == "drop"
        assert found["口交"]["suggestion"] == "allow" and found["口交"]["allow"] == ["路口交通"]
        drop = {t for t, f in found.items() if f["suggestion"] == "drop"}
        allow = [p for f in found.values() if f["suggestion"] == "allow" for p in f["allow"]]
        for path in staging.glob("*.txt"):
            kept = [
                line
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.split("\t")[0] not in drop
            ]
            path.write_text("\n".join(kept) + "\n", encoding="utf-8")
        with (staging / "allow.txt").open("a", encoding="utf-8") as fh:
            fh.write("".join(p + "\n" for p in allow))
        proc = _run(env, "lexicon", "diff", str(deployed), str(staging))
        assert proc.returncode == 1 and "- custom\t中国" in proc.stdout

        # 5. deploy: swap the directory, reload
        deployed.rename(deployed.with_name("lexicons.prev"))
        staging.rename(deployed)
        r = c.post("/admin/reload", headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        second = c.post("/moderate", json={"text": ordinary}).json()
        v2 = second["lexicon_version"]
        assert v2 != v1 and second["matches"] == []
        real = c.post("/moderate", json={"text": "有人贴出反動標語"}).json()
        assert [m["term"] for m in real["matches"]] == ["反动标语"]

    # 6. history and diff of the two deployed versions
    proc = _run(env, "lexicon", "versions", "--data-dir", str(data_dir))
    assert proc.returncode == 0 and v1 in proc.stdout and v2 in proc.stdout
    proc = _run(env, "lexicon", "diff", v1, v2, "--data-dir", str(data_dir))
    assert proc.returncode == 1, proc.stderr
    assert "- custom\t中国" in proc.stdout and "+ allow\t路口交通" in proc.stdout
