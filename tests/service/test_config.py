"""Settings: defaults < TOML file < environment < CLI flags, with clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.cli import build_parser
from service.commands.serve import _overrides
from service.config import ConfigError, load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_settings()
    assert (s.host, s.port, s.workers, s.upstream, s.lexicons) == ("127.0.0.1", 8080, 1, None, [])
    assert s.database.startswith("sqlite:") and "var" in s.database
    assert s.cache_dir == Path("var") / "lexicon-cache"


def test_precedence_file_env_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(
        tmp_path / "g.toml",
        f'port = 9001\nhost = "0.0.0.0"\nworkers = 3\nlexicons = ["{tmp_path}"]\n'
        "[proxy]\ntimeout_s = 5\n[limits]\nmax_text_chars = 50\n",
    )
    monkeypatch.setenv("AIGC_GATEWAY_CONFIG", str(cfg))
    monkeypatch.setenv("AIGC_GATEWAY_PORT", "9002")
    monkeypatch.setenv("AIGC_GATEWAY_PROXY__CONNECT_TIMEOUT_S", "2.5")
    s = load_settings(workers=4)
    assert s.host == "0.0.0.0"  # file
    assert s.port == 9002  # env beats file
    assert s.workers == 4  # flag beats both
    assert s.proxy.timeout_s == 5 and s.proxy.connect_timeout_s == 2.5  # sections merge
    assert s.limits.max_text_chars == 50
    assert s.lexicons == [tmp_path]


def test_lexicons_env_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.setenv("AIGC_GATEWAY_LEXICONS", f"{a}{os.pathsep}{b}")
    assert load_settings().lexicons == [a, b]
    monkeypatch.setenv("AIGC_GATEWAY_LEXICONS", f'["{a}"]')
    assert load_settings().lexicons == [a]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = 'eighty'\n", "port: Input should be a valid integer"),
        ("port = 70000\n", "port: Input should be less than or equal to 65535"),
        ("prot = 8080\n", "prot: Extra inputs are not permitted"),
        ("[limits]\nmax_text_chars = 0\n", "limits.max_text_chars"),
        ("[policy.input]\n'a1' = 'nuke'\n", "policy.input.a1"),
        ("[[tenants]]\nid = 'Bad Id'\n", "tenants.0.id"),
        ("port = \n", "not valid TOML"),
    ],
)
def test_file_errors_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    cfg = write(tmp_path / "g.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(config=cfg)
    assert message in str(info.value)
    assert str(cfg) in str(info.value)


def test_env_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGC_GATEWAY_WORKERS", "0")
    with pytest.raises(ConfigError, match="workers: Input should be greater than or equal to 1"):
        load_settings()


def test_admin_token_rules() -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        load_settings(admin_token="short")
    assert load_settings(admin_token="short", demo=True).demo is True
    s = load_settings(admin_token="x" * 16)
    assert "x" * 16 not in repr(s)  # kept as a secret


def test_cli_flags_become_overrides(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--port",
            "9",
            "--lexicons",
            str(tmp_path),
            "--lexicons",
            str(tmp_path),
            "--demo",
            "--admin-token",
            "t" * 16,
        ]
    )
    over = _overrides(args)
    assert over == {
        "port": 9,
        "lexicons": [tmp_path, tmp_path],
        "demo": True,
        "admin_token": "t" * 16,
    }
    assert args.func.__name__ == "run"


def test_reloaded_reads_the_file_again(tmp_path: Path) -> None:
    cfg = write(tmp_path / "g.toml", "port = 9001\n")
    s = load_settings(config=cfg, host="0.0.0.0")
    write(cfg, "port = 9005\n")
    again = s.reloaded()
    assert (again.port, again.host) == (9005, "0.0.0.0")


def test_demo_labels_carry_well_formed_provider_codes() -> None:
    """In --demo the proxy's and /label's records name a valid (all-zero subject) code."""
    from labelers import LabelRecord, check_provider_code

    s = load_settings(demo=True)
    assert check_provider_code(s.labels.producer_code, role="producer") == []
    assert check_provider_code(s.labels.propagator_code, role="propagator") == []
    LabelRecord(label="1", content_producer=s.labels.producer_code, produce_id="x")
    assert load_settings().labels.producer_code == ""  # never outside demo
    configured = load_settings(demo=True, labels={"producer_code": "001191110108MA01C5XT0100000"})
    assert configured.labels.producer_code == "001191110108MA01C5XT0100000"
