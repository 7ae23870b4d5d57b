"""Console sessions: a signed cookie, CSRF tokens, login throttling.

A session is a cookie signed with a key derived from ``console.secret`` or, by default, from
the admin token (HMAC-SHA256 with a fixed label): no server-side state, so every worker and
every replica configured with the same token accepts it, and changing the token (or the
secret) ends every session at once. The cookie carries a random session id, the operator's
name and the login time; its signature's timestamp is refreshed as the operator works, so it
expires after ``idle_minutes`` without a request and ``session_hours`` after login whatever
happens. The price of statelessness: logout deletes the cookie in that browser but cannot
revoke a copy of it; a copied cookie stays valid until it idles out (rotate the secret or the
admin token to end all sessions). The cookie is HttpOnly and SameSite=Strict, and Secure when
the console is reached over TLS (``console.cookie_secure``).

CSRF: every form carries ``csrf`` (and htmx/fetch requests the ``X-CSRF-Token`` header), an
HMAC of the session id; the login form, before any session exists, carries a random nonce
that must equal its short-lived cookie (double submit). Requests whose ``Origin`` or
``Sec-Fetch-Site`` says they come from another site are refused as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

COOKIE = "aigc-console"
SECURE_COOKIE = "__Host-aigc-console"  # __Host-: Secure, path /, no Domain attribute
LOGIN_COOKIE = "aigc-console-login"
LOGIN_NONCE_SECONDS = 30 * 60
REFRESH_AFTER_S = 60  # re-sign the cookie at most once a minute
_KEY_LABEL = b"aigc-gateway console session v1"


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    operator: str
    issued: int  # login time, epoch seconds
    signed: float  # when the cookie was last signed (sliding idle timeout)
    csrf: str


def session_key(settings: Any) -> bytes | None:
    """The signing key, or None when no admin token (and no secret) is configured."""
    console = settings.console
    secret = console.secret or settings.admin_token
    if secret is None:
        return None
    return hmac.new(secret.get_secret_value().encode(), _KEY_LABEL, hashlib.sha256).digest()


class Sessions:
    """Issue and check session cookies for the current settings."""

    def __init__(self, key: bytes, *, idle_s: float, lifetime_s: float) -> None:
        self._key = key
        self._signer = URLSafeTimedSerializer(key, salt="aigc-gateway.console.session")
        self.idle_s = idle_s
        self.lifetime_s = lifetime_s

    @classmethod
    def for_settings(cls, settings: Any) -> Sessions | None:
        key = session_key(settings)
        if key is None:
            return None
        c = settings.console
        return cls(key, idle_s=c.idle_minutes * 60, lifetime_s=c.session_hours * 3600)

    def csrf_for(self, sid: str) -> str:
        return hmac.new(self._key, b"csrf\x00" + sid.encode(), hashlib.sha256).hexdigest()

    def issue(self, operator: str, *, sid: str | None = None, issued: int | None = None) -> str:
        """A new cookie value (login), or a re-signed one for an existing session."""
        payload = {
            "sid": sid or secrets.token_urlsafe(18),
            "op": operator,
            "iat": int(time.time()) if issued is None else issued,
        }
        return self._signer.dumps(payload)

    def read(self, value: str | None) -> Session | None:
        """The session in a cookie value; None when absent, forged, idle or too old."""
        if not value:
            return None
        try:
            payload, signed = self._signer.loads(
                value, max_age=int(self.idle_s), return_timestamp=True
            )
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(payload, dict):
            return None
        sid, op, iat = payload.get("sid"), payload.get("op"), payload.get("iat")
        if not (isinstance(sid, str) and isinstance(op, str) and isinstance(iat, int)):
            return None
        if time.time() - iat > self.lifetime_s:
            return None
        return Session(sid, op, iat, signed.timestamp(), self.csrf_for(sid))

    def refresh_due(self, session: Session) -> bool:
        return time.time() - session.signed >= REFRESH_AFTER_S

    def refreshed(self, session: Session) -> str:
        return self.issue(session.operator, sid=session.sid, issued=session.issued)


def new_login_nonce() -> str:
    return secrets.token_urlsafe(18)


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of two tokens; False when either is missing."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class LoginThrottle:
    """At most ``per_minute`` failed logins per client address (per worker), sliding window."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, client: str, per_minute: int) -> bool:
        now = time.monotonic()
        hits = self._failures.get(client)
        if not hits:
            return False
        while hits and hits[0] <= now - 60:
            hits.popleft()
        return len(hits) >= per_minute

    def failed(self, client: str) -> None:
        now = time.monotonic()
        self._failures.setdefault(client, deque()).append(now)
        if len(self._failures) > 10_000:  # forget idle addresses
            self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > now - 60}
