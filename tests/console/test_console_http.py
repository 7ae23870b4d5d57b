"""The console over HTTP against a real gateway: the login contract, sessions, CSRF, escaping,
headers, recorded actions, and the same results on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from tests.console.conftest import (
    ADMIN_TOKEN,
    ALLOW_PHRASE,
    FALSE_BLOCK_TEXT,
    HOSTILE,
    Gateway,
    admin_records,
    console_settings,
    csrf_of,
    login,
    seed,
)
from tests.support.server import serve

PAGES = [
    "/console/incidents",
    "/console/complaints",
    "/console/lexicons",
    "/console/labels",
    "/console/users",
    "/console/users/detail?tenant=acme&user=u-1",
    "/console/incidents.csv",
    "/console/incidents/1",
    "/console/lexicons/diff?old=a&new=b",
    "/console/lexicons/versions/sha256:0000000000000000",
]


def test_login_page_without_session(sqlite_gateway: Gateway) -> None:
    """Contract: GET /console without a session is an HTML login page with a password field."""
    with sqlite_gateway.client() as c:
        r = c.get("/console")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    token_input = re.search(r'<input[^>]*name="token"[^>]*>', r.text)
    assert token_input and 'type="password"' in token_input.group(0)
    assert "set-cookie" in r.headers and "aigc-console-login" in r.headers["set-cookie"]


def test_no_record_without_session(gateway: Gateway) -> None:
    """Every page and fragment redirects or refuses; none shows a stored record."""
    seeded = seed(gateway)
    with gateway.client() as c:
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 303, (path, r.status_code)
            assert r.headers["location"].startswith("/console?next=")
            assert seeded["request_id"] not in r.text
            frag = c.get(path, headers={"hx-request": "true"})
            assert frag.status_code == 401 and frag.headers["hx-redirect"] == "/console"
            assert seeded["request_id"] not in frag.text and "冰毒" not in frag.text
        home = c.get("/console?window=day", headers={"hx-request": "true"})
        assert home.status_code == 200 and 'type="password"' in home.text
        assert seeded["request_id"] not in home.text and 'id="tile-requests"' not in home.text
        for path in ["/console/complaints/X/resolve", "/console/lexicons/try", "/console/users/lift"]:
            r = c.post(path, data={"text": FALSE_BLOCK_TEXT})
            assert r.status_code == 401, path
        # A forged cookie is no session either.
        c.cookies.set("aigc-console", "eyJzaWQiOiJ4Iiwib3AiOiJ4IiwiaWF0IjoxfQ.Zz.forged")
        assert c.get("/console/incidents").status_code == 303


def test_wrong_token_refused_and_recorded(sqlite_gateway: Gateway) -> None:
    with sqlite_gateway.client() as c:
        r = login(c, token="not-the-admin-token-at-all")
        assert r.status_code == 401
        assert "login-error" in r.text
        assert "aigc-console" not in c.cookies
        assert c.get("/console/incidents").status_code == 303
    failed = [a for a in admin_records(sqlite_gateway, "admin_action")
              if a["action"] == "console.login_failed"]
    assert len(failed) == 1 and failed[0]["actor"] == "console:alice"


def test_login_without_nonce_refused(sqlite_gateway: Gateway) -> None:
    with sqlite_gateway.client() as c:
        r = c.post("/console/login", data={"operator": "a", "token": ADMIN_TOKEN})
        assert r.status_code == 403
        assert "aigc-console" not in c.cookies


def test_login_sets_strict_httponly_cookie(sqlite_gateway: Gateway) -> None:
    with sqlite_gateway.client() as c:
        r = login(c)
        assert r.status_code == 303 and r.headers["location"] == "/console"
        cookie = next(v for k, v in r.headers.multi_items()
                      if k == "set-cookie" and v.startswith("aigc-console="))
        attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert "httponly" in attrs and "samesite=strict" in attrs and "path=/" in attrs
        assert "secure" not in attrs  # plain HTTP on loopback (cookie_secure = "auto")
        assert c.get("/console").status_code == 200


def test_secure_cookie_when_configured(tmp_path: Path) -> None:
    settings = console_settings(tmp_path / "var", None, console={"cookie_secure": "always"})
    with serve(create_app(settings)) as url, httpx.Client(base_url=url) as c:
        r = login(c)
        cookie = next(v for k, v in r.headers.multi_items()
                      if k == "set-cookie" and "aigc-console=" in v and "login" not in v)
        assert cookie.startswith("__Host-aigc-console=")
        assert "secure" in cookie.lower()


def test_csrf_token_required(gateway: Gateway) -> None:
    seeded = seed(gateway)
    with gateway.client() as c:
        login(c)
        page = c.get("/console/complaints")
        token = csrf_of(page.text)
        url = f"/console/complaints/{seeded['ticket']}/resolve"
        form = {"outcome": "ok", "upheld": "yes"}
        assert c.post(url, data=form).status_code == 403
        assert c.post(url, data={**form, "csrf": "0" * 64}).status_code == 403
        cross = c.post(url, data={**form, "csrf": token}, headers={"sec-fetch-site": "cross-site"})
        assert cross.status_code == 403
        other_origin = c.post(url, data={**form, "csrf": token},
                              headers={"origin": "http://evil.example"})
        assert other_origin.status_code == 403
        ticket = c.get(f"/complaints/{seeded['ticket']}").json()
        assert ticket["status"] == "open"
        done = c.post(url, data={**form, "csrf": token})
        assert done.status_code == 303
        assert c.get(f"/complaints/{seeded['ticket']}").json()["status"] == "resolved"


def test_security_headers_on_console_responses(sqlite_gateway: Gateway) -> None:
    with sqlite_gateway.client() as c:
        responses = [c.get("/console"), c.get("/console/static/console.js")]
        login(c)
        responses += [c.get(p) for p in ["/console", "/console/lexicons", "/console/incidents"]]
    for r in responses:
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    for r in responses[2:]:
        assert r.headers["cache-control"] == "no-store"
        # No inline script or style anywhere in a page.
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text)
        assert " style=" not in r.text and "<style" not in r.text


def test_hostile_stored_text_is_escaped(gateway: Gateway) -> None:
    seed(gateway)
    hostile_user = '"><svg onload=alert(2)>'
    with gateway.client() as c:
        c.post("/moderate", json={"text": f"{HOSTILE} 远离冰毒"},
               headers={"authorization": "Bearer sk-acme-console-test-key",
                        "x-aigc-user": hostile_user})
        login(c)
        pages = [c.get("/console/complaints"), c.get("/console/incidents"),
                 c.get("/console/users")]
        rows = re.findall(r"/console/incidents/(\d+)", pages[1].text)
        assert rows
        pages += [c.get(f"/console/incidents/{seq}") for seq in rows]
    text = "".join(p.text for p in pages)
    assert "<script>alert" not in text and "<img src=x" not in text and "<svg onload" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text  # the complaint, as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text  # the stored excerpt, as text
    assert "&lt;svg onload=alert(2)&gt;" in text  # the user id


def test_console_actions_are_recorded_like_admin_api(gateway: Gateway) -> None:
    seeded = seed(gateway)
    with gateway.client() as c:
        login(c, operator="王五")
        token = csrf_of(c.get("/console/complaints").text)
        r = c.post(f"/console/complaints/{seeded['ticket']}/assign",
                   data={"csrf": token, "assignee": "王五"})
        assert r.status_code == 303
        r = c.post("/console/lexicons/reload", data={"csrf": token})
        assert r.status_code == 303 and r.headers["location"].endswith("ok=reloaded")
        api = c.post("/admin/reload", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        assert api.status_code == 200
    actions = admin_records(gateway, "admin_action")
    by = {(a["actor"], a["action"]) for a in actions}
    assert ("console:王五", "console.login") in by
    assert ("console:王五", "complaint.assign") in by
    assert ("console:王五", "lexicon.reload") in by
    assert ("admin-token", "lexicon.reload") in by
    assign = next(a for a in actions if a["action"] == "complaint.assign")
    assert assign["target"] == seeded["ticket"] and assign["tenant_id"] == "acme"
    assert assign["details"]["via"] == "console" and assign["request_id"]


def test_allow_phrase_through_console_ends_the_false_block(gateway: Gateway) -> None:
    seeded = seed(gateway)
    with gateway.client() as c:
        login(c)
        token = csrf_of(c.get("/console/complaints").text)
        tried = c.post("/console/lexicons/try", headers={"hx-request": "true"},
                       data={"csrf": token, "text": FALSE_BLOCK_TEXT, "tenant": "acme",
                             "direction": "input"})
        assert 'data-action="block"' in tried.text
        r = c.post(f"/console/complaints/{seeded['ticket']}/resolve",
                   data={"csrf": token, "outcome": "宣传用语，误拦截", "upheld": "yes",
                         "allow_phrase": ALLOW_PHRASE})
        assert r.headers["location"].endswith("ok=resolved_phrase")
        assert c.post("/console/lexicons/reload", data={"csrf": token}).status_code == 303
        tried = c.post("/console/lexicons/try", headers={"hx-request": "true"},
                       data={"csrf": token, "text": FALSE_BLOCK_TEXT, "tenant": "acme",
                             "direction": "input"})
        assert 'data-action="allow"' in tried.text
    resolved = [a for a in admin_records(gateway, "admin_action")
                if a["action"] == "complaint.resolve"]
    assert resolved[0]["details"]["allow_phrase"] == ALLOW_PHRASE
    assert resolved[0]["details"]["upheld"] is True


def test_incident_filters_and_csv(gateway: Gateway) -> None:
    seeded = seed(gateway)
    with gateway.client() as c:
        c.post("/moderate", json={"text": "今天天气很好，网上赌场不行", "direction": "output"},
               headers={"authorization": "Bearer sk-acme-console-test-key"})
        login(c)

        def seqs(**params: str) -> list[str]:
            return re.findall(r"/console/incidents/(\d+)", c.get("/console/incidents",
                                                                  params=params).text)

        everything = seqs()
        assert len(everything) == 2
        assert len(seqs(direction="input")) == 1 and len(seqs(direction="output")) == 1
        assert len(seqs(q=seeded["request_id"])) == 1
        assert len(seqs(q="网上赌场")) == 1
        assert seqs(q="50%_") == []  # LIKE wildcards are literal
        assert len(seqs(tenant="acme", action="block")) == 2
        assert seqs(tenant="nobody") == []
        assert seqs(since="2999-01-01") == []
        assert len(seqs(category="a1")) == 2
        bad = c.get("/console/incidents", params={"since": "yesterday"})
        assert bad.status_code == 200 and "ISO 8601" in bad.text
        csv_text = c.get("/console/incidents.csv", params={"direction": "output"}).text
        import csv
        import io

        rows = list(csv.DictReader(io.StringIO(csv_text)))
        assert len(rows) == 1 and rows[0]["direction"] == "output" and rows[0]["kind"] == "incident"
        detail = c.get(f"/console/incidents/{everything[-1]}").text
        assert re.search(r'<mark class="act-block" title="冰毒">\*\*</mark>', detail)
    exports = [a for a in admin_records(gateway, "admin_action") if a["action"] == "incidents.export"]
    assert exports and exports[0]["details"]["filters"] == {"direction": "output"}


def test_users_page_and_lift(gateway: Gateway) -> None:
    seed(gateway)
    with gateway.client() as c:
        login(c)
        listing = c.get("/console/users").text
        assert "u-1" in listing and "level-warning" in listing
        detail = c.get("/console/users/detail", params={"tenant": "acme", "user": "u-1"}).text
        token = csrf_of(detail)
        assert 'id="user-level">warning' in detail
        missing = c.post("/console/users/lift", data={"csrf": token, "tenant": "acme", "user": "u-1"})
        assert missing.status_code == 422 and "reason" in missing.text
        r = c.post("/console/users/lift",
                   data={"csrf": token, "tenant": "acme", "user": "u-1", "reason": "appeal upheld"})
        assert r.status_code == 303
        after = c.get(r.headers["location"]).text
        assert 'id="user-level">none' in after
        assert "sanction.lift" in after and "console:alice" in after
    api = httpx.get(f"{gateway.url}/admin/users/acme/u-1",
                    headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert api.json()["level"] == "none"


def test_overview_counts(gateway: Gateway) -> None:
    seed(gateway)
    with gateway.client() as c:
        login(c)
        page = c.get("/console").text
        day = c.get("/console?window=day").text
    for html in (page, day):
        assert re.search(r'id="tile-requests">(\d+)<', html).group(1) == "1"
        assert re.search(r'id="tile-blocks">(\d+)<', html).group(1) == "1"
        assert re.search(r'id="tile-backlog">(\d+)<', html).group(1) == "1"
    assert "<svg" in page and 'class="bar"' in page


def test_chain_verify_from_console(sqlite_gateway: Gateway) -> None:
    seed(sqlite_gateway)
    with sqlite_gateway.client() as c:
        login(c)
        token = csrf_of(c.get("/console").text)
        r = c.post("/console/chain/verify", data={"csrf": token}, headers={"hx-request": "true"})
        assert r.status_code == 200 and 'id="chain-ok"' in r.text


def test_language_from_browser_and_switch(sqlite_gateway: Gateway) -> None:
    with sqlite_gateway.client() as c:
        zh = c.get("/console", headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
        assert '<html lang="zh-CN">' in zh.text and "登录控制台" in zh.text
        en = c.get("/console", headers={"accept-language": "en-GB,en;q=0.9,zh;q=0.5"})
        assert '<html lang="en">' in en.text and "Sign in to the console" in en.text
        switched = c.get("/console/lang/zh-CN", params={"next": "/console/incidents"})
        assert switched.status_code == 303 and switched.headers["location"] == "/console/incidents"
        assert "登录控制台" in c.get("/console", headers={"accept-language": "en"}).text
        evil = c.get("/console/lang/en", params={"next": "//evil.example/x"})
        assert evil.headers["location"] == "/console"


def test_session_idles_out(tmp_path: Path) -> None:
    settings = console_settings(tmp_path / "var", None, console={"idle_minutes": 0.02})
    with serve(create_app(settings)) as url, httpx.Client(base_url=url) as c:
        login(c)
        assert c.get("/console/incidents").status_code == 200
        time.sleep(2.5)  # past the 1.2 s idle timeout (not a speed assertion)
        assert c.get("/console/incidents").status_code == 303


def test_logout_ends_the_session(sqlite_gateway: Gateway) -> None:
    with sqlite_gateway.client() as c:
        login(c)
        token = csrf_of(c.get("/console").text)
        r = c.post("/console/logout", data={"csrf": token})
        assert r.status_code == 303
        assert "aigc-console" not in c.cookies
        assert c.get("/console/incidents").status_code == 303


def test_sessions_shared_by_workers_and_ended_by_a_new_token(tmp_path: Path) -> None:
    """Two apps (two workers) with the same token accept each other's sessions; a changed
    token ends them."""
    a = console_settings(tmp_path / "a", None)
    b = console_settings(tmp_path / "b", None)
    c_settings = console_settings(tmp_path / "c", None, admin_token="another-admin-token-987654321")
    with serve(create_app(a)) as url_a, serve(create_app(b)) as url_b, \
            serve(create_app(c_settings)) as url_c:
        with httpx.Client(base_url=url_a) as ca:
            login(ca)
            cookie = ca.cookies["aigc-console"]
        for url, ok in ((url_b, 200), (url_c, 303)):
            with httpx.Client(base_url=url, cookies={"aigc-console": cookie}) as other:
                assert other.get("/console/incidents").status_code == ok


def test_console_disabled(tmp_path: Path) -> None:
    settings = console_settings(tmp_path / "var", None, console={"enabled": False})
    with serve(create_app(settings)) as url, httpx.Client(base_url=url) as c:
        assert c.get("/console").status_code == 404
        assert c.get("/console/static/htmx.min.js").status_code == 404
        assert c.post("/console/login", data={}).status_code == 404


def test_without_admin_token_no_sign_in(tmp_path: Path) -> None:
    settings = console_settings(tmp_path / "var", None, admin_token=None)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url) as c:
        page = c.get("/console")
        assert page.status_code == 200 and "admin_token" in page.text
        assert login(c, token="").status_code == 403


def test_label_and_inspect_over_http(sqlite_gateway: Gateway) -> None:
    from io import BytesIO

    from PIL import Image

    from labelers import inspect_file

    buf = BytesIO()
    Image.new("RGB", (400, 300), "white").save(buf, "PNG")
    with sqlite_gateway.client() as c:
        login(c)
        token = csrf_of(c.get("/console/labels").text)
        r = c.post("/console/labels/label", data={"tenant": "acme"},
                   files={"file": ("photo.png", buf.getvalue(), "image/png")},
                   headers={"x-csrf-token": token})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert "photo.png" in r.headers["content-disposition"]
        assert inspect_file(r.content, filename="photo.png").compliant
        report = c.post("/console/labels/inspect", headers={"x-csrf-token": token,
                                                          "x-console-fragment": "1"},
                        files={"file": ("photo.png", r.content, "image/png")})
        assert 'data-compliant="true"' in report.text and "<html" not in report.text
        bad = c.post("/console/labels/inspect", headers={"x-csrf-token": token},
                     files={"file": ("x.bin", b"\x00not a file", "application/octet-stream")})
        assert bad.status_code in (415, 422) and 'id="label-error"' in bad.text
    deliveries = admin_records(sqlite_gateway, "label_delivery")
    assert len(deliveries) == 1 and deliveries[0]["tenant_id"] == "acme"


@pytest.mark.parametrize("path", ["/console/static/htmx.min.js", "/console/static/console.css"])
def test_static_files_public_and_bounded(sqlite_gateway: Gateway, path: str) -> None:
    with sqlite_gateway.client() as c:
        assert c.get(path).status_code == 200
        assert c.get("/console/static/../app.py").status_code == 404
        assert c.get("/console/static/htmx.LICENSE").status_code == 404
