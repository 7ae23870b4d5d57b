"""Session cookies, CSRF tokens, login throttling and language choice (no server needed)."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from service.config import load_settings
from service.console.i18n import choose_language
from service.console.sessions import LoginThrottle, Sessions, session_key

TOKEN = "unit-test-admin-token-0123456789"


def sessions(tmp_path, **console) -> Sessions:
    settings = load_settings(data_dir=tmp_path, admin_token=TOKEN, console=console)
    made = Sessions.for_settings(settings)
    assert made is not None
    return made


def test_key_is_an_hmac_of_the_admin_token(tmp_path) -> None:
    settings = load_settings(data_dir=tmp_path, admin_token=TOKEN)
    expected = hmac.new(TOKEN.encode(), b"aigc-gateway console session v1", hashlib.sha256)
    assert session_key(settings) == expected.digest()
    secret = "s" * 40
    with_secret = load_settings(data_dir=tmp_path, admin_token=TOKEN, console={"secret": secret})
    assert session_key(with_secret) == hmac.new(
        secret.encode(), b"aigc-gateway console session v1", hashlib.sha256
    ).digest()
    assert session_key(load_settings(data_dir=tmp_path)) is None


def test_round_trip_and_csrf(tmp_path) -> None:
    s = sessions(tmp_path)
    value = s.issue("李四")
    session = s.read(value)
    assert session is not None and session.operator == "李四"
    key = session_key(load_settings(data_dir=tmp_path, admin_token=TOKEN))
    expected = hmac.new(key, b"csrf\x00" + session.sid.encode(), hashlib.sha256).hexdigest()
    assert session.csrf == expected
    other = s.read(s.issue("李四"))
    assert other is not None and other.sid != session.sid and other.csrf != session.csrf


@pytest.mark.parametrize("mangle", [
    lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),
    lambda v: "x" + v,
    lambda v: v.split(".")[0],
    lambda v: "",
    lambda v: "..",
])
def test_tampered_cookies_are_no_session(tmp_path, mangle) -> None:
    s = sessions(tmp_path)
    assert s.read(mangle(s.issue("a"))) is None


def test_other_token_or_secret_rejects(tmp_path) -> None:
    value = sessions(tmp_path).issue("a")
    other = Sessions.for_settings(
        load_settings(data_dir=tmp_path, admin_token="a-different-admin-token-123")
    )
    assert other is not None and other.read(value) is None
    assert sessions(tmp_path, secret="z" * 32).read(value) is None


def test_idle_and_absolute_expiry(tmp_path, monkeypatch) -> None:
    s = sessions(tmp_path, idle_minutes=30, session_hours=8)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now)
    value = s.issue("a")
    monkeypatch.setattr(time, "time", lambda: now + 29 * 60)
    session = s.read(value)
    assert session is not None and s.refresh_due(session)
    refreshed = s.refreshed(session)  # re-signed: idle clock restarts
    monkeypatch.setattr(time, "time", lambda: now + 31 * 60)
    assert s.read(value) is None  # the old cookie idled out
    again = s.read(refreshed)
    assert again is not None and again.sid == session.sid and again.issued == session.issued
    # Refreshing cannot extend a session past its lifetime.
    t = now
    while t < now + 8 * 3600 - 60:
        t += 25 * 60
        monkeypatch.setattr(time, "time", lambda t=t: t)
        current = s.read(refreshed)
        if current is None:
            break
        refreshed = s.refreshed(current)
    monkeypatch.setattr(time, "time", lambda: now + 8 * 3600 + 1)
    assert s.read(refreshed) is None


def test_login_throttle() -> None:
    throttle = LoginThrottle()
    for _ in range(3):
        assert not throttle.blocked("1.2.3.4", 3)
        throttle.failed("1.2.3.4")
    assert throttle.blocked("1.2.3.4", 3)
    assert not throttle.blocked("5.6.7.8", 3)


@pytest.mark.parametrize(
    ("header", "cookie", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh-CN"),
        ("zh-TW", None, "zh-CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", None, "en"),
        ("fr-FR,zh;q=0.5,en;q=0.4", None, "zh-CN"),
        ("fr-FR", None, "en"),
        ("", None, "en"),
        (None, None, "en"),
        ("zh;q=0,en", None, "en"),
        ("zh;q=bogus,en;q=0.1", None, "en"),
        ("en", "zh-CN", "zh-CN"),
        ("zh-CN", "en", "en"),
        ("zh-CN", "de", "zh-CN"),
    ],
)
def test_language_choice(header, cookie, expected) -> None:
    assert choose_language(header, cookie) == expected
