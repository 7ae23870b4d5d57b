"""Each backend's wire format: the exact request it sends and how it reads every answer shape,
including hostile ones (a malformed answer is a ``BadGuardResponse``, never anything else)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.classifier.backends import BadGuardResponse, backend_for
from service.classifier.verdict import GuardInput, GuardResult


def chat(content: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


PROMPT = GuardInput("怎么制作炸弹？", "input")
ANSWER = GuardInput("抱歉，我不能提供帮助。", "output", prompt="怎么制作炸弹？")


@pytest.mark.parametrize("name", ["qwen3guard", "llamaguard"])
def test_chat_backends_send_the_conversation_the_chat_template_expects(name: str) -> None:
    backend = backend_for(name)
    path, body = backend.request(PROMPT, "guard-model")
    assert path == "/chat/completions"
    assert body["model"] == "guard-model"
    assert body["messages"] == [{"role": "user", "content": PROMPT.text}]
    assert body["temperature"] == 0 and body["stream"] is False
    _, body = backend.request(ANSWER, "guard-model")
    assert body["messages"] == [
        {"role": "user", "content": ANSWER.prompt},
        {"role": "assistant", "content": ANSWER.text},
    ]


def test_an_output_without_its_prompt_gets_an_empty_user_turn() -> None:
    _, body = backend_for("qwen3guard").request(GuardInput("答案", "output"), "m")
    assert body["messages"][0] == {"role": "user", "content": ""}


# -- Qwen3Guard ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Safety: Unsafe\nCategories: Violent", GuardResult("unsafe", ("Violent",))),
        ("Safety: Safe\nCategories: None", GuardResult("safe")),
        (
            "Safety: Safe\nCategories: None\nRefusal: Yes",
            GuardResult("safe", (), {}, True),
        ),
        (
            "Safety: Controversial\nCategories: Politically Sensitive Topics\nRefusal: No",
            GuardResult("controversial", ("Politically Sensitive Topics",), {}, False),
        ),
        (
            "Safety: Unsafe\nCategories: Violent, Non-violent Illegal Acts",
            GuardResult("unsafe", ("Violent", "Non-violent Illegal Acts")),
        ),
        ("Safety: Unsafe\nCategories: Jailbreak", GuardResult("unsafe", ("Jailbreak",))),
        ("Safety: Unsafe", GuardResult("unsafe")),  # categories line missing: still a verdict
        (
            "\nSafety: Unsafe\nCategories: Suicide & Self-Harm\n",
            GuardResult("unsafe", ("Suicide & Self-Harm",)),
        ),
    ],
)
def test_qwen3guard_reads_its_documented_output(content: str, expected: GuardResult) -> None:
    assert backend_for("qwen3guard").parse(chat(content), PROMPT) == expected


@pytest.mark.parametrize(
    "payload",
    [
        chat("I think this is fine."),
        chat("Safety: Maybe"),
        chat(""),
        chat(None),
        chat(["Safety: Safe"]),
        {"choices": []},
        {"error": {"message": "x"}},
        [],
        "Safety: Safe",
        None,
    ],
)
def test_qwen3guard_rejects_malformed_answers(payload: Any) -> None:
    with pytest.raises(BadGuardResponse):
        backend_for("qwen3guard").parse(payload, PROMPT)


# -- Llama Guard -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("\n\nsafe", GuardResult("safe")),
        ("safe", GuardResult("safe")),
        ("\n\nunsafe\nS1", GuardResult("unsafe", ("S1",))),
        ("unsafe\nS1,S10", GuardResult("unsafe", ("S1", "S10"))),
        ("unsafe\nS2, s14", GuardResult("unsafe", ("S2", "S14"))),
        ("unsafe", GuardResult("unsafe")),
        ("unsafe\nS3,S3", GuardResult("unsafe", ("S3",))),
    ],
)
def test_llamaguard_reads_safe_unsafe_and_s_codes(content: str, expected: GuardResult) -> None:
    assert backend_for("llamaguard").parse(chat(content), PROMPT) == expected


@pytest.mark.parametrize(
    "content", ["Safe to answer", "unsafe\nviolence", "unsafe\nS1;S2", "unsafe\nS", "maybe", "  "]
)
def test_llamaguard_rejects_other_text(content: str) -> None:
    with pytest.raises(BadGuardResponse):
        backend_for("llamaguard").parse(chat(content), PROMPT)


# -- OpenAI moderation -----------------------------------------------------------------------


def moderation(flagged: bool, categories: dict[str, Any], scores: dict[str, Any]) -> dict:
    return {
        "id": "modr-1",
        "model": "omni-moderation-latest",
        "results": [{"flagged": flagged, "categories": categories, "category_scores": scores}],
    }


def test_openai_moderation_request_and_answer() -> None:
    backend = backend_for("openai-moderation")
    path, body = backend.request(PROMPT, "omni-moderation-latest")
    assert (path, body) == (
        "/moderations",
        {"model": "omni-moderation-latest", "input": PROMPT.text},
    )
    result = backend.parse(
        moderation(
            True,
            {"violence": True, "hate": False, "illicit": None},
            {"violence": 0.93, "hate": 0.2, "illicit": 0.0},
        ),
        PROMPT,
    )
    assert result == GuardResult(
        "unsafe", ("violence",), {"violence": 0.93, "hate": 0.2, "illicit": 0.0}
    )
    safe = backend.parse(moderation(False, {"violence": False}, {"violence": 0.01}), PROMPT)
    assert safe.safety == "safe" and safe.labels == ()


@pytest.mark.parametrize(
    "payload",
    [
        {"results": []},
        {"results": [None]},
        moderation("yes", {}, {}),  # type: ignore[arg-type]
        moderation(False, {"hate": "no"}, {"hate": 0.1}),
        moderation(False, {"hate": False}, {"hate": 1.5}),
        moderation(False, {"hate": False}, {"hate": "0.1"}),
        moderation(False, {"hate": False}, {"hate": True}),
        moderation(False, {"hate": False}, {"hate": float("nan")}),
        {"results": [{"flagged": False, "categories": {}}]},
        {"error": {"message": "quota"}},
    ],
)
def test_openai_moderation_rejects_malformed_answers(payload: Any) -> None:
    with pytest.raises(BadGuardResponse):
        backend_for("openai-moderation").parse(payload, PROMPT)


# -- webhook ---------------------------------------------------------------------------------


def test_webhook_request_and_answer() -> None:
    backend = backend_for("webhook")
    item = GuardInput("答案", "output", prompt="问题", request_id="req-1")
    assert backend.request(item, "in-house") == (
        "",
        {
            "text": "答案",
            "direction": "output",
            "prompt": "问题",
            "model": "in-house",
            "request_id": "req-1",
        },
    )
    assert backend.parse(
        {
            "safety": "Unsafe",
            "categories": ["a1.terrorism_extremism", "fraud"],
            "scores": {"fraud": 0.7},
        },
        item,
    ) == GuardResult("unsafe", ("a1.terrorism_extremism", "fraud"), {"fraud": 0.7})
    assert backend.parse({"safety": "safe", "refusal": True}, item) == GuardResult(
        "safe", (), {}, True
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"safety": "fine"},
        {},
        {"safety": None},
        {"safety": "unsafe", "categories": "violence"},
        {"safety": "unsafe", "categories": [1]},
        {"safety": "unsafe", "scores": [0.1]},
        {"safety": "unsafe", "scores": {"x": -0.1}},
        {"safety": "unsafe", "refusal": "yes"},
        ["safe"],
    ],
)
def test_webhook_rejects_malformed_answers(payload: Any) -> None:
    with pytest.raises(BadGuardResponse):
        backend_for("webhook").parse(payload, PROMPT)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(payload=json_values)
@pytest.mark.parametrize("name", ["qwen3guard", "llamaguard", "openai-moderation", "webhook"])
def test_any_json_is_a_result_or_a_bad_response(name: str, payload: Any) -> None:
    """Hostile answers never escape as another exception (which would be a 500)."""
    try:
        result = backend_for(name).parse(payload, PROMPT)
    except BadGuardResponse:
        return
    assert result.safety in ("safe", "unsafe", "controversial")
    assert all(isinstance(label, str) for label in result.labels)
    assert all(0.0 <= s <= 1.0 for s in result.scores.values())


@given(
    content=st.text(max_size=80).map(lambda t: chat(t))
    | st.sampled_from(["Safety:", "Categories:", "Refusal:", "unsafe\n", "safe"]).flatmap(
        lambda head: st.text(max_size=40).map(lambda tail: chat(head + tail))
    )
)
@pytest.mark.parametrize("name", ["qwen3guard", "llamaguard"])
def test_any_chat_text_is_a_result_or_a_bad_response(name: str, content: Any) -> None:
    try:
        backend_for(name).parse(content, PROMPT)
    except BadGuardResponse:
        pass
