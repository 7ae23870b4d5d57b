"""The default mappings point at real TC260-003 risks of the bundled taxonomy."""

from __future__ import annotations

from pathlib import Path

import lexicons
from lexicons.taxonomy import Taxonomy, load_taxonomy_file
from service.classifier import DEFAULT_CATEGORIES, TC260_RISKS, risks_for
from service.classifier.demo_guard import CATEGORY_LABELS

TAXONOMY = Taxonomy(load_taxonomy_file(Path(lexicons.__file__).parent / "data" / "categories.toml"))


def test_the_31_risks_are_the_bundled_appendix_a_risks() -> None:
    appendix_a = [c.id for c in TAXONOMY if c.parent in ("a1", "a2", "a3", "a4", "a5")]
    assert len(TC260_RISKS) == 31
    assert sorted(TC260_RISKS) == sorted(appendix_a)


def test_every_default_target_is_a_risk_or_the_injection_policy_category() -> None:
    for backend, mapping in DEFAULT_CATEGORIES.items():
        for label, risks in mapping.items():
            assert risks, (backend, label)
            for risk in risks:
                assert risk in TC260_RISKS or risk == "x.injection", (backend, label, risk)
                assert risk in TAXONOMY


def test_documented_label_sets_are_all_mapped() -> None:
    qwen = {
        "Violent",
        "Non-violent Illegal Acts",
        "Sexual Content or Sexual Acts",
        "PII",
        "Suicide & Self-Harm",
        "Unethical Acts",
        "Politically Sensitive Topics",
        "Copyright Violation",
        "Jailbreak",
    }
    assert set(DEFAULT_CATEGORIES["qwen3guard"]) == qwen
    assert set(DEFAULT_CATEGORIES["llamaguard"]) == {f"S{i}" for i in range(1, 15)}
    from service.classifier.demo_guard import OPENAI_CATEGORIES

    assert set(DEFAULT_CATEGORIES["openai-moderation"]) == set(OPENAI_CATEGORIES)
    # the demo guard only speaks labels the mappings know
    for qwen_label, code, openai_label, tc260 in CATEGORY_LABELS.values():
        assert qwen_label in qwen and code in DEFAULT_CATEGORIES["llamaguard"]
        assert openai_label is None or openai_label in OPENAI_CATEGORIES
        assert tc260 in TAXONOMY


def test_overrides_win_and_unknown_labels_map_to_nothing() -> None:
    assert risks_for("llamaguard", "S1", {"S1": ["a1.subversion"]}) == ("a1.subversion",)
    assert risks_for("llamaguard", "S1", {"S1": []}) == ()
    assert risks_for("qwen3guard", "Something New") == ()
    assert risks_for("webhook", "a2.gender") == ("a2.gender",)
    assert risks_for("webhook", "Gender Bias") == ()
