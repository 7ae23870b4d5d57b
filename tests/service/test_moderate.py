"""``POST /moderate`` on a live server: variants, original offsets, batch, direction, names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lexicons import load_lexicon
from service.config import load_settings
from tests.service.conftest import DRUGS, GAMBLING, live, write_lexicon

# full-width Latin, traditional characters and separator spaces, around one gambling term
VARIANTS = [
    ("去网上赌场玩", "网上赌场"),
    ("去網上賭場玩", "網上賭場"),
    ("去网 上 赌 场玩", "网 上 赌 场"),
    ("ｈｉ，网　上　賭　場！", "网　上　賭　場"),
]


def test_term_found_through_variants_with_original_offsets(client: httpx.Client) -> None:
    for text, span in VARIANTS:
        r = client.post("/moderate", json={"text": text})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["flagged"] is True
        assert body["action"] == "block"
        assert body["categories"] == [GAMBLING]
        (match,) = body["matches"]
        assert match["term"] == "网上赌场"
        assert text[match["start"] : match["end"]] == span == match["text"]
        assert body["masked_text"] == text.replace(span, "*" * len(span))


def test_category_names_and_lexicon_version(client: httpx.Client, lexdir: Path) -> None:
    body = client.post("/moderate", json={"text": "网上赌场"}).json()
    (detail,) = body["category_details"]
    assert detail["id"] == GAMBLING
    assert detail["name_zh"] == "赌博"
    assert detail["name_en"] == "Gambling"
    assert detail["action"] == "block"
    # an independent load of the same directory gives the same content-hash version
    assert body["lexicon_version"] == load_lexicon([lexdir]).version


def test_clean_text_is_allowed(client: httpx.Client) -> None:
    body = client.post("/moderate", json={"text": "今天天气很好"}).json()
    assert body["flagged"] is False
    assert body["action"] == "allow"
    assert body["matches"] == [] and body["categories"] == []
    assert body["masked_text"] == "今天天气很好"


def test_flag_action_does_not_mask(client: httpx.Client) -> None:
    body = client.post("/moderate", json={"text": "大麻"}).json()
    assert body["flagged"] is True and body["action"] == "flag"
    assert body["masked_text"] == "大麻"
    assert body["matches"][0]["severity"] == "low"


def test_batch_returns_one_result_per_text_in_order(client: httpx.Client) -> None:
    texts = ["冰 毒", "hello", "百家樂"]
    r = client.post("/moderate", json={"input": texts})
    assert r.status_code == 200
    body = r.json()
    assert [res["flagged"] for res in body["results"]] == [True, False, True]
    assert body["results"][0]["categories"] == [DRUGS]
    assert body["results"][2]["matches"][0]["text"] == "百家樂"
    assert all(res["lexicon_version"] == body["lexicon_version"] for res in body["results"])


def test_direction_selects_the_policy(settings_factory, lexdir: Path) -> None:
    policy = {"input": {GAMBLING: "flag"}, "output": {GAMBLING: "mask"}}
    with live(settings_factory(lexicons=[lexdir], policy=policy)) as c:
        inp = c.post("/moderate", json={"text": "网上赌场", "direction": "input"}).json()
        out = c.post("/moderate", json={"text": "网上赌场", "direction": "output"}).json()
    assert (inp["action"], inp["direction"], inp["masked_text"]) == ("flag", "input", "网上赌场")
    assert (out["action"], out["direction"], out["masked_text"]) == ("mask", "output", "****")


def test_bundled_lexicon_when_no_directory_given(settings_factory) -> None:
    with live(settings_factory()) as c:
        body = c.post("/moderate", json={"text": "出售冰 毒"}).json()
    assert body["matches"][0]["text"] == "冰 毒"
    assert body["lexicon_version"] == load_lexicon().version


_alphabet = st.sampled_from(list("网上赌场網賭場百家乐樂冰毒 　ａb天气好，"))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Any]]:
    """One live server for the property test (hypothesis reruns the body, not the fixture)."""
    root = tmp_path_factory.mktemp("shared")
    d = write_lexicon(
        root / "lex",
        {f"{GAMBLING}.txt": "网上赌场\n百家乐\n", f"{DRUGS}.txt": "冰毒\n大麻\taction=flag\n"},
    )
    with live(load_settings(lexicons=[d], data_dir=root / "var")) as c:
        yield c, load_lexicon([d])


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(_alphabet, min_size=1, max_size=30), min_size=1, max_size=4))
def test_offsets_and_masks_agree_with_the_library(shared, texts: list[str]) -> None:
    client, lex = shared
    texts = [t if t.strip() else "x" + t for t in texts]
    body = client.post("/moderate", json={"input": texts}).json()
    for text, res in zip(texts, body["results"], strict=True):
        found = lex.scan(text)
        assert [(m["start"], m["end"]) for m in res["matches"]] == [(m.start, m.end) for m in found]
        for m in res["matches"]:
            assert text[m["start"] : m["end"]] == m["text"]
        masked = [m for m in found if m.action in ("mask", "block")]
        assert res["masked_text"] == lex.mask(text, masked)


def test_calls_are_recorded(settings_factory, lexdir: Path) -> None:
    """The real recorder: the records are in the database when the answer arrives."""
    import asyncio
    import json

    from service.app import create_app
    from service.records.backends import backend_for_url
    from tests.support.server import serve

    settings = settings_factory(lexicons=[lexdir])
    app = create_app(settings)
    with serve(app) as url:
        headers = {"x-request-id": "rec-1", "x-aigc-user": "u-9"}
        httpx.post(url + "/moderate", json={"input": ["去网 上 赌 场", "hi"]}, headers=headers)
        httpx.post(url + "/v1/moderations", json={"input": "hello", "model": "m"})

        async def stored() -> list[dict[str, Any]]:  # read while the gateway still runs
            backend = backend_for_url(settings.database, read_only=True)
            await backend.open()
            try:
                rows = await backend.fetch("SELECT body FROM records ORDER BY seq")
            finally:
                await backend.close()
            return [json.loads(r[0]) for r in rows]

        records = asyncio.run(stored())
    # the block also took the first sanction step of user u-9: a record of its own, derived
    # after the incident's batch is durable, so it is written by the time the gateway has stopped
    assert [r["action"] for r in asyncio.run(stored()) if r["kind"] == "sanction"] == ["warning"]
    incident, log1, log2 = [r for r in records if r["kind"] != "sanction"]
    assert incident["kind"] == "incident"
    assert (incident["request_id"], incident["user_id"], incident["tenant_id"]) == (
        "rec-1",
        "u-9",
        "default",
    )
    assert incident["categories"] == [GAMBLING] and incident["offsets"] == [[1, 8]]
    assert incident["action"] == "block" and incident["direction"] == "input"
    assert log1["kind"] == "network_log" and log1["decision"] == "block"
    assert log1["route"] == "/moderate" and log1["status"] == 200
    assert log2["kind"] == "network_log" and (log2["decision"], log2["model"]) == ("allow", "m")
