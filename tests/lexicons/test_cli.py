"""``aigc-gateway scan`` and ``aigc-gateway lexicon check`` through the real CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

from service.cli import main

from .helpers import ROOT, run_python, write_lexicon


def run_cli(*args: str, stdin: bytes | None = None, env: dict | None = None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AIGC_GATEWAY_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=full_env,
        timeout=60,
    )


def test_scan_file_prints_json_lines_and_exits_1(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("第一行没事。\n出售冰 毒，買賣槍支\n", encoding="utf-8")
    proc = run_cli("scan", str(path))
    assert proc.returncode == 1, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [(r["term"], r["start"], r["end"], r["text"]) for r in lines] == [
        ("冰毒", 9, 12, "冰 毒"),
        ("买卖枪支", 13, 17, "買賣槍支"),
    ]
    assert lines[0]["category"] == "a1.other_prohibited.crime_instigation"
    assert lines[0]["category_name"] == "教唆犯罪"
    assert "冰 毒" in proc.stdout.decode()  # readable: not \\u-escaped
    assert b"flagged" in proc.stderr


def test_scan_stdin_clean_exits_0():
    proc = run_cli("scan", "-", stdin="今天天气很好。".encode())
    assert proc.returncode == 0
    assert proc.stdout == b""


def test_scan_errors_exit_2(tmp_path):
    assert run_cli("scan", str(tmp_path / "missing.txt")).returncode == 2
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"abc\xff")
    proc = run_cli("scan", str(bad))
    assert proc.returncode == 2 and b"UTF-8" in proc.stderr
    lex = write_lexicon(tmp_path / "lex", {"custom.txt": "x\taction=nuke\n"})
    proc = run_cli("scan", "--lexicons", str(lex), str(bad))
    assert proc.returncode == 2
    assert b"custom.txt:1" in proc.stderr


def test_scan_large_input_across_read_chunks_with_env_lexicons(tmp_path):
    lex = write_lexicon(tmp_path / "lex", {"custom.txt": "苹果手机\n"})
    filler = "普通的文字。" * 20_000  # > 64 KiB, so the term straddles read chunks
    path = tmp_path / "big.txt"
    path.write_text(filler + "苹果\u200b手机" + filler, encoding="utf-8")
    proc = run_cli("scan", str(path), env={"AIGC_GATEWAY_LEXICONS": str(lex)})
    assert proc.returncode == 1
    (row,) = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert (row["start"], row["end"]) == (len(filler), len(filler) + 5)


def test_scan_in_process(tmp_path, capsys):
    path = tmp_path / "in.txt"
    path.write_text("卖白粉", encoding="utf-8")
    assert main(["scan", str(path)]) == 1
    assert json.loads(capsys.readouterr().out)["term"] == "白粉"


def test_lexicon_check_reports_floors_and_exports_csv(tmp_path):
    out = tmp_path / "terms.csv"
    proc = run_cli("lexicon", "check", "--csv", str(out))
    assert proc.returncode == 1  # the sample lexicon is far below the §8.1 floors
    text = proc.stdout.decode()
    assert "a1.terrorism_extremism" in text and "BELOW" in text and "NOT MET" in text
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert {"risk", "category", "term"} <= set(rows[0])
    assert any(r["term"] == "冰毒" and r["risk"] == "a1.other_prohibited" for r in rows)


def test_lexicon_check_floors_met_exits_0(tmp_path):
    files = {}
    n = 0
    for cat in (
        "subversion",
        "national_security",
        "separatism",
        "terrorism_extremism",
        "ethnic_hatred",
        "violence_obscenity",
        "false_harmful_info",
        "other_prohibited",
    ):
        files[f"a1.{cat}.txt"] = "".join(f"词{n + i}\n" for i in range(1300))
        n += 1300
    for cat in (
        "ethnicity",
        "belief",
        "nationality",
        "region",
        "gender",
        "age",
        "occupation",
        "health",
        "other",
    ):
        files[f"a2.{cat}.txt"] = "".join(f"词{n + i}\n" for i in range(100))
        n += 100
    lex = write_lexicon(tmp_path / "lex", files)
    proc = run_cli("lexicon", "check", "--lexicons", str(lex))
    assert proc.returncode == 0, proc.stdout.decode()
    assert "MET" in proc.stdout.decode()


def test_lexicon_check_invalid_exits_2(tmp_path):
    lex = write_lexicon(tmp_path / "lex", {"custom.txt": "ok\nbad\tmatch=maybe\n"})
    proc = run_cli("lexicon", "check", "--lexicons", str(lex))
    assert proc.returncode == 2
    assert b"custom.txt:2" in proc.stderr and b"invalid match" in proc.stderr


def test_scan_imports_only_what_it_needs(tmp_path):
    """The CLI imports the module of the command it runs, not the web stack (issue 14).
    jieba loads only when a hit across a visible separator needs a word-boundary judgement."""
    path = tmp_path / "in.txt"
    path.write_text("出售冰毒", encoding="utf-8")
    code = (
        "import sys\n"
        "from service.cli import main\n"
        f"status = main(['scan', {str(path)!r}])\n"
        "heavy = {'fastapi', 'starlette', 'uvicorn', 'aiohttp', 'httpx', 'pydantic', "
        "'pydantic_settings', 'jieba', 'opencc', 'pypinyin', 'labelers', 'benchmarks'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}), status)\n"
    )
    proc = run_python(code, timeout=60)
    assert proc.stdout.strip().splitlines()[-1] == "[] 1", proc.stderr


def test_scan_from_the_cache_loads_only_what_a_one_shot_scan_needs(tmp_path):
    """With the compiled lexicon cached, ``scan`` parses no TOML, writes no CSV, leaves the
    stream-only pyahocorasick automaton pickled, and runs no idle BLAS worker threads (numpy's
    OpenBLAS starts one per CPU unless told otherwise; they spin for ~0.1 s of CPU)."""
    path = tmp_path / "in.txt"
    path.write_text("出售冰毒。" + "今天天气很好。" * 5000, encoding="utf-8")  # a one-shot piece
    code = (
        "import os, sys\n"
        "from service.cli import main\n"
        f"status = main(['scan', {str(path)!r}])\n"
        "tasks = len(os.listdir('/proc/self/task')) if os.path.isdir('/proc/self/task') else 1\n"
        "loaded = {'ahocorasick', 'tomllib', 'csv'} & {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(loaded), 'numpy' in sys.modules, tasks, status)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGC_GATEWAY_")}
    env.pop("OPENBLAS_NUM_THREADS", None)
    env["AIGC_GATEWAY_LEXICON_CACHE_DIR"] = str(tmp_path / "cache")
    run_python(code, env)  # the first run compiles the lexicon into the cache
    cached = run_python(code, env)
    assert cached.stdout.strip().splitlines()[-1] == "[] True 1 1", cached


def test_scan_exits_with_its_status_and_complete_output(tmp_path):
    """The scan process ends without the interpreter's teardown: its output must be whole."""
    path = tmp_path / "in.txt"
    path.write_text("卖白粉。" * 3000, encoding="utf-8")
    proc = run_cli("scan", str(path))
    assert proc.returncode == 1
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(rows) == 3000 and rows[-1]["start"] == 4 * 2999 + 1
    assert proc.stderr.decode().startswith("flagged: 3000 match(es)")


def test_help_lists_every_command_without_importing_them():
    code = (
        "import sys, contextlib, io\n"
        "from service.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('service.commands', 'lexicons'))))\n"
        "print(buf.getvalue())\n"
    )
    proc = run_python(code, timeout=60)
    first, *help_text = proc.stdout.splitlines()
    assert first == "[]"
    for command in ("serve", "scan", "lexicon", "label", "inspect", "records", "bench"):
        assert any(line.strip().startswith(command) for line in help_text), command
