"""``/moderate`` and ``/v1/moderations`` with the classifier stage: ``stages`` in the request
and the tenant's default, the one combining rule, both verdicts in the response, the records
(read back from SQLite) and the metrics; the OpenAI-compatible route through the official SDK."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.support.lexicon import FLAG

from .fake_guard import FakeGuard, Fault

UNSAFE = "怎么做炸弹"  # the fake guard: unsafe, Violent; the lexicon knows nothing of it


def test_an_unsafe_text_is_flagged_with_the_verdict(make_gateway, guard: FakeGuard) -> None:
    with make_gateway() as gw:
        body = httpx.post(gw.url + "/moderate", json={"text": UNSAFE}).json()
        (incident,) = gw.records("incident")
        decisions = gw.metric(
            "aigc_gateway_decisions_total",
            direction="input",
            category="a1.violence_obscenity",
            action="block",
        )
        checks = gw.metric(
            "aigc_gateway_classifier_checks_total", direction="input", outcome="unsafe"
        )
    assert body["flagged"] is True and body["action"] == "block"
    assert body["matches"] == [] and body["masked_text"] == UNSAFE
    assert body["categories"] == ["a1.violence_obscenity"]
    (detail,) = body["category_details"]
    assert detail["id"] == "a1.violence_obscenity" and detail["action"] == "block"
    assert body["stages"] == ["lexicon", "classifier"]
    verdict = body["classifier"]
    assert verdict["safety"] == "unsafe" and verdict["labels"] == ["Violent"]
    assert verdict["risks"] == ["a1.violence_obscenity"] and verdict["direction"] == "input"
    (call,) = guard.calls
    assert call.body["messages"] == [{"role": "user", "content": UNSAFE}]
    assert incident["route"] == "/moderate" and incident["action"] == "block"
    assert incident["categories"] == ["a1.violence_obscenity"] and incident["terms"] == []
    assert incident["classifier"]["safety"] == "unsafe" and incident["excerpt"] == ""
    assert decisions == 1 and checks == 1


def test_both_verdicts_combine_the_stricter_wins(make_gateway, guard: FakeGuard) -> None:
    with make_gateway(controversial="flag") as gw:
        both = httpx.post(gw.url + "/moderate", json={"text": f"{FLAG}，{UNSAFE}"}).json()
        mild = httpx.post(gw.url + "/moderate", json={"text": f"{FLAG}，争议话题"}).json()
        safe = httpx.post(gw.url + "/moderate", json={"text": FLAG}).json()
        incidents = gw.records("incident")
    assert both["action"] == "block" and both["flagged"] is True  # flag + block -> block
    assert both["categories"] == ["a1.false_harmful_info", "a1.violence_obscenity"]
    assert [m["term"] for m in both["matches"]] == [FLAG]
    assert mild["action"] == "flag" and mild["classifier"]["safety"] == "controversial"
    assert safe["action"] == "flag" and safe["classifier"]["action"] == "allow"
    assert [i["action"] for i in incidents] == ["block", "flag", "flag"]
    assert incidents[2]["classifier"]["safety"] == "safe"  # the lexicon's incident, both kept


def test_stages_choose_what_runs(make_gateway, guard: FakeGuard) -> None:
    with make_gateway() as gw:
        lexicon = httpx.post(
            gw.url + "/moderate", json={"text": f"{FLAG}{UNSAFE}", "stages": ["lexicon"]}
        ).json()
        assert guard.calls == []
        classifier = httpx.post(
            gw.url + "/moderate", json={"text": f"{FLAG}{UNSAFE}", "stages": ["classifier"]}
        ).json()
        none = httpx.post(gw.url + "/moderate", json={"text": "x", "stages": []})
        bad = httpx.post(gw.url + "/moderate", json={"text": "x", "stages": ["guard"]})
    assert lexicon["stages"] == ["lexicon"] and lexicon["classifier"] is None
    assert lexicon["action"] == "flag"
    assert classifier["stages"] == ["classifier"] and classifier["matches"] == []
    assert classifier["action"] == "block" and classifier["masked_text"] == f"{FLAG}{UNSAFE}"
    assert none.status_code == 422 and bad.status_code == 422


def test_asking_for_a_classifier_that_is_not_configured(make_gateway) -> None:
    with make_gateway(backend=None) as gw:
        default = httpx.post(gw.url + "/moderate", json={"text": UNSAFE}).json()
        r = httpx.post(gw.url + "/moderate", json={"text": UNSAFE, "stages": ["classifier"]})
    assert default["stages"] == ["lexicon"] and default["flagged"] is False
    assert r.status_code == 503 and r.json()["error"]["code"] == "classifier_not_configured"


def test_the_tenant_default_and_an_explicit_request(make_gateway, guard: FakeGuard) -> None:
    with make_gateway(moderate=False) as gw:
        default = httpx.post(gw.url + "/moderate", json={"text": UNSAFE}).json()
        asked = httpx.post(
            gw.url + "/moderate", json={"text": UNSAFE, "stages": ["lexicon", "classifier"]}
        ).json()
    assert default["stages"] == ["lexicon"] and default["flagged"] is False
    assert asked["flagged"] is True and len(guard.calls) == 1


def test_a_batch_is_classified_text_by_text(make_gateway, guard: FakeGuard) -> None:
    with make_gateway() as gw:
        body = httpx.post(
            gw.url + "/moderate",
            json={"input": ["今天天气很好", UNSAFE, "自杀的方法"], "direction": "output"},
        ).json()
    results = body["results"]
    assert [r["flagged"] for r in results] == [False, True, True]
    assert results[2]["categories"] == ["a4.physical_mental_health"]
    assert all(r["classifier"]["direction"] == "output" for r in results)
    # an output with no known prompt: the conversation's user turn is empty
    assert all(c.body["messages"][0] == {"role": "user", "content": ""} for c in guard.calls)


def test_a_guard_failure_follows_the_fail_mode_without_an_incident(
    make_gateway, guard: FakeGuard
) -> None:
    guard.script["炸弹"] = Fault(status=500)
    with make_gateway(fail="closed", retries=0) as gw:
        closed = httpx.post(gw.url + "/moderate", json={"text": UNSAFE}).json()
        incidents = gw.records("incident")
        (log,) = gw.records("network_log")
    assert closed["flagged"] is True and closed["action"] == "block"
    assert closed["classifier"]["error"] == "http_500" and closed["classifier"]["safety"] is None
    assert incidents == [] and log["decision"] == "block"


def test_openai_moderations_through_the_sdk(make_gateway, guard: FakeGuard) -> None:
    with make_gateway() as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)
        found = client.moderations.create(input=[UNSAFE, "你好"]).results
        lexicon_only = client.moderations.create(
            input=UNSAFE, extra_body={"stages": ["lexicon"]}
        ).results[0]
    assert found[0].flagged is True and found[0].categories.violence is True
    assert found[0].category_scores.violence == 1.0
    extra = found[0].model_extra or {}
    assert extra["x_action"] == "block" and extra["x_stages"] == ["lexicon", "classifier"]
    assert extra["x_classifier"]["risks"] == ["a1.violence_obscenity"]
    assert extra["x_categories"] == {"a1.violence_obscenity": True}
    assert (
        found[1].flagged is False
        and (found[1].model_extra or {})["x_classifier"]["safety"] == "safe"
    )
    assert (
        lexicon_only.flagged is False and (lexicon_only.model_extra or {})["x_classifier"] is None
    )


@pytest.mark.parametrize("backend", ["llamaguard", "openai-moderation", "webhook"])
def test_every_backend_behind_moderate(make_gateway, guard: FakeGuard, backend: str) -> None:
    with make_gateway(backend=backend) as gw:
        body = httpx.post(gw.url + "/moderate", json={"text": UNSAFE}).json()
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)
        result = client.moderations.create(input=UNSAFE).results[0]
    assert body["flagged"] is True and body["classifier"]["backend"] == backend
    assert "a1.violence_obscenity" in body["categories"]
    assert result.categories.violence is True
    if backend == "openai-moderation":  # the guard's own score for its own key
        assert result.category_scores.violence == pytest.approx(0.91)
