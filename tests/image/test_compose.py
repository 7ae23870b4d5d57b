"""compose.yaml: the services exist and the gateway's environment is a valid configuration."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service.config import load_settings

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_services(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"gateway", "postgres", "demo-upstream"}
    assert services["gateway"]["build"] == "."
    assert services["gateway"]["ports"] == ["127.0.0.1:8080:8080"]  # loopback only
    assert services["gateway"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["healthcheck"]["test"][0] == "CMD-SHELL"


def test_gateway_environment_is_a_valid_configuration(
    compose: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = compose["services"]["gateway"]["environment"]
    for name, value in env.items():
        value = re.sub(r"\$\{[^}]*\}", "compose-admin-token-0123456789", str(value))
        monkeypatch.setenv(name, value)
    settings = load_settings(data_dir=tmp_path)
    assert settings.database.startswith("postgresql://aigc:")
    assert settings.upstream == "http://demo-upstream:8001"
    assert settings.labels.producer_code and settings.workers == 2
    password = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert f":{password}@postgres:5432/" in settings.database


def test_demo_upstream_command(compose: dict) -> None:
    entry = compose["services"]["demo-upstream"]["entrypoint"]
    assert entry[:3] == ["python", "-m", "service.demo_upstream"]
    out = subprocess.run([sys.executable, *entry[1:3], "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--host" in out.stdout and "--port" in out.stdout
