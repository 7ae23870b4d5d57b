"""The tenant's verdict policy (thresholds, mapping, "Controversial") and the combining rule."""

from __future__ import annotations

import pytest

from service.classifier import ClassifierSettings, GuardResult, combine, decide, unavailable


def cfg(backend: str = "qwen3guard", **extra: object) -> ClassifierSettings:
    return ClassifierSettings(backend=backend, url="http://127.0.0.1:9/v1", model="m", **extra)


def test_unsafe_blocks_and_maps_to_tc260_risks() -> None:
    v = decide(GuardResult("unsafe", ("Violent", "PII")), cfg(), direction="input")
    assert v.action == "block" and v.unsafe and v.flagged
    assert v.risks == ("a1.violence_obscenity", "a4.personal_info", "a4.privacy")
    assert v.labels == ("Violent", "PII")


def test_llamaguard_codes_map_to_risks() -> None:
    v = decide(GuardResult("unsafe", ("S1", "S10")), cfg("llamaguard"), direction="output")
    assert v.risks == (
        "a1.violence_obscenity",
        "a1.terrorism_extremism",
        "a1.ethnic_hatred",
        "a2.other",
    )
    assert v.direction == "output"


@pytest.mark.parametrize(
    ("policy", "action"), [("block", "block"), ("flag", "flag"), ("allow", "allow")]
)
def test_controversial_follows_the_tenant_policy(policy: str, action: str) -> None:
    result = GuardResult("controversial", ("Politically Sensitive Topics",))
    v = decide(result, cfg(controversial=policy), direction="input")
    assert v.action == action and v.safety == "controversial"
    assert "a1.false_harmful_info" in v.risks


def test_default_controversial_policy_is_flag() -> None:
    assert decide(GuardResult("controversial"), cfg(), direction="input").action == "flag"


def test_mapping_override_replaces_a_label_and_adds_unknown_ones() -> None:
    settings = cfg(
        categories={"Violent": ["a1.terrorism_extremism"], "Fraud": ["a1.other_prohibited"]}
    )
    v = decide(GuardResult("unsafe", ("Violent", "Fraud", "Unknown")), settings, direction="input")
    assert v.risks == ("a1.terrorism_extremism", "a1.other_prohibited")
    assert v.labels == ("Violent", "Fraud", "Unknown")  # unmapped labels are still reported


def test_openai_thresholds_decide_both_ways() -> None:
    result = GuardResult("unsafe", ("violence",), {"violence": 0.6, "hate": 0.35, "sexual": 0.01})
    # OpenAI flagged violence; a 0.7 threshold un-flags it, a 0.3 threshold on hate flags hate
    v = decide(
        result,
        cfg("openai-moderation", thresholds={"violence": 0.7, "hate": 0.3}),
        direction="input",
    )
    assert v.labels == ("hate",) and v.action == "block"
    assert v.risks == ("a1.ethnic_hatred", "a2.other")
    v = decide(result, cfg("openai-moderation", thresholds={"violence": 0.7}), direction="input")
    assert v.action == "allow" and v.safety == "safe" and v.risks == ()
    # "*" applies to every scored label without its own threshold
    v = decide(result, cfg("openai-moderation", thresholds={"*": 0.3}), direction="input")
    assert set(v.labels) == {"violence", "hate"}
    # no thresholds: OpenAI's own flags stand
    v = decide(result, cfg("openai-moderation"), direction="input")
    assert v.labels == ("violence",)
    # a threshold exactly at the score flags it
    v = decide(result, cfg("openai-moderation", thresholds={"hate": 0.35}), direction="input")
    assert "hate" in v.labels


def test_webhook_thresholds_only_tighten() -> None:
    result = GuardResult("safe", (), {"fraud": 0.8})
    v = decide(
        result,
        cfg("webhook", thresholds={"fraud": 0.5}, categories={"fraud": ["a1.other_prohibited"]}),
        direction="input",
    )
    assert v.action == "block" and v.risks == ("a1.other_prohibited",)
    # a webhook's own unsafe verdict stands even when a threshold is not reached
    v = decide(
        GuardResult("unsafe", ("fraud",), {"fraud": 0.2}),
        cfg("webhook", thresholds={"fraud": 0.5}),
        direction="input",
    )
    assert v.safety == "unsafe" and v.action == "block"


def test_webhook_labels_that_are_category_ids_map_onto_themselves() -> None:
    v = decide(
        GuardResult("unsafe", ("a1.terrorism_extremism", "x.injection", "Fraud")),
        cfg("webhook"),
        direction="input",
    )
    assert v.risks == ("a1.terrorism_extremism", "x.injection")


@pytest.mark.parametrize(
    ("fail", "fail_output", "direction", "action"),
    [
        ("closed", None, "input", "block"),
        ("closed", None, "output", "block"),
        ("open", None, "input", "allow"),
        ("closed", "open", "output", "allow"),
        ("closed", "open", "input", "block"),
        ("open", "closed", "output", "block"),
    ],
)
def test_unavailable_follows_the_fail_mode(
    fail: str, fail_output: str | None, direction: str, action: str
) -> None:
    v = unavailable(cfg(fail=fail, fail_output=fail_output), direction=direction, error="timeout")
    assert v.action == action and v.safety is None and v.error == "timeout"


@pytest.mark.parametrize(
    ("lexicon", "classifier", "combined"),
    [
        ("allow", "allow", "allow"),
        ("allow", "flag", "flag"),
        ("allow", "block", "block"),
        ("mask", "flag", "mask"),
        ("mask", "block", "block"),
        ("block", "allow", "block"),
        ("flag", "allow", "flag"),
    ],
)
def test_combining_rule_takes_the_stricter_action(
    lexicon: str, classifier: str, combined: str
) -> None:
    verdict = decide(
        GuardResult({"allow": "safe", "flag": "controversial", "block": "unsafe"}[classifier]),
        cfg(),
        direction="input",
    )
    assert combine(lexicon, verdict) == combined
    assert combine(lexicon, None) == lexicon


def test_verdict_dict_shape() -> None:
    v = decide(GuardResult("unsafe", ("Violent",)), cfg(), direction="input", latency_ms=12.3456)
    assert v.to_dict() == {
        "action": "block",
        "safety": "unsafe",
        "risks": ["a1.violence_obscenity"],
        "labels": ["Violent"],
        "scores": {},
        "refusal": None,
        "direction": "input",
        "backend": "qwen3guard",
        "model": "m",
        "cached": False,
        "latency_ms": 12.346,
        "error": None,
    }
