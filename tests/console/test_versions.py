"""Lexicon versions and diffs, the terms in force when an incident was decided, proxied
incidents' excerpts and classifier verdicts on the incident page: over HTTP against a real
gateway (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import gzip
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from service.app import create_app
from service.console.views import incident_view
from service.records import IncidentEvent
from tests.console.conftest import (
    ACME_KEY,
    Gateway,
    admin_records,
    console_settings,
    csrf_of,
    login,
)
from tests.support.server import serve

TERM = "测试专用违禁词"  # in the acme tenant's own lexicon directory only while the test says
CATEGORY = "a1.other_prohibited.crime_instigation"
ACME = {"authorization": f"Bearer {ACME_KEY}", "x-aigc-user": "u-9"}


def acme_dir(gw: Gateway) -> Path:
    return gw.settings.data_dir / "allowlists" / "acme"


def reload(c: httpx.Client) -> None:
    token = csrf_of(c.get("/console/lexicons").text)
    assert c.post("/console/lexicons/reload", data={"csrf": token}).status_code == 303


def version_of(c: httpx.Client, tenant_text: str) -> str:
    """The lexicon version the acme tenant screens with now (as /moderate reports it)."""
    r = c.post("/moderate", json={"text": tenant_text}, headers=ACME)
    assert r.status_code == 200, r.text
    return r.json()["lexicon_version"]


def test_versions_diff_and_the_terms_in_force_then(gateway: Gateway) -> None:
    terms_file = acme_dir(gateway) / f"{CATEGORY}.txt"
    with gateway.client() as c:
        login(c)
        # Version 1: the acme tenant's directory adds a term (and an allow phrase).
        terms_file.write_text(f"{TERM}\taction=block\n", encoding="utf-8")
        (acme_dir(gateway) / "allow.txt").write_text("远离冰毒\n", encoding="utf-8")
        reload(c)
        blocked = c.post("/moderate", json={"text": f"前文{TERM}后文"}, headers=ACME)
        assert blocked.json()["action"] == "block"
        v1 = blocked.json()["lexicon_version"]
        # Version 2: the term is gone again.
        terms_file.unlink()
        reload(c)
        v2 = version_of(c, "你好")
        assert v1 != v2

        page = c.get("/console/lexicons").text
        listed = re.findall(r'<tr class="version"><td><a href="/console/lexicons/versions/([^"]+)"',
                            page)
        assert quote(v1, safe="") in listed and quote(v2, safe="") in listed
        assert gateway.settings.data_dir.joinpath("lexicon-versions").is_dir()

        # The diff from v1 to v2: one term removed, its category empty now, the allow phrase
        # still there.
        diff = c.get("/console/lexicons/diff", params={"old": v1, "new": v2})
        assert diff.status_code == 200
        assert re.search(r'id="count-removed">1<', diff.text)
        assert re.search(r'id="count-added">0<', diff.text)
        removed = re.search(r'<table id="diff-removed">.*?</table>', diff.text, re.S).group(0)
        assert TERM in removed and "act-block" in removed
        assert "diff-allow" not in diff.text  # the allow-list did not change
        back = c.get("/console/lexicons/diff", params={"old": v2, "new": v1}).text
        assert re.search(r'id="count-added">1<', back) and 'id="diff-added"' in back

        # v1's manifest page: the term, found by the filter; v2 is in force, v1 is not.
        v1_page = c.get(f"/console/lexicons/versions/{quote(v1, safe='')}", params={"q": TERM})
        assert v1_page.status_code == 200
        assert re.search(r'id="manifest-matching" data-count="1"', v1_page.text)
        assert f'<td class="terms">{TERM}</td>' in v1_page.text
        assert 'id="diff-with-current"' in v1_page.text and "远离冰毒" in v1_page.text
        v2_page = c.get(f"/console/lexicons/versions/{quote(v2, safe='')}", params={"q": TERM})
        assert re.search(r'id="manifest-matching" data-count="0"', v2_page.text)
        assert 'id="manifest-in-force"' in v2_page.text

        # The incident decided under v1 shows the term as v1 had it, and that the current
        # lexicon no longer has it; its version links to v1's manifest.
        rows = re.findall(r"/console/incidents/(\d+)", c.get("/console/incidents",
                                                               params={"q": TERM}).text)
        assert len(rows) == 1
        detail = c.get(f"/console/incidents/{rows[0]}").text
        then = re.search(r'<td class="then"[^>]*>(.*?)</td>', detail, re.S).group(1)
        assert "act-block" in then and CATEGORY in then
        now = re.search(r'<td class="now"[^>]*>(.*?)</td>', detail, re.S).group(1)
        assert "not in the current lexicon" in now
        assert f'href="/console/lexicons/versions/{quote(v1, safe="")}" id="incident-version"' \
            in detail
        assert 'id="incident-diff"' in detail


def test_unknown_and_hostile_versions(sqlite_gateway: Gateway) -> None:
    with sqlite_gateway.client() as c:
        login(c)
        for version in ["sha256:0000000000000000", "<script>alert(1)</script>", "../../etc/x", "a:b"]:
            r = c.get(f"/console/lexicons/versions/{quote(version, safe='')}")
            assert r.status_code == 404, version
            assert "<script>alert" not in r.text
        d = c.get("/console/lexicons/diff", params={"old": "<b>x</b>", "new": "sha256:1"})
        assert d.status_code == 404 and 'id="diff-missing"' in d.text
        assert "<b>x</b>" not in d.text and "&lt;b&gt;x&lt;/b&gt;" in d.text
        # A damaged manifest file: a clear error page, the service stays up.
        damaged = "sha256:00000000deadbeef"
        store = sqlite_gateway.settings.data_dir / "lexicon-versions"
        whole = gzip.compress(b'{"version": "x"}')
        for body in (b"\x1f\x8bnot gzip at all", whole[: len(whole) // 2], whole):
            (store / "sha256-00000000deadbeef.json.gz").write_bytes(body)
            r = c.get(f"/console/lexicons/versions/{quote(damaged, safe='')}")
            assert r.status_code == 500 and "cannot be read" in r.text, body
        r = c.get("/console/lexicons/diff", params={"old": damaged, "new": damaged})
        assert r.status_code == 500 and "cannot be read" in r.text
        assert c.get("/console/lexicons").status_code == 200
    with sqlite_gateway.client() as anonymous:
        r = anonymous.get("/console/lexicons/diff", params={"old": "a", "new": "b"})
        assert r.status_code == 303
        assert anonymous.get("/console/lexicons/versions/sha256:1").status_code == 303


def test_incident_of_an_unrecorded_version(sqlite_gateway: Gateway) -> None:
    """A record whose version has no manifest here (older records, another data directory)
    shows the current lexicon only, and says so."""
    import asyncio

    async def record() -> None:
        app = create_app(sqlite_gateway.settings)
        async with app.router.lifespan_context(app):
            await app.state.runtime.recorder.record(IncidentEvent(
                request_id="req-old", tenant_id="acme", user_id=None, direction="input",
                route="/moderate", action="block", categories=[CATEGORY], terms=["冰毒"],
                offsets=[(0, 2)], lexicon_version="sha256:00000000deadbeef", excerpt="**",
            ))

    asyncio.run(record())
    with sqlite_gateway.client() as c:
        login(c)
        rows = re.findall(r"/console/incidents/(\d+)", c.get("/console/incidents",
                                                               params={"q": "req-old"}).text)
        detail = c.get(f"/console/incidents/{rows[0]}").text
    assert 'id="no-manifest"' in detail and '<td class="then"' not in detail
    assert '<code id="incident-version">sha256:00000000deadbeef</code>' in detail


def test_proxied_blocked_prompt_shows_its_excerpt(tmp_path: Path) -> None:
    """An incident the proxy recorded has its masked excerpt; the texts it joined are shown
    with a visible boundary, the term masked and highlighted."""
    # Nothing listens on the upstream: a blocked prompt never reaches it.
    settings = console_settings(tmp_path / "var", None, upstream="http://127.0.0.1:9")
    body = {"model": "m", "messages": [
        {"role": "system", "content": "你是一个助手。"},
        {"role": "user", "content": "请问哪里能买到冰毒？"},
    ]}
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/v1/chat/completions", json=body, headers=ACME)
        assert r.status_code == 400, r.text
        login(c)
        rows = re.findall(r"/console/incidents/(\d+)", c.get("/console/incidents").text)
        assert len(rows) == 1
        detail = c.get(f"/console/incidents/{rows[0]}").text
    excerpt = re.search(r'<p class="excerpt" id="incident-excerpt">(.*?)</p>', detail, re.S)
    assert excerpt, detail
    html = excerpt.group(1)
    assert "冰毒" not in re.sub(r"<[^>]*>", "", html)  # the term names the mark, it is not text
    assert re.search(r'<mark class="act-block" title="冰毒">\*\*</mark>', html)
    assert html.startswith("你是一个助手。<span class=\"zwsp\"")
    assert "No excerpt was stored" not in detail


VERDICT = {
    "action": "block",
    "safety": "unsafe",
    "risks": ["a1.violence_obscenity"],
    "labels": ["Violent", "<img src=x onerror=alert(1)>"],
    "scores": {"Violent": 0.97, "Sexual": 0.01},
    "refusal": None,
    "direction": "input",
    "backend": "qwen3guard",
    "model": "Qwen3Guard-Gen-0.6B",
    "cached": False,
    "latency_ms": 41.5,
    "error": None,
}


def test_classifier_verdict_renders_the_verdict_shape(tmp_path: Path) -> None:
    """A real ``Verdict.to_dict()`` in a record: named fields, risks by category name, scores
    highest first, stored text escaped."""
    from service.classifier.verdict import Verdict
    from service.console.web import _env
    from service.runtime import build_snapshot

    verdict = Verdict(
        action="block", safety="unsafe", backend="qwen3guard", model="Qwen3Guard-Gen-0.6B",
        direction="input", labels=("Violent", "<img src=x onerror=alert(1)>"),
        risks=("a1.violence_obscenity",), scores={"Violent": 0.97, "Sexual": 0.01}, latency_ms=41.5,
    ).to_dict()
    assert set(verdict) == set(VERDICT)  # the shape this test and the page expect

    class Runtime:
        settings = console_settings(tmp_path / "var", None)
        snapshot = build_snapshot(settings)

    rec = {"seq": 1, "time": "2026-01-01T00:00:00+00:00", "tenant_id": "", "user_id": None,
           "request_id": "r", "direction": "input", "route": "/moderate", "action": "block",
           "categories": [], "terms": [], "offsets": [], "lexicon_version": "x",
           "excerpt": "", "classifier": verdict}
    view = incident_view(Runtime(), rec, None)
    c = view["classifier"]
    assert c["scores"] == [("Violent", 0.97), ("Sexual", 0.01)] and c["other"] == {}
    assert c["risks"][0]["id"] == "a1.violence_obscenity" and c["risks"][0]["zh"] == "宣扬暴力、淫秽色情"
    html = _env.get_template("incident.html").render(
        _=lambda s: s, lang="en", session=None, csrf="", path="/", here="/", nav="incidents",
        **view,
    )
    section = re.search(r'<section class="card" id="classifier">.*?</section>', html, re.S)
    assert section, html
    text = section.group(0)
    assert 'class="badge act-block"' in text and 'id="classifier-safety">unsafe' in text
    assert "Qwen3Guard-Gen-0.6B" in text and "qwen3guard" in text
    assert re.search(r"<td>Violent</td><td class=\"n\">0.970</td>.*<td>Sexual</td>", text, re.S)
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "41.5 ms" in text and "{'" not in text  # no Python reprs of lists or dicts


@pytest.mark.skipif(
    "classifier" not in {f.name for f in dataclasses.fields(IncidentEvent)},
    reason="IncidentEvent.classifier is added by guard2 (issue 16 phase 2)",
)
def test_classifier_verdict_of_a_recorded_incident(gateway: Gateway) -> None:
    """An incident with a classifier verdict, written by the real recorder, on its page."""
    import asyncio

    async def record() -> None:
        app = create_app(gateway.settings)
        async with app.router.lifespan_context(app):
            event: Any = IncidentEvent(  # type: ignore[call-arg]
                request_id="req-guard", tenant_id="acme", user_id="u-2", direction="input",
                route="/v1/chat/completions", action="block", categories=[], terms=[],
                offsets=[], lexicon_version="sha256:00000000deadbeef", classifier=VERDICT,
            )
            await app.state.runtime.recorder.record(event)

    asyncio.run(record())
    assert admin_records(gateway, "incident")[0]["classifier"] == VERDICT
    with gateway.client() as c:
        login(c)
        rows = re.findall(r"/console/incidents/(\d+)", c.get("/console/incidents",
                                                               params={"q": "req-guard"}).text)
        detail = c.get(f"/console/incidents/{rows[0]}").text
    assert 'id="classifier"' in detail and 'id="classifier-safety">unsafe' in detail
    assert "&lt;img src=x onerror=alert(1)&gt;" in detail and "<img src=x" not in detail
