"""Default mapping of each backend's categories onto the TC260-003 Appendix A risk ids.

The ids are those of ``lexicons/data/categories.toml`` (the 31 risks ``a1.*`` .. ``a5.*``;
``x.injection`` for jailbreak attempts, a policy category that is not a legal risk). A
backend label may map to several risks when its definition spans them; the mapping says
which TC260 risks a verdict is *evidence* of (records, metrics, the assessment), while the
stage's action comes from the verdict's safety level. ``[classifier] categories`` overrides
any entry (label -> list of ids); a label mapped to ``[]`` is reported without a risk.

Sources of the labels (see docs/classifier.md for citations): Qwen3Guard's safety policy in
its model card/README; Llama Guard 3 and 4 hazard categories S1-S14 in their model cards;
OpenAI's 13 moderation categories. The webhook backend maps a label that is already a risk
or category id onto itself.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DEFAULT_CATEGORIES", "OPENAI_CATEGORIES", "TC260_RISKS", "risks_for"]

# TC260-003 Appendix A: A.1 (8), A.2 (9), A.3 (5), A.4 (7), A.5 (2) = 31 risks.
TC260_RISKS: tuple[str, ...] = (
    "a1.subversion",
    "a1.national_security",
    "a1.separatism",
    "a1.terrorism_extremism",
    "a1.ethnic_hatred",
    "a1.violence_obscenity",
    "a1.false_harmful_info",
    "a1.other_prohibited",
    "a2.ethnicity",
    "a2.belief",
    "a2.nationality",
    "a2.region",
    "a2.gender",
    "a2.age",
    "a2.occupation",
    "a2.health",
    "a2.other",
    "a3.ip_infringement",
    "a3.business_ethics",
    "a3.trade_secrets",
    "a3.monopoly_unfair_competition",
    "a3.other_commercial",
    "a4.physical_mental_health",
    "a4.portrait",
    "a4.reputation",
    "a4.honor",
    "a4.privacy",
    "a4.personal_info",
    "a4.other_rights",
    "a5.inaccurate",
    "a5.unreliable",
)

_QWEN3GUARD: dict[str, tuple[str, ...]] = {
    "Violent": ("a1.violence_obscenity",),
    "Non-violent Illegal Acts": ("a1.other_prohibited",),
    "Sexual Content or Sexual Acts": ("a1.violence_obscenity",),
    "PII": ("a4.personal_info", "a4.privacy"),
    "Suicide & Self-Harm": ("a4.physical_mental_health",),
    # bias, discrimination, hate speech, insults, defamation, extremism (model card)
    "Unethical Acts": ("a2.other", "a4.reputation"),
    # false information about government actions, historical events or public figures
    "Politically Sensitive Topics": ("a1.false_harmful_info", "a1.national_security"),
    "Copyright Violation": ("a3.ip_infringement",),
    "Jailbreak": ("x.injection",),
}

# Llama Guard 3 (1B, 8B) and Llama Guard 4 share the S1-S14 hazard codes (MLCommons taxonomy).
_LLAMAGUARD: dict[str, tuple[str, ...]] = {
    "S1": ("a1.violence_obscenity", "a1.terrorism_extremism"),  # violent crimes, terrorism
    "S2": ("a1.other_prohibited",),  # non-violent crimes: fraud, drugs, weapons, hacking
    "S3": ("a1.violence_obscenity",),  # sex-related crimes
    "S4": ("a1.violence_obscenity", "a4.physical_mental_health"),  # child sexual exploitation
    "S5": ("a4.reputation",),  # defamation
    "S6": ("a5.inaccurate", "a5.unreliable"),  # specialized financial/medical/legal advice
    "S7": ("a4.privacy", "a4.personal_info"),
    "S8": ("a3.ip_infringement",),
    "S9": ("a1.other_prohibited", "a1.violence_obscenity"),  # indiscriminate weapons
    "S10": ("a1.ethnic_hatred", "a2.other"),  # hate on protected characteristics
    "S11": ("a4.physical_mental_health",),  # suicide and self-harm
    "S12": ("a1.violence_obscenity",),  # sexual content
    "S13": ("a1.false_harmful_info",),  # election misinformation
    "S14": ("a1.other_prohibited",),  # code interpreter abuse (cyber attacks)
}

_OPENAI: dict[str, tuple[str, ...]] = {
    "harassment": ("a4.reputation",),
    "harassment/threatening": ("a4.reputation", "a4.physical_mental_health"),
    "hate": ("a1.ethnic_hatred", "a2.other"),
    "hate/threatening": ("a1.ethnic_hatred", "a2.other"),
    "illicit": ("a1.other_prohibited",),
    "illicit/violent": ("a1.other_prohibited", "a1.violence_obscenity"),
    "self-harm": ("a4.physical_mental_health",),
    "self-harm/intent": ("a4.physical_mental_health",),
    "self-harm/instructions": ("a4.physical_mental_health",),
    "sexual": ("a1.violence_obscenity",),
    "sexual/minors": ("a1.violence_obscenity",),
    "violence": ("a1.violence_obscenity",),
    "violence/graphic": ("a1.violence_obscenity",),
}
OPENAI_CATEGORIES: tuple[str, ...] = tuple(_OPENAI)  # the 13 of omni-moderation, in its order

DEFAULT_CATEGORIES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "qwen3guard": _QWEN3GUARD,
    "llamaguard": _LLAMAGUARD,
    "openai-moderation": _OPENAI,
    "webhook": {},
}

_CATEGORY_ID_ROOTS = ("a1", "a2", "a3", "a4", "a5", "x", "custom")


def risks_for(
    backend: str, label: str, overrides: Mapping[str, list[str]] | None = None
) -> tuple[str, ...]:
    """The risk ids of one backend label: the override, else the default, else ``()``.

    A label that is itself a category id (``a1.terrorism_extremism``, ``x.injection``, ...)
    maps onto itself when nothing else is known (webhooks that speak our ids).
    """
    if overrides and label in overrides:
        return tuple(overrides[label])
    known = DEFAULT_CATEGORIES.get(backend, {}).get(label)
    if known is not None:
        return known
    if label.split(".", 1)[0] in _CATEGORY_ID_ROOTS and label == label.lower() and " " not in label:
        return (label,)
    return ()
