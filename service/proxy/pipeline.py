"""The proxy's request path, step by step (pure ASGI), for every gateway route.

    authenticate -> read and parse the body (intake) -> screen every text of the request
    (block: the protocol's 400 envelope or refusal reply, the upstream never contacted)
    -> forward the screened bytes to the canonical path (input guards beside the call)
    -> relay the answer: whole (whole.py) or streamed (stream.py + streaming.py)
    -> records before the end of the answer (recording.py).

Routes without an adapter take the same path with the generic walker and stream protocol;
the allow-list of routes that carry no text is relayed as is.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from service.errors import (
    GatewayError,
    NotFound,
    PolicyViolation,
    ServiceUnavailable,
    Unauthorized,
    UserRestricted,
)

from . import intake, recording
from .call import Call, ClientGone, unless_gone
from .decisions import Decisions
from .generic import GenericStream
from .guards import InputGuard, OutputGuard, call_upstream
from .headers import upstream_headers, upstream_url
from .labels import LabelPlan, check_request, label_plan
from .media import FileStore, LabelFailed, UrlFetcher
from .metrics import ProxyMetrics
from .routing import Route
from .slots import SegmentGuard, Slots
from .stream import StreamRelay
from .streaming import relay_stream
from .upstream import UpstreamClient, map_transport_errors
from .walker import Walk
from .whole import relay_whole

__all__ = ["Proxy"]

log = logging.getLogger("aigc_gateway.proxy")

_BLOCKED = "The request was blocked by the content policy."
_STREAM_TYPES = ("text/event-stream", "application/x-ndjson", "application/json-seq")
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"})


def _api_key(call: Call) -> str | None:
    auth = call.header("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return call.header("x-api-key") or call.header("api-key") or None


def _own(tenant: Any, name: str) -> Any:
    return getattr(getattr(tenant, "proxy", None), name, None)


class Proxy:
    """Per-app proxy state: the upstream pool, metric families, label plans, guards."""

    def __init__(self, settings: Any, registry: Any = None) -> None:
        self.settings = settings
        self.client = UpstreamClient(settings.proxy)
        self.files = FileStore()
        self.metrics = ProxyMetrics(registry)
        # seams for slower verdicts (guards.py): the classifier stage installs its own
        self.input_guards: list[InputGuard] = []  # the request, before or beside the upstream
        self.output_guard: OutputGuard | None = None  # whole answers and streams
        self.segment_guard: SegmentGuard | None = None  # sees every released stream segment
        self._plans: dict[tuple[int, int], tuple[Any, Any, LabelPlan]] = {}

    # -- per tenant ---------------------------------------------------------------------------

    def plan(self, runtime: Any, tenant: Any) -> LabelPlan:
        """The tenant's label plan, cached per (settings, tenant) object: reloads make new ones."""
        key = (id(runtime.settings), id(tenant))
        cached = self._plans.get(key)
        if cached is None or cached[0] is not runtime.settings or cached[1] is not tenant:
            if len(self._plans) > 4096:
                self._plans.clear()
            cached = (runtime.settings, tenant, label_plan(runtime.settings, tenant))
            self._plans[key] = cached
        return cached[2]

    def fetcher(self, call: Call) -> UrlFetcher:
        s = call.runtime.settings.proxy
        base = getattr(call.tenant.upstream, "url", None) or call.runtime.upstream_url or ""
        return UrlFetcher(self.client.session, base, s.media_max_bytes, s.media_timeout_s)

    # -- entry --------------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Any, send: Any, route: Route) -> None:
        call = Call(scope, receive, send, route, scope["app"].state.runtime)
        try:
            await self._handle(call)
        except ClientGone:
            call.status = 499
        except GatewayError as exc:
            if call.sent:
                log.warning("proxy error after the answer started: %s", exc.code)
            else:
                await self._fail(call, exc)
        finally:
            if not call.recorded:
                try:
                    await recording.record(call)
                except GatewayError:
                    log.warning("records unavailable for a call that ended early")

    async def _fail(self, call: Call, exc: GatewayError) -> None:
        call.status = exc.status
        if isinstance(exc, PolicyViolation):
            call.decision = "block"
        try:
            await recording.record(call)
        except GatewayError as unrecordable:  # records cannot be kept: say that instead
            exc = unrecordable
            call.status = exc.status
        status, body, headers = call.error_response(exc)
        await call.respond(status, body, headers)

    def _authenticate(self, call: Call) -> None:
        registry = call.runtime.snapshot.tenants
        key = _api_key(call) if registry.auth_required else None
        tenant = registry.authenticate(key)
        if tenant is None:
            raise Unauthorized(
                "Missing or unknown API key. Send it as 'Authorization: Bearer KEY', "
                "'x-api-key: KEY' or 'api-key: KEY'."
            )
        call.tenant = tenant
        call.scope.setdefault("state", {})["tenant_id"] = tenant.id
        call.plan = self.plan(call.runtime, tenant)

    async def _restrictions(self, call: Call) -> bool:
        """True for a "restricted" user (sanctions ladder, IM Art. 14 ¶2); raises for a
        suspended one, and for a restricted one asking for images or audio."""
        if call.user_id is None:
            return False
        level = await call.runtime.recorder.user_restrictions(call.tenant.id, call.user_id)
        if level != "restricted":
            return False
        records = getattr(call.runtime.settings, "records", None)
        adapter = call.adapter
        if (
            getattr(records, "restricted_refuse_media", True)
            and adapter is not None
            and adapter.output in ("image", "audio", "video", "job")
        ):
            raise UserRestricted(
                "This user is restricted for repeated policy violations and may not "
                "generate images, audio or video. An appeal can be filed at POST /complaints "
                "with kind 'appeal'."
            )
        return True

    def _decisions(self, call: Call, profile: str | None) -> None:
        from service.moderation import screen_for

        rt, tenant = call.runtime, call.tenant
        own = _own(tenant, "fail_open_output")
        fail_open = bool(rt.settings.proxy.fail_open_output if own is None else own)
        call.inputs = Decisions(screen_for(rt, tenant, "input", profile=profile))
        call.outputs = Decisions(
            screen_for(rt, tenant, "output", profile=profile), fail_open=fail_open
        )

    def _upstream_key(self, call: Call) -> tuple[str | None, bool]:
        key = getattr(call.tenant.upstream, "api_key", None) or call.runtime.settings.proxy.api_key
        # With tenants the caller's key is a gateway key: never forwarded.
        strip = key is not None or call.runtime.snapshot.tenants.auth_required
        return (key.get_secret_value() if key is not None else None), strip

    def _base(self, call: Call) -> str:
        base = getattr(call.tenant.upstream, "url", None) or call.runtime.upstream_url
        if not base:
            raise ServiceUnavailable("No upstream model API is configured.")
        return base

    # -- the path -----------------------------------------------------------------------------

    async def _handle(self, call: Call) -> None:
        call.runtime.recorder.admit()  # refused before any work while records cannot be kept
        self._authenticate(call)
        route, adapter = call.route, call.adapter
        mode = call.runtime.settings.proxy.passthrough
        if route.kind != "protocol" and mode in (False, "refuse"):
            raise NotFound(f"No route {call.scope['path']} (pass-through is refused).")
        raw = await intake.read_body(call.receive)
        if route.kind == "no_text" and not raw and not call.scope.get("query_string"):
            await self._relay_as_is(call, raw)
            return
        # (an allow-listed route with a body or a query string is screened like any other)
        body = intake.parse_body(raw, call)
        request = body.value if body.kind == "json" else None
        if adapter is not None and isinstance(request, dict):
            call.model = adapter.model(request)
            call.user_id = call.header("x-aigc-user") or adapter.user_id(request)
        else:
            call.user_id = call.header("x-aigc-user")
            if isinstance(request, dict) and isinstance(request.get("model"), str):
                call.model = request["model"]
        if call.user_id:
            call.user_id = call.user_id.strip()[:128] or None
        call.restricted = await self._restrictions(call)
        self._decisions(call, "minor" if call.restricted else None)
        if adapter is not None and isinstance(request, dict):
            adapter.validate(request)
        inputs = call.inputs
        assert inputs is not None
        call.request = request
        t0 = time.perf_counter()
        walk = Walk(adapter.non_text if adapter is not None else None)
        changed = intake.screen_request(body, call, inputs, walk)
        self.metrics.scan_input.observe(time.perf_counter() - t0)
        call.decision = inputs.decision
        if inputs.failed and not inputs.fail_open:
            raise ServiceUnavailable(
                "Screening failed; the request was not forwarded.", code="screening_failed"
            )
        if inputs.blocked:
            await self._blocked(call, request)
            return
        check_request(call.plan, adapter, request)  # output that could not be labeled: refused
        payload = body.serialize(changed)
        key, strip = self._upstream_key(call)
        headers = upstream_headers(
            call.headers,
            key=key,
            strip_auth=strip,
            key_header="x-api-key" if route.family == "anthropic" else "authorization",
            content_type="application/json" if body.kind == "json" and raw else None,
        )
        url = upstream_url(self._base(call), call.path, call.scope.get("query_string") or b"")

        async def send() -> Any:
            return await self.client.request(
                call.scope["method"], url, headers=headers, body=payload or None
            )

        call.upstream_started = time.perf_counter()
        try:
            resp = await unless_gone(call, call_upstream(call, self.input_guards, payload, send))
        except PolicyViolation:  # a guard blocked the request: the usual block outcome
            inputs.blocked = True
            call.decision = "block"
            await self._blocked(call, request)
            return
        await self._deliver(call, resp, request)

    async def _blocked(self, call: Call, request: Any) -> None:
        """A blocked request: the protocol's 400 envelope, or the configured refusal reply."""
        settings, tenant, adapter = call.runtime.settings, call.tenant, call.adapter
        message = _own(tenant, "refusal_message") or settings.proxy.refusal_message or _BLOCKED
        mode = _own(tenant, "block_mode") or getattr(settings.proxy, "block_mode", "error")
        reply = None
        labels_ok = call.plan is None or not call.plan.enabled or call.plan.problem is None
        if mode == "refusal" and adapter is not None and isinstance(request, dict) and labels_ok:
            reply = adapter.refusal(request, message, call.request_id)
        if reply is None:
            raise PolicyViolation(message, code="content_policy_violation")
        # the configured refusal: the upstream is never contacted; the reply takes the same
        # output path (screen, labels, records) as a model's reply
        stream = adapter.is_stream(request)
        ctype = adapter.stream_media_type if stream else "application/json"
        call.upstream_started = time.perf_counter()
        await self._deliver(call, _Reply(reply, ctype), request)

    async def _deliver(self, call: Call, resp: Any, request: Any) -> None:
        try:
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            if resp.status < 400 and (
                ctype in _STREAM_TYPES or (_asked_stream(call, request) and "json" not in ctype)
            ):
                await self._stream(call, resp, request, ctype)
            else:
                await relay_whole(self, call, resp, request)
        finally:
            resp.release()  # back to the pool if fully read, else closed

    async def _stream(self, call: Call, resp: Any, request: Any, ctype: str) -> None:
        adapter = call.adapter
        assert call.outputs is not None and call.plan is not None
        media_out = adapter is not None and adapter.output in ("image", "audio", "video")
        if media_out and call.plan.enabled:
            resp.close()  # streamed images/audio (partial images) cannot be labeled
            raise LabelFailed("Streamed media cannot be labeled; ask for a whole answer.")
        label = None
        if adapter is not None and adapter.output == "text" and adapter.labelable(request or {}):
            label = call.plan.text
        slots = Slots(call.outputs, label)
        slots.hook = self.segment_guard
        if self.output_guard is not None and not call.inputs.blocked:  # not a refusal reply
            slots.guard = self.output_guard.stream(call)
        if adapter is not None and adapter.output == "text" and isinstance(request, dict):
            proto = adapter.stream(request, slots)
            media_type = adapter.stream_media_type
        else:
            framing = "ndjson" if ctype == "application/x-ndjson" else "sse"
            proto = GenericStream(request, slots, call.family, framing)
            media_type = ctype
        relay = StreamRelay(proto, call.outputs)
        await relay_stream(self, call, resp, relay, media_type, labeled=adapter is not None)

    async def _relay_as_is(self, call: Call, raw: bytes) -> None:
        """The allow-list: routes that carry no text, relayed unscreened."""
        key, strip = self._upstream_key(call)
        headers = upstream_headers(
            call.headers, key=key, strip_auth=strip, key_header="authorization", content_type=None
        )
        url = upstream_url(self._base(call), call.route.path, call.scope.get("query_string") or b"")
        resp = await unless_gone(
            call,
            self.client.request(call.scope["method"], url, headers=headers, body=raw or None),
        )
        try:
            out = [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in resp.headers.items()
                if k.lower() not in _HOP
            ]
            out.append((b"x-aigc-decision", b"unscreened"))
            with map_transport_errors():
                data = await resp.read()
            call.status = resp.status
            call.decision = "unscreened"
            await recording.record(call)
            out.append((b"content-length", str(len(data)).encode()))
            await call.start(resp.status, out)
            await call.body(data)
        finally:
            resp.release()


class _Content:
    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    async def readany(self) -> bytes:
        data, self._data = self._data, None
        return data or b""


class _Reply:
    """A reply made by the gateway, read like an upstream ``aiohttp.ClientResponse``."""

    status = 200

    def __init__(self, data: bytes, ctype: str) -> None:
        from multidict import CIMultiDict

        self.data = data
        self.headers = CIMultiDict({"content-type": ctype})
        self.content = _Content(data)

    async def read(self) -> bytes:
        return self.data

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


def _asked_stream(call: Call, request: Any) -> bool:
    """A text protocol request that asked for a stream: its answer is read as the protocol's
    stream whatever its content type says (a JSON answer excepted), never as plain text."""
    adapter = call.adapter
    return (
        adapter is not None
        and adapter.output == "text"
        and isinstance(request, dict)
        and adapter.is_stream(request)
    )
