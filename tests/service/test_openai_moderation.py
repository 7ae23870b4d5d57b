"""``POST /v1/moderations`` parsed by the official openai SDK against a live server."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from service.routes.openai_moderation import OPENAI_CATEGORIES
from service.tenants import hash_api_key
from tests.service.conftest import DRUGS, GAMBLING, live
from tests.support.server import serve

KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def sdk(settings_factory, lexdir: Path):
    from service.app import create_app

    tenants = [{"id": "t1", "api_keys": [hash_api_key(KEY)]}]
    with serve(create_app(settings_factory(lexicons=[lexdir], tenants=tenants))) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=20)
        yield client, url


def test_sdk_parses_single_input(sdk) -> None:
    client, _ = sdk
    resp = client.moderations.create(model="omni-moderation-latest", input="哪里有網上賭場")
    assert resp.model == "omni-moderation-latest"
    assert resp.id.startswith("modr-")
    (result,) = resp.results
    assert result.flagged is True
    dumped = result.categories.model_dump(by_alias=True)
    assert set(OPENAI_CATEGORIES) <= set(dumped)
    assert not any(dumped.values())  # gambling has no OpenAI key: only in the x_ extension
    extra = result.model_extra or {}
    assert extra["x_categories"] == {GAMBLING: True}
    assert extra["x_action"] == "block"
    (m,) = extra["x_matches"]
    assert "哪里有網上賭場"[m["start"] : m["end"]] == "網上賭場"
    applied = result.category_applied_input_types.model_dump(by_alias=True)
    assert all(v == ["text"] for v in applied.values())


def test_sdk_maps_onto_openai_keys_and_batches(sdk) -> None:
    client, _ = sdk
    resp = client.moderations.create(input=["出售冰毒", "今天天气很好"])
    drugs, clean = resp.results
    assert drugs.flagged and drugs.categories.illicit is True
    assert drugs.category_scores.illicit == 1.0
    assert drugs.model_extra["x_categories"] == {DRUGS: True}
    assert clean.flagged is False
    assert not any(clean.categories.model_dump().values())
    assert all(v == 0.0 for v in clean.category_scores.model_dump().values())


def test_sdk_multimodal_input_is_one_result(sdk) -> None:
    client, _ = sdk
    resp = client.moderations.create(
        input=[
            {"type": "text", "text": "你好"},
            {"type": "image_url", "image_url": {"url": "https://example.invalid/x.png"}},
            {"type": "text", "text": "百家乐"},
        ]
    )
    (result,) = resp.results
    assert result.flagged is True


def test_sdk_sees_openai_errors(sdk) -> None:
    _, url = sdk
    bad = openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0, timeout=20)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.moderations.create(input="x")
    assert info.value.code == "invalid_api_key"
    assert info.value.body["type"] == "invalid_request_error"
    client, _ = sdk
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client.moderations.create(input=[1, 2])  # type: ignore[list-item]
    assert info.value.code == "validation_error"


def test_plain_http_shape(settings_factory, lexdir: Path) -> None:
    with live(settings_factory(lexicons=[lexdir])) as c:
        body = c.post("/v1/moderations", json={"input": "网上赌场", "model": "x"}).json()
        assert body["model"] == "x"
        (res,) = body["results"]
        for key in ("categories", "category_scores", "category_applied_input_types"):
            assert list(res[key]) == list(OPENAI_CATEGORIES)
        r = c.post("/v1/moderations", content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 400
        assert r.json()["error"] == {
            "message": "The request body is not valid JSON.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_json",
        }
