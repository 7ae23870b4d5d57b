"""``[classifier]``: every Contract key from the environment and the TOML file, tenant
overrides, and clear errors for incomplete settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.classifier import ClassifierSettings, TenantClassifier, resolve
from service.classifier.stage import ClassifierStage
from service.config import ConfigError, load_settings
from service.tenants import Tenant

CONTRACT_KEYS = ("backend", "url", "model", "api_key", "mode", "stream_mode", "fail", "timeout_s")


def test_every_contract_key_is_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "BACKEND": "llamaguard",
        "URL": "http://127.0.0.1:8000/v1/",
        "MODEL": "meta-llama/Llama-Guard-3-8B",
        "API_KEY": "sk-guard-secret",
        "MODE": "before",
        "STREAM_MODE": "async",
        "FAIL": "open",
        "TIMEOUT_S": "2.5",
        "THRESHOLDS": '{"S1": 0.4}',
        "CATEGORIES": '{"S13": ["a1.false_harmful_info", "a1.national_security"]}',
    }
    assert {k.lower() for k in env} >= set(CONTRACT_KEYS)
    for key, value in env.items():
        monkeypatch.setenv(f"AIGC_GATEWAY_CLASSIFIER__{key}", value)
    c = load_settings().classifier
    assert c.backend == "llamaguard"
    assert c.url == "http://127.0.0.1:8000/v1"
    assert c.model == "meta-llama/Llama-Guard-3-8B"
    assert c.api_key is not None and c.api_key.get_secret_value() == "sk-guard-secret"
    assert "sk-guard-secret" not in repr(c)
    assert (c.mode, c.stream_mode, c.fail, c.timeout_s) == ("before", "async", "open", 2.5)
    assert c.thresholds == {"S1": 0.4}
    assert c.categories["S13"] == ["a1.false_harmful_info", "a1.national_security"]


def test_defaults_no_backend_means_no_stage() -> None:
    c = load_settings().classifier
    assert c.backend is None
    assert (c.mode, c.stream_mode, c.fail, c.controversial) == (
        "parallel",
        "hold",
        "closed",
        "flag",
    )
    assert resolve(c, None) is None


def test_toml_section_and_tenant_overrides(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        """
[classifier]
backend = "qwen3guard"
url = "http://127.0.0.1:8000/v1"
model = "Qwen/Qwen3Guard-Gen-4B"
controversial = "flag"
thresholds = { "*" = 0.5 }

[[tenants]]
id = "strict"
[tenants.classifier]
controversial = "block"
mode = "before"
thresholds = { "Violent" = 0.2 }

[[tenants]]
id = "internal"
[tenants.classifier]
enabled = false

[[tenants]]
id = "own-guard"
[tenants.classifier]
backend = "webhook"
url = "https://guard.example.internal/check"
fail = "open"
""",
        encoding="utf-8",
    )
    s = load_settings(config=config)
    base = s.classifier
    by_id = {t.id: t for t in s.tenants}
    strict = resolve(base, by_id["strict"].classifier)
    assert strict is not None
    assert (strict.backend, strict.controversial, strict.mode) == ("qwen3guard", "block", "before")
    assert strict.thresholds == {"*": 0.5, "Violent": 0.2}  # merged key by key
    assert resolve(base, by_id["internal"].classifier) is None
    own = resolve(base, by_id["own-guard"].classifier)
    assert own is not None and (own.backend, own.url, own.fail) == (
        "webhook",
        "https://guard.example.internal/check",
        "open",
    )
    stage = ClassifierStage(base)
    assert stage.settings_for(by_id["internal"]) is None
    assert stage.settings_for(by_id["strict"], "prompts") is not None


def test_where_the_stage_runs_can_be_narrowed_per_tenant() -> None:
    base = ClassifierSettings(backend="qwen3guard", url="http://127.0.0.1:9/v1", model="m")
    tenant = Tenant(id="t", classifier=TenantClassifier(outputs=False, moderate=False))
    stage = ClassifierStage(base)
    assert stage.settings_for(tenant, "prompts") is not None
    assert stage.settings_for(tenant, "outputs") is None
    assert stage.settings_for(tenant, "moderate") is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"backend": "qwen3guard"}, "needs 'url'"),
        ({"backend": "llamaguard", "url": "http://h/v1"}, "needs 'model'"),
        ({"backend": "qwen3guard", "url": "ftp://h/v1", "model": "m"}, "http:// or https://"),
        ({"backend": "bert"}, "backend"),
        ({"backend": "webhook", "url": "http://h/x", "thresholds": {"a": 1.5}}, "within [0, 1]"),
        (
            {"backend": "webhook", "url": "http://h/x", "categories": {"a": ["Not An Id"]}},
            "not a risk id",
        ),
        ({"timeout_s": 0}, "timeout_s"),
        ({"fail": "sometimes"}, "fail"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_settings_are_named(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="classifier") as info:
        load_settings(classifier=values)
    assert message in str(info.value)


def test_a_tenant_override_that_leaves_a_backend_incomplete_is_refused() -> None:
    with pytest.raises(ConfigError, match="tenant 'x' classifier: .*needs 'url'"):
        load_settings(tenants=[{"id": "x", "classifier": {"backend": "webhook"}}])


def test_openai_moderation_has_a_default_model() -> None:
    c = ClassifierSettings(backend="openai-moderation", url="https://api.openai.com/v1")
    assert c.effective_model == "omni-moderation-latest"
