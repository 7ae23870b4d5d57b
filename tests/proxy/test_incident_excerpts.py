"""The masked excerpt the proxy stores with each incident (``service/proxy/recording.py``).

An incident's ``offsets`` point into the masked texts of its direction that had hits, joined
by a zero-width space (one text: into that text), and ``excerpt`` is the window of that
joined text ``service.excerpt`` defines. The excerpt never holds a masked or blocked term: each
span ``excerpt_spans`` gives is all ``*`` for such a term. Checked through the real gateway
(records read back through the admin export) and, for any text and any split, on the
screening units themselves.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lexicons import load_lexicon
from service.excerpt import excerpt_spans, incident_excerpt
from service.proxy.decisions import ALL
from service.proxy.slots import Slots
from service.proxy.walker import Walk
from tests.support.fake_upstream import FakeUpstream
from tests.support.lexicon import BLOCK, FLAG, MASK

from . import scripts
from .test_relay_units import ALPHABET, cuts, relay, run

TOKEN = "admin-token-for-excerpt-tests-0123456789"
ZWSP = "\u200b"


def incidents(base: str) -> list[dict]:
    export = httpx.get(
        base + "/admin/export",
        params={"format": "jsonl", "kind": "incident"},
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    assert export.status_code == 200, export.text
    return [orjson.loads(line) for line in export.text.splitlines() if line.strip()]


def assert_masked(rec: dict) -> None:
    """Every masked or blocked term's span in the excerpt is ``*``; no such term is in it."""
    spans = excerpt_spans(rec["excerpt"], rec["offsets"])
    assert len(spans) == len(rec["terms"])
    for (a, b), term in zip(spans, rec["terms"], strict=True):
        if term in (BLOCK, MASK):
            assert rec["excerpt"][a:b] == "*" * len(term), (rec["excerpt"], a, b)
        else:
            assert rec["excerpt"][a:b] == term
    assert BLOCK not in rec["excerpt"] and MASK not in rec["excerpt"]


def test_blocked_prompt_excerpt(make_gateway: Any, fake: FakeUpstream) -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "你是一个乐于助人的助手。"},
            {"role": "user", "content": f"请告诉我{BLOCK}，越详细越好"},
            {"role": "user", "content": f"顺便说说{MASK}和{FLAG}"},
        ],
    }
    with make_gateway(admin_token=TOKEN) as base:
        r = httpx.post(base + "/v1/chat/completions", json=body)
        assert r.status_code == 400, r.text
        (rec,) = incidents(base)
    assert fake.requests == []  # nothing reached the model
    assert (rec["direction"], rec["action"]) == ("input", "block")
    # The texts of the request, joined as they were scanned, the terms masked (not the flag).
    joined = ZWSP.join(m["content"] for m in body["messages"])
    masked = joined.replace(BLOCK, "*" * len(BLOCK)).replace(MASK, "*" * len(MASK))
    assert rec["terms"] == [BLOCK, MASK, FLAG]
    assert rec["offsets"] == [
        [joined.index(t), joined.index(t) + len(t)] for t in (BLOCK, MASK, FLAG)
    ]
    assert rec["excerpt"] == incident_excerpt(masked, rec["offsets"])
    assert rec["excerpt"].startswith("你是一个乐于助人的助手。" + ZWSP + "请告诉我*****")
    assert_masked(rec)


def test_blocked_streamed_answer_excerpt(make_gateway: Any, fake: FakeUpstream) -> None:
    before = "好的，下面是关于这个问题的回答。" * 4  # longer than the excerpt's context
    fake.stream(
        "/v1/chat/completions",
        scripts.chat_stream([before, BLOCK[:2], BLOCK[2:] + "的具体步骤", "如下：第一步"]),
    )
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "你好"}]}
    with make_gateway(admin_token=TOKEN) as base:
        with httpx.stream("POST", base + "/v1/chat/completions", json=body) as s:
            seen = s.read().decode()
        (rec,) = incidents(base)
    assert BLOCK not in seen and "content_filter" in seen
    assert (rec["direction"], rec["action"], rec["terms"]) == ("output", "block", [BLOCK])
    start = len(before)
    assert rec["offsets"] == [[start, start + len(BLOCK)]]
    # 40 characters of context before the term, the term masked, and what followed it as far
    # as it was screened (deltas that arrive together are screened together; what came after
    # them was never screened nor kept).
    after = "的具体步骤如下：第一步"
    assert rec["excerpt"].startswith(before[-40:] + "*" * len(BLOCK) + after[:5])
    assert (before[-40:] + "*" * len(BLOCK) + after).startswith(rec["excerpt"])
    assert_masked(rec)


def test_masked_whole_answer_and_prompt_excerpts(make_gateway: Any, fake: FakeUpstream) -> None:
    fake.json("/v1/chat/completions", scripts.chat_json(f"答案里有{MASK}，也有{FLAG}。"))
    body = {"model": "m", "messages": [{"role": "user", "content": f"问题里有{FLAG}"}]}
    with make_gateway(admin_token=TOKEN) as base:
        r = httpx.post(base + "/v1/chat/completions", json=body)
        assert r.status_code == 200 and MASK not in r.text
        found = {rec["direction"]: rec for rec in incidents(base)}
    assert found["input"]["excerpt"] == f"问题里有{FLAG}"
    assert found["input"]["offsets"] == [[4, 4 + len(FLAG)]]
    assert found["output"]["excerpt"] == f"答案里有{'*' * len(MASK)}，也有{FLAG}。"
    for rec in found.values():
        assert_masked(rec)


# --- the units, for any text ------------------------------------------------------------------

TEXTS = st.lists(st.lists(ALPHABET, max_size=5).map("".join), min_size=1, max_size=5)


def expected_screen(lexicon: Any, screen: Any, joined: str) -> tuple[str, list[tuple[int, int]]]:
    matches = lexicon.scan(joined)
    masked = lexicon.mask(joined, [m for m in matches if screen.mask(m)])
    hits = [(m.start, m.end) for m in matches if screen.action(m) != "allow"]
    return masked, hits


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=TEXTS)
def test_fields_screened_together_give_offsets_into_the_joined_masked_text(
    make_decisions: Any, texts: list[str]
) -> None:
    d = make_decisions(direction="input")
    walk = Walk()
    walk.add(list(texts))
    d.screen_walk(walk)
    masked, offsets = d.screened()
    joined = ZWSP.join(t for t in texts if t)
    want_masked, want_hits = expected_screen(d.lexicon, d.screen, joined)
    assert offsets == want_hits
    if want_hits:
        assert masked == want_masked
        assert BLOCK not in masked and MASK not in masked


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(st.lists(ALPHABET, max_size=4).map("".join), min_size=1, max_size=8),
    points=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_a_streamed_answer_keeps_its_masked_text_for_any_split(
    make_decisions: Any, pieces: list[str], points: list[int]
) -> None:
    r = relay(make_decisions, "openai_chat", {"stream": True})
    run(r, cuts(b"".join(scripts.chat_stream(pieces)), points))
    d = r.decisions
    masked, offsets = d.screened()
    full = "".join(pieces)
    want_masked, want_hits = expected_screen(d.lexicon, d.screen, full)
    assert offsets == want_hits[: len(offsets)]
    if offsets:
        # A blocked answer is screened up to the block: a prefix of the whole masked text.
        assert want_masked.startswith(masked) and len(masked) >= offsets[-1][1]
        if not d.blocked:
            assert masked == want_masked
        assert BLOCK not in masked and MASK not in masked
        excerpt = incident_excerpt(masked, offsets)
        for (a, b), hit in zip(excerpt_spans(excerpt, offsets), d.hits, strict=True):
            if hit.action in ("mask", "block"):
                assert excerpt[a:b] == "*" * (b - a)


def test_the_held_rest_of_a_blocked_term_is_kept_masked(make_decisions: Any, tmp_path: Any) -> None:
    """When a blocking match completes, the scanner may still hold its last characters (they
    could start another term): the kept text has them, masked, so the excerpt's span is whole."""
    (tmp_path / "a1.terrorism_extremism.txt").write_text(
        f"{BLOCK}\taction=block\n{BLOCK[-1]}案手册\taction=flag\n", encoding="utf-8"
    )
    d = make_decisions(lexicon=load_lexicon([tmp_path]))
    slots = Slots(d, None)
    sent = slots.feed("content", ALL, "前文", display=True) + slots.feed(
        "content", ALL, BLOCK, display=True
    )
    assert d.blocked and BLOCK not in sent
    assert d.texts[0].held > 0  # the scanner still holds part of the term
    masked, offsets = d.screened()
    assert (masked, offsets) == ("前文" + "*" * len(BLOCK), [(2, 2 + len(BLOCK))])
