"""What every console response shares: templates, security headers, the session and CSRF gates.

Templates are Jinja2 with autoescaping on for every file (stored text is hostile until proven
otherwise). Every response carries a strict Content-Security-Policy (scripts and styles only
from ``/console/static``; no inline script or style), ``no-store`` and anti-framing headers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

import lexicons
from service.admin_actions import Operator
from service.console.i18n import LANG_COOKIE, choose_language, translator
from service.console.sessions import (
    COOKIE,
    SECURE_COOKIE,
    Session,
    Sessions,
    same_token,
)
from service.deps import get_request_id
from service.errors import NotFound

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-store",
}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Lexicon manifests name the bundled sample by its directory: shown as "bundled sample".
_env.globals["bundled_dir"] = str(Path(lexicons.__file__).parent / "data")


class LoginRequired(Exception):
    """No valid session: pages redirect to the login page, fragments get 401."""


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token, or from another site."""


async def console_enabled(request: Request) -> None:
    """``[console] enabled = false`` removes the console (404 like any unknown path)."""
    if not request.app.state.runtime.settings.console.enabled:
        raise NotFound("Not Found.")


def sessions_for(request: Request) -> Sessions | None:
    """The session signer for the current settings (rebuilt after a reload changes them)."""
    settings = request.app.state.runtime.settings
    cached = getattr(request.app.state, "console_sessions", None)
    if cached is None or cached[0] is not settings:
        cached = (settings, Sessions.for_settings(settings))
        request.app.state.console_sessions = cached
    return cached[1]


def secure_request(request: Request) -> bool:
    mode = request.app.state.runtime.settings.console.cookie_secure
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if secure_request(request) else COOKIE


def read_session(request: Request) -> Session | None:
    sessions = sessions_for(request)
    if sessions is None:
        return None
    session = sessions.read(request.cookies.get(cookie_name(request)))
    if session is not None:
        request.state.console_session = session
    return session


async def get_session(request: Request) -> Session:
    session = read_session(request)
    if session is None:
        raise LoginRequired()
    return session


SessionDep = Annotated[Session, Depends(get_session)]


def same_site(request: Request) -> bool:
    """False when the browser says the request comes from another site.

    Browsers send ``Sec-Fetch-Site`` (computed by the browser, so a TLS-terminating proxy
    cannot confuse it); older ones only ``Origin``, compared by host and port.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.url.netloc


async def check_csrf(request: Request, session: SessionDep) -> Session:
    """The session, when the request carries its CSRF token and comes from this site."""
    token = request.headers.get("x-csrf-token")
    if token is None and request.method == "POST":
        form = await request.form(max_files=1, max_fields=30)
        value = form.get("csrf")
        token = value if isinstance(value, str) else None
    if not same_site(request) or not same_token(token, session.csrf):
        raise CsrfRefused()
    return session


CsrfDep = Annotated[Session, Depends(check_csrf)]


def operator(request: Request, session: Session) -> Operator:
    return Operator(f"console:{session.operator}", "console", get_request_id(request))


def language(request: Request) -> str:
    return choose_language(request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE))


def is_fragment(request: Request) -> bool:
    """An htmx or fetch request that wants only a part of the page."""
    if request.headers.get("hx-history-restore-request") == "true":
        return False  # htmx restoring history wants the whole page
    return request.headers.get("hx-request") == "true" or "x-console-fragment" in request.headers


def finish(request: Request, response: Response) -> Response:
    """Add the security headers and, when due, the re-signed session cookie (idle timeout)."""
    response.headers.update(SECURITY_HEADERS)
    session: Session | None = getattr(request.state, "console_session", None)
    sessions = sessions_for(request)
    if session is not None and sessions is not None and sessions.refresh_due(session):
        set_session_cookie(request, response, sessions.refreshed(session))
    return response


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    sessions = sessions_for(request)
    max_age = int(sessions.lifetime_s) if sessions is not None else None
    response.set_cookie(
        cookie_name(request),
        value,
        max_age=max_age,
        path="/",
        secure=secure_request(request),
        httponly=True,
        samesite="strict",
    )


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """Render ``template`` with the shared context (language, operator, CSRF token)."""
    lang = language(request)
    session: Session | None = getattr(request.state, "console_session", None)
    html = _env.get_template(template).render(
        _=translator(lang),
        lang=lang,
        session=session,
        csrf=session.csrf if session is not None else "",
        path=request.url.path,
        here=_here(request),
        **context,
    )
    return finish(request, HTMLResponse(html, status_code=status))


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def redirect(request: Request, url: str) -> Response:
    """303 to a console URL (after a POST)."""
    return finish(request, RedirectResponse(safe_next(url), status_code=303))


def safe_next(url: str | None) -> str:
    """Only console paths on this site: never an open redirect."""
    if not url or not url.startswith("/console") or url.startswith("//") or "\\" in url:
        return "/console"
    return url


def login_redirect(request: Request) -> Response:
    if is_fragment(request) or request.method != "GET":
        response = render(request, "login_needed.html", status=401)
        response.headers["hx-redirect"] = "/console"
        return response
    return finish(
        request, RedirectResponse("/console?next=" + quote(_here(request)), status_code=303)
    )
