"""Tenants: API key auth (hashed keys), per-tenant policies, profiles and the mandatory floor."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.config import ConfigError
from service.tenants import ACTIONS, PolicyTable, hash_api_key, strictest
from tests.service.conftest import DRUGS, GAMBLING, live

ACME_KEY = "sk-acme-0123456789"
KIDS_KEY = "sk-kids-0123456789"


def tenants() -> list[dict]:
    return [
        {
            "id": "acme",
            "api_keys": [hash_api_key(ACME_KEY)],
            "policy": {"input": {GAMBLING: "flag"}},
        },
        {
            "id": "kids",
            "api_keys": [hash_api_key(KIDS_KEY)],
            "profile": "minor",
            "policy": {"input": {DRUGS: "allow"}},
        },
    ]


@pytest.fixture
def tenant_client(settings_factory, lexdir: Path):
    with live(settings_factory(lexicons=[lexdir], tenants=tenants())) as c:
        yield c


def moderate(c: httpx.Client, text: str, headers: dict | None = None, **extra) -> httpx.Response:
    return c.post("/moderate", json={"text": text, **extra}, headers=headers or {})


def test_no_tenants_means_auth_off(client: httpx.Client) -> None:
    assert moderate(client, "网上赌场").status_code == 200
    assert moderate(client, "网上赌场", {"authorization": "Bearer whatever"}).status_code == 200


def test_unknown_or_missing_key_is_401(tenant_client: httpx.Client) -> None:
    for headers in (
        {},
        {"authorization": "Bearer nope"},
        {"x-api-key": "nope"},
        {"authorization": "Basic " + ACME_KEY},
    ):
        r = moderate(tenant_client, "hi", headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]["code"] == "invalid_api_key"
        assert r.headers["www-authenticate"] == "Bearer"
        assert ACME_KEY not in r.text


@pytest.mark.parametrize("header", ["authorization", "x-api-key", "api-key"])
def test_key_headers(tenant_client: httpx.Client, header: str) -> None:
    value = f"Bearer {ACME_KEY}" if header == "authorization" else ACME_KEY
    r = moderate(tenant_client, "网上赌场", {header: value})
    assert r.status_code == 200
    assert r.json()["action"] == "flag"  # acme's own policy


def test_each_tenant_gets_its_policy_and_profile(tenant_client: httpx.Client) -> None:
    acme = {"x-api-key": ACME_KEY}
    kids = {"x-api-key": KIDS_KEY}
    assert moderate(tenant_client, "网上赌场", acme).json()["action"] == "flag"
    body = moderate(tenant_client, "网上赌场", kids).json()
    assert (body["action"], body["profile"]) == ("block", "minor")
    # kids "allow"s drugs, but the minor profile raises every hit to at least mask
    body = moderate(tenant_client, "大麻", kids).json()
    assert body["action"] == "mask" and body["masked_text"] == "**"


def test_request_can_tighten_but_not_weaken(tenant_client: httpx.Client) -> None:
    acme = {"x-api-key": ACME_KEY}
    kids = {"x-api-key": KIDS_KEY}
    body = moderate(tenant_client, "大麻", acme, profile="minor").json()
    assert (body["profile"], body["action"]) == ("minor", "mask")
    body = moderate(tenant_client, "大麻", kids, profile="standard").json()
    assert (body["profile"], body["action"]) == ("minor", "mask")


def test_mandatory_floor_beats_tenant_allow(settings_factory, lexdir: Path) -> None:
    ts = tenants()
    ts[0]["policy"] = {"input": {"*": "allow"}, "output": {"*": "allow"}}
    s = settings_factory(lexicons=[lexdir], tenants=ts, mandatory={"input": {"a1": "block"}})
    with live(s) as c:
        body = moderate(c, "网上赌场 大麻", {"x-api-key": ACME_KEY}).json()
        assert body["action"] == "block"  # gambling and drugs are under a1
        out = moderate(c, "网上赌场", {"x-api-key": ACME_KEY}, direction="output").json()
        assert out["flagged"] is False  # the floor is for input only


def test_parent_rule_covers_finer_categories(settings_factory, lexdir: Path) -> None:
    s = settings_factory(lexicons=[lexdir], policy={"input": {"a1.other_prohibited": "mask"}})
    with live(s) as c:
        body = moderate(c, "网上赌场").json()
    assert body["action"] == "mask"


def test_keys_must_be_stored_hashed(settings_factory, lexdir: Path) -> None:
    with pytest.raises(ConfigError, match="stored hashed"):
        settings_factory(tenants=[{"id": "a", "api_keys": [ACME_KEY]}])
    with pytest.raises(ConfigError, match="same API key"):
        settings_factory(
            tenants=[
                {"id": "a", "api_keys": [hash_api_key(ACME_KEY)]},
                {"id": "b", "api_keys": [hash_api_key(ACME_KEY)]},
            ]
        )


def test_unknown_lexicon_set_is_refused(settings_factory) -> None:
    with pytest.raises(ConfigError, match="unknown lexicon set"):
        settings_factory(tenants=[{"id": "a", "lexicon_sets": ["nope"]}])


def test_tenant_lexicon_sets(settings_factory, lexdir: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / f"{GAMBLING}.txt").write_text("老虎机\n", encoding="utf-8")
    ts = [
        {"id": "a", "api_keys": [hash_api_key(ACME_KEY)]},
        {"id": "b", "api_keys": [hash_api_key(KIDS_KEY)], "lexicon_sets": ["default", "extra"]},
    ]
    with live(
        settings_factory(lexicons=[lexdir], lexicon_sets={"extra": [extra]}, tenants=ts)
    ) as c:
        a = moderate(c, "老虎机 网上赌场", {"x-api-key": ACME_KEY}).json()
        b = moderate(c, "老虎机 网上赌场", {"x-api-key": KIDS_KEY}).json()
    assert [m["term"] for m in a["matches"]] == ["网上赌场"]
    assert [m["term"] for m in b["matches"]] == ["老虎机", "网上赌场"]
    assert a["lexicon_version"] != b["lexicon_version"]


actions = st.sampled_from(ACTIONS)
maybe_action = st.none() | actions


@given(
    lexicon_action=st.sampled_from(["flag", "mask", "block"]),
    severity=st.sampled_from(["low", "medium", "high"]),
    tenant=maybe_action,
    base=maybe_action,
    floor=maybe_action,
    profile=st.sampled_from(["standard", "minor"]),
)
def test_policy_table_never_goes_below_floor_or_profile(
    lexicon_action, severity, tenant, base, floor, profile
) -> None:
    def rules(a):
        return {GAMBLING: a} if a else {}

    table = PolicyTable(rules(tenant), rules(base), rules(floor), profile)
    got = table.action(GAMBLING, lexicon_action, severity)
    chosen = tenant or base or lexicon_action
    expected = chosen
    if profile == "minor":
        expected = strictest(expected, "block" if severity == "high" else "mask")
    if floor:
        expected = strictest(expected, floor)
    assert got == expected
    assert strictest(got, floor or "allow") == got
    # the stricter profile never yields a weaker action
    minor = PolicyTable(rules(tenant), rules(base), rules(floor), "minor")
    assert strictest(minor.action(GAMBLING, lexicon_action, severity), got) == minor.action(
        GAMBLING, lexicon_action, severity
    )
