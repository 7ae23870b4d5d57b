"""``/console``: the operator console (server-rendered pages; the pieces live in service/console).

Without a session ``GET /console`` is the login page (admin token as a password field) and
every other page redirects there; no page or fragment shows a record without a session.
Actions go through ``service.admin_actions`` (the admin API's code path) and are recorded;
forms post back and redirect (no JavaScript needed), htmx swaps fragments where it helps.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import FileResponse, Response, StreamingResponse

from service import admin_actions
from service.console import queries, versions
from service.console.i18n import LANG_COOKIE, LANGS
from service.console.sessions import (
    LOGIN_COOKIE,
    LOGIN_NONCE_SECONDS,
    LoginThrottle,
    new_login_nonce,
    same_token,
)
from service.console.views import (
    incident_view,
    inspect_view,
    lexicon_view,
    overview_view,
    tenant_for,
    try_view,
)
from service.console.web import (
    STATIC,
    CsrfDep,
    CsrfRefused,
    LoginRequired,
    SessionDep,
    console_enabled,
    cookie_name,
    finish,
    is_fragment,
    login_redirect,
    operator,
    read_session,
    redirect,
    render,
    safe_next,
    same_site,
    secure_request,
    sessions_for,
    set_session_cookie,
)
from service.deps import admin_token_matches
from service.errors import GatewayError, NotFound, ValidationFailed
from service.label_delivery import file_response, in_thread, read_upload, record_delivery
from service.records.chain import parse_utc
from service.records.complaints import allowlist_file
from service.records.exporting import CSV_COLUMNS

router = APIRouter(
    prefix="/console", include_in_schema=False, dependencies=[Depends(console_enabled)]
)

STATIC_FILES = {
    "htmx.min.js": "text/javascript",
    "console.js": "text/javascript",
    "console.css": "text/css",
}
# Success notices after a redirect: the query names one of these keys, never free text.
NOTICES = ("assigned", "resolved", "resolved_phrase", "lifted", "reloaded", "logged_out")


def install(app: Any) -> None:
    async def on_login_required(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(request)

    async def on_csrf(request: Request, exc: CsrfRefused) -> Response:
        return render(request, "refused.html", status=403)

    app.add_exception_handler(LoginRequired, on_login_required)
    app.add_exception_handler(CsrfRefused, on_csrf)


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


def _notice(request: Request) -> str | None:
    ok = request.query_params.get("ok")
    return ok if ok in NOTICES else None


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- static, language, login ---------------------------------------------------------------


@router.get("/static/{name}")
async def static(name: str, request: Request) -> Response:
    media = STATIC_FILES.get(name)
    if media is None:
        raise NotFound("Not Found.")
    response = FileResponse(STATIC / name, media_type=media)
    finish(request, response)
    response.headers["cache-control"] = "public, max-age=3600"
    return response


@router.get("/lang/{lang}")
async def set_language(lang: str, request: Request, next: str | None = None) -> Response:
    response = redirect(request, safe_next(next))
    if lang in LANGS:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, path="/console", samesite="strict"
        )
    return response


def _login_page(
    request: Request, status: int = 200, error: str | None = None, next: str | None = None
) -> Response:
    nonce = new_login_nonce()
    response = render(
        request,
        "login.html",
        status=status,
        nonce=nonce,
        error=error,
        next=safe_next(next or request.query_params.get("next")),
        no_token=sessions_for(request) is None,
        logged_out=_notice(request) == "logged_out",
        secure=secure_request(request),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_NONCE_SECONDS,
        path="/console",
        httponly=True,
        samesite="strict",
        # the nonce is no credential: Secure only when this very request came over TLS
        secure=request.url.scheme == "https",
    )
    return response


@router.get("")
async def console_home(request: Request, window: str = "hour") -> Response:
    """The overview with a session, else the login page."""
    if read_session(request) is None:
        return _login_page(request)
    runtime = _runtime(request)
    view = await overview_view(request.app, runtime, window)
    return render(request, "overview.html", nav="overview", **view)


@router.post("/login")
async def login(request: Request) -> Response:
    runtime = _runtime(request)
    form = await request.form(max_files=0, max_fields=10)
    nonce = form.get("nonce")
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not isinstance(nonce, str) or not same_token(nonce, cookie) or not same_site(request):
        raise CsrfRefused()
    next_url = str(form.get("next") or "")
    sessions = sessions_for(request)
    if sessions is None:
        return _login_page(request, 403, "no_token", next_url)
    throttle = _throttle(request)
    client = _client(request)
    if throttle.blocked(client, runtime.settings.console.login_attempts_per_minute):
        return _login_page(request, 429, "throttled", next_url)
    name = str(form.get("operator") or "").strip()
    token = form.get("token")
    if not name or len(name) > 64 or not name.isprintable():
        return _login_page(request, 422, "operator", next_url)
    if not isinstance(token, str) or not admin_token_matches(runtime.settings, token):
        throttle.failed(client)
        await admin_actions.record_action(
            runtime,
            admin_actions.Operator(f"console:{name}", "console"),
            "console.login_failed",
            name,
            client=client,
        )
        return _login_page(request, 401, "token", next_url)
    value = sessions.issue(name)
    session = sessions.read(value)
    if session is None:  # cannot happen: the cookie was signed just now
        raise RuntimeError("a new console session could not be read back")
    request.state.console_session = session
    await admin_actions.record_action(
        runtime, operator(request, session), "console.login", name, client=client
    )
    response = redirect(request, safe_next(next_url))
    set_session_cookie(request, response, value)
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


def _throttle(request: Request) -> LoginThrottle:
    throttle = getattr(request.app.state, "console_throttle", None)
    if throttle is None:
        throttle = request.app.state.console_throttle = LoginThrottle()
    return throttle


@router.post("/logout")
async def logout(request: Request, session: CsrfDep) -> Response:
    await admin_actions.record_action(
        _runtime(request), operator(request, session), "console.logout", session.operator
    )
    request.state.console_session = None
    response = redirect(request, "/console?ok=logged_out")
    response.delete_cookie(cookie_name(request), path="/")
    return response


# --- overview ------------------------------------------------------------------------------


@router.post("/chain/verify")
async def verify_chain(request: Request, session: CsrfDep) -> Response:
    """Walk every hash chain now (can take a while on a large database)."""
    runtime = _runtime(request)
    recorder = runtime.recorder
    await recorder.flush()
    checked, problems = await recorder.verify()
    result = {
        "checked": checked,
        "problems": [str(p) for p in problems[:50]],
        "more": max(0, len(problems) - 50),
        "at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    request.app.state.console_chain = result
    await admin_actions.record_action(
        runtime,
        operator(request, session),
        "records.verify",
        "chain",
        checked=checked,
        problems=len(problems),
    )
    if is_fragment(request):
        return render(request, "_chain.html", chain=result)
    return redirect(request, "/console")


# --- incidents -----------------------------------------------------------------------------


def _incident_query(request: Request) -> tuple[queries.IncidentQuery, dict[str, str]]:
    params = {k: v.strip() for k, v in request.query_params.items() if v.strip()}
    action = params.get("action")
    direction = params.get("direction")
    if action is not None and action not in queries.ACTIONS:
        raise ValidationFailed("unknown action")
    if direction is not None and direction not in queries.DIRECTIONS:
        raise ValidationFailed("unknown direction")
    before = params.get("before")
    query = queries.IncidentQuery(
        tenant=params.get("tenant"),
        category=params.get("category"),
        action=action,
        direction=direction,
        since=_time(params.get("since")),
        until=_time(params.get("until")),
        text=params.get("q"),
        before=int(before) if before and before.isdigit() else None,
    )
    return query, params


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_utc(value if "T" in value else value + "T00:00:00")
    except ValueError as exc:
        raise ValidationFailed("times are ISO 8601 dates or times, e.g. 2026-01-31T08:00") from exc


@router.get("/incidents")
async def incidents(request: Request, session: SessionDep) -> Response:
    runtime = _runtime(request)
    error = None
    rows: list[dict[str, Any]] = []
    params: dict[str, str] = {}
    try:
        query, params = _incident_query(request)
        await runtime.recorder.flush()
        rows = await queries.incidents(runtime.recorder, query)
    except GatewayError as exc:
        error = str(exc)
    more = {**params, "before": str(rows[-1]["seq"])} if len(rows) == queries.PAGE else None
    template = "_incident_rows.html" if is_fragment(request) else "incidents.html"
    return render(
        request,
        template,
        nav="incidents",
        rows=rows,
        params=params,
        more=more,
        error=error,
        tenants=_tenant_ids(runtime),
        categories=_category_names(runtime),
        category_names={c: (zh, en) for c, zh, en in _category_names(runtime)},
        actions=queries.ACTIONS,
        directions=queries.DIRECTIONS,
    )


@router.get("/incidents.csv")
async def incidents_csv(request: Request, session: SessionDep) -> Response:
    runtime = _runtime(request)
    query, params = _incident_query(request)
    await runtime.recorder.flush()
    await admin_actions.record_action(
        runtime,
        operator(request, session),
        "incidents.export",
        "incident",
        tenant_id=query.tenant or "",
        filters=params,
    )

    async def lines() -> AsyncIterator[str]:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        async for rec in queries.iter_incidents(runtime.recorder, query):
            writer.writerow({k: _cell(v) for k, v in rec.items()})
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()

    response = StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="aigc-gateway-incidents.csv"'},
    )
    return finish(request, response)


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


@router.get("/incidents/{seq}")
async def incident(seq: int, request: Request, session: SessionDep) -> Response:
    runtime = _runtime(request)
    rec = await queries.incident(runtime.recorder, seq)
    if rec is None:
        return render(request, "not_found.html", status=404, nav="incidents")
    terms = [str(t) for t in rec.get("terms") or []]
    then = await versions.terms_then(runtime, str(rec.get("lexicon_version") or ""), terms)
    return render(request, "incident.html", nav="incidents", **incident_view(runtime, rec, then))


# --- complaints ----------------------------------------------------------------------------

COMPLAINT_TABS = ("open", "assigned", "resolved", "all")


async def _complaints_page(
    request: Request, status_code: int = 200, error: str | None = None, failed: str | None = None
) -> Response:
    runtime = _runtime(request)
    tab = request.query_params.get("status", "unresolved")
    recorder = runtime.recorder
    rows: list[dict[str, Any]] = []
    overdue = 0
    try:
        if tab == "unresolved":
            for status in ("open", "assigned"):
                rows += await recorder.list_complaints(status=status, limit=500)
        else:
            status = None if tab == "all" else tab if tab in COMPLAINT_TABS else "open"
            rows = await recorder.list_complaints(status=status, limit=500)
        overdue = await recorder.overdue_complaints()
    except GatewayError as exc:
        error = error or str(exc)
    rows.sort(key=lambda r: (r["status"] == "resolved", r["deadline"], r["id"]))
    return render(
        request,
        "complaints.html",
        status=status_code,
        nav="complaints",
        rows=rows,
        tab=tab,
        overdue=overdue,
        error=error,
        failed=failed,
        notice=_notice(request),
        allow_dirs=_allowlist_in_force(runtime, rows),
    )


def _allowlist_in_force(runtime: Any, rows: list[dict[str, Any]]) -> dict[str, bool]:
    """Per tenant of a false-block ticket: whether its lexicon sets read its allow-list."""
    settings = runtime.settings
    root = runtime.recorder.allowlist_dir
    out: dict[str, bool] = {}
    for row in rows:
        tenant_id = row["tenant_id"]
        if row["kind"] != "false_block" or tenant_id in out:
            continue
        try:
            folder = allowlist_file(root, tenant_id).parent.resolve()
        except GatewayError:
            out[tenant_id] = False
            continue
        tenant = runtime.snapshot.tenants.get(tenant_id)
        sets = tenant.lexicon_sets if tenant is not None else ("default",)
        dirs = [d for s in sets if s != "default" for d in settings.lexicon_sets.get(s, [])]
        if "default" in sets:
            dirs += settings.lexicons
        out[tenant_id] = any(d.resolve() == folder for d in dirs)
    return out


@router.get("/complaints")
async def complaints(request: Request, session: SessionDep) -> Response:
    return await _complaints_page(request)


@router.post("/complaints/{ticket_id}/assign")
async def assign(ticket_id: str, request: Request, session: CsrfDep) -> Response:
    form = await request.form(max_files=0, max_fields=30)
    try:
        await admin_actions.assign_complaint(
            _runtime(request),
            operator(request, session),
            ticket_id,
            str(form.get("assignee") or "").strip() or session.operator,
        )
    except GatewayError as exc:
        return await _complaints_page(request, exc.status, str(exc), ticket_id)
    return redirect(request, "/console/complaints?ok=assigned")


@router.post("/complaints/{ticket_id}/resolve")
async def resolve(ticket_id: str, request: Request, session: CsrfDep) -> Response:
    form = await request.form(max_files=0, max_fields=30)
    upheld = form.get("upheld")
    phrase = str(form.get("allow_phrase") or "").strip() or None
    try:
        await admin_actions.resolve_complaint(
            _runtime(request),
            operator(request, session),
            ticket_id,
            outcome=str(form.get("outcome") or ""),
            upheld={"yes": True, "no": False}.get(str(upheld)),
            allow_phrase=phrase,
            assignee=str(form.get("assignee") or "").strip() or session.operator,
        )
    except GatewayError as exc:
        return await _complaints_page(request, exc.status, str(exc), ticket_id)
    done = "resolved_phrase" if phrase else "resolved"
    return redirect(request, f"/console/complaints?ok={done}")


# --- lexicons ------------------------------------------------------------------------------


async def _lexicons_page(request: Request, status: int = 200, **extra: Any) -> Response:
    runtime = _runtime(request)
    return render(
        request,
        "lexicons.html",
        status=status,
        nav="lexicons",
        notice=_notice(request),
        tenants=_tenant_ids(runtime),
        **lexicon_view(runtime),
        **await versions.versions_view(runtime),
        **{"error": None, "result": None, "form": {}, **extra},
    )


@router.get("/lexicons")
async def lexicons(request: Request, session: SessionDep) -> Response:
    return await _lexicons_page(request)


@router.get("/lexicons/diff")
async def lexicon_diff(
    request: Request, session: SessionDep, old: str = "", new: str = ""
) -> Response:
    """The changes between two recorded lexicon versions."""
    runtime = _runtime(request)
    try:
        view = await versions.diff_view(runtime, old.strip(), new.strip())
    except versions.ManifestUnreadable as exc:
        return render(
            request,
            "lexicon_diff.html",
            status=500,
            nav="lexicons",
            error=str(exc),
            old=old,
            new=new,
            diff=None,
            missing=[],
        )
    status = 404 if view["missing"] else 200
    return render(request, "lexicon_diff.html", status=status, nav="lexicons", error=None, **view)


@router.get("/lexicons/versions/{version}")
async def lexicon_version(
    version: str, request: Request, session: SessionDep, q: str = "", category: str = ""
) -> Response:
    """One recorded lexicon version: its terms (filtered), categories and allow-list."""
    runtime = _runtime(request)
    try:
        view = await versions.version_view(runtime, version, q, category)
    except versions.ManifestUnreadable as exc:
        return render(request, "not_found.html", status=500, nav="lexicons", error=str(exc))
    if view is None:
        return render(request, "not_found.html", status=404, nav="lexicons")
    return render(request, "lexicon_version.html", nav="lexicons", version=version, **view)


@router.post("/lexicons/reload")
async def reload(request: Request, session: CsrfDep) -> Response:
    try:
        await admin_actions.reload(_runtime(request), operator(request, session))
    except GatewayError as exc:
        return await _lexicons_page(request, exc.status, error=str(exc))
    return redirect(request, "/console/lexicons?ok=reloaded")


@router.post("/lexicons/try")
async def try_it(request: Request, session: CsrfDep) -> Response:
    """Screen a text exactly as ``POST /moderate`` would for the chosen tenant (no records,
    no metrics: a test by an operator is not traffic)."""
    runtime = _runtime(request)
    form = await request.form(max_files=0, max_fields=30)
    fields = {k: str(form.get(k) or "") for k in ("text", "tenant", "direction")}
    error, result = None, None
    status = 200
    try:
        result = try_view(runtime, fields["text"], fields["tenant"], fields["direction"])
    except GatewayError as exc:
        error, status = str(exc), exc.status
    if is_fragment(request):
        return render(request, "_try_result.html", status=status, error=error, result=result)
    return await _lexicons_page(request, status, error=error, result=result, form=fields)


# --- labels --------------------------------------------------------------------------------


def _labels_page(request: Request, status: int = 200, **extra: Any) -> Response:
    runtime = _runtime(request)
    return render(
        request,
        "labels.html",
        status=status,
        nav="labels",
        tenants=_tenant_ids(runtime),
        **{"error": None, "report": None, **extra},
    )


@router.get("/labels")
async def labels(request: Request, session: SessionDep) -> Response:
    return _labels_page(request)


@router.post("/labels/label")
async def label(request: Request, session: CsrfDep) -> Response:
    """The labeled file as a download (the ``POST /label`` code path for the chosen tenant)."""
    from service import labeling

    runtime = _runtime(request)
    try:
        data, filename, declared, fields = await read_upload(
            request, runtime.settings.labels.max_upload_bytes
        )
        tenant = tenant_for(runtime, fields.get("tenant"))
        out = await in_thread(
            labeling.label,
            runtime.settings.labels,
            tenant.labels,
            data,
            filename=filename,
            media_type=declared,
            produce_id=None,
        )
    except GatewayError as exc:
        if is_fragment(request):
            return render(
                request, "_inspect_report.html", status=exc.status, error=str(exc), report=None
            )
        return _labels_page(request, exc.status, error=str(exc))
    await record_delivery(request, runtime, tenant, out, out.record.produce_id)
    await admin_actions.record_action(
        runtime,
        operator(request, session),
        "label.file",
        out.record.produce_id,
        tenant_id=tenant.id,
        media_type=out.media_type,
        bytes=len(data),
    )
    return finish(request, file_response(out, filename or "labeled"))


@router.post("/labels/inspect")
async def inspect(request: Request, session: CsrfDep) -> Response:
    """The inspect report of a file (read only; the ``POST /label/inspect`` code path)."""
    runtime = _runtime(request)
    error, report = None, None
    status = 200
    try:
        data, filename, declared, _ = await read_upload(
            request, runtime.settings.labels.max_upload_bytes
        )
        report = await inspect_view(runtime, data, filename, declared)
        report["filename"] = filename
    except GatewayError as exc:
        error, status = str(exc), exc.status
    if is_fragment(request):
        return render(request, "_inspect_report.html", status=status, error=error, report=report)
    return _labels_page(request, status, error=error, report=report)


# --- users ---------------------------------------------------------------------------------


@router.get("/users")
async def users(request: Request, session: SessionDep) -> Response:
    runtime = _runtime(request)
    tenant = request.query_params.get("tenant", "").strip()
    user = request.query_params.get("user", "").strip()
    rows: list[dict[str, Any]] = []
    error = None
    try:
        await runtime.recorder.flush()
        rows = await queries.sanctioned_users(
            runtime.recorder, tenant=tenant or None, user=user or None
        )
    except Exception as exc:  # the records database is down
        error = f"The records database cannot be read: {type(exc).__name__}"
    return render(
        request,
        "users.html",
        nav="users",
        rows=rows,
        error=error,
        params={"tenant": tenant, "user": user},
        tenants=_tenant_ids(runtime),
    )


async def _user_page(
    request: Request, tenant: str, user: str, status: int = 200, error: str | None = None
) -> Response:
    runtime = _runtime(request)
    recorder = runtime.recorder
    await recorder.flush()
    state = await recorder.user_status(tenant, user)
    trail = await queries.user_trail(recorder, tenant, user)
    return render(
        request,
        "user.html",
        status=status,
        nav="users",
        tenant=tenant,
        user=user,
        state=state,
        trail=trail,
        error=error,
        notice=_notice(request),
    )


@router.get("/users/detail")
async def user_detail(request: Request, session: SessionDep, tenant: str, user: str) -> Response:
    return await _user_page(request, tenant, user)


@router.post("/users/lift")
async def lift(request: Request, session: CsrfDep) -> Response:
    form = await request.form(max_files=0, max_fields=30)
    tenant, user = str(form.get("tenant") or ""), str(form.get("user") or "")
    try:
        await admin_actions.lift_sanction(
            _runtime(request), operator(request, session), tenant, user, form.get("reason")
        )
    except GatewayError as exc:
        return await _user_page(request, tenant, user, exc.status, str(exc))
    query = urlencode({"tenant": tenant, "user": user, "ok": "lifted"})
    return redirect(request, f"/console/users/detail?{query}")


# --- helpers -------------------------------------------------------------------------------


def _tenant_ids(runtime: Any) -> list[str]:
    registry = runtime.snapshot.tenants
    ids = list(registry.tenants)
    return ids if registry.auth_required else [registry.default.id, *ids]


def _category_names(runtime: Any) -> list[tuple[str, str, str]]:
    return [(c.id, c.name_zh, c.name_en) for c in runtime.snapshot.lexicon.taxonomy]
