"""The proxy's request path, as pure ASGI: auth, input screen, upstream call, output screen,
labels, records, metrics. One `Call` per request; protocol details live in the adapters.

Order of a screened call: authenticate -> read body (orjson, once) -> screen every caller text
(block: the protocol's 400 envelope before the upstream is contacted) -> forward (the original
bytes when nothing was masked) -> non-streaming: screen + label the whole body; streaming: feed
the upstream bytes through the adapter's translator, send what it releases, and on block or
client disconnect close the upstream connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from service.errors import (
    BadRequest,
    GatewayError,
    InvalidJSON,
    NotFound,
    PolicyViolation,
    ServiceUnavailable,
    Unauthorized,
    UpstreamError,
    UserRestricted,
)

from .labels import LabelPlan, implicit_header, label_plan
from .media import FileStore, label_images, label_speech
from .protocols.base import Adapter
from .screen import Screen
from .upstream import UpstreamClient, map_transport_errors

__all__ = ["Proxy"]

log = logging.getLogger("aigc_gateway.proxy")

_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_AUTH = frozenset({"authorization", "x-api-key", "api-key"})
_GATEWAY_ONLY = frozenset({"x-aigc-user", "x-request-id"})
# Upstream response headers relayed to the client (rate limits, request ids, content type).
_RELAY_PREFIXES = ("x-ratelimit-", "openai-", "anthropic-", "x-upstream-")
_RELAY = frozenset({"retry-after", "request-id", "content-type", "content-encoding"})


def _header_pairs(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]


def _api_key(headers: list[tuple[str, str]]) -> str | None:
    found = dict(headers)
    auth = found.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return found.get("x-api-key") or found.get("api-key") or None


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


async def read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _relay_headers(
    resp: aiohttp.ClientResponse, *, body_rewritten: bool
) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for name, value in resp.headers.items():
        low = name.lower()
        if low == "x-request-id":
            out.append((b"x-upstream-request-id", value.encode("latin-1")))
        elif low in _RELAY or low.startswith(_RELAY_PREFIXES):
            if body_rewritten and low == "content-encoding":
                continue
            out.append((low.encode("latin-1"), value.encode("latin-1")))
    return out


class Call:
    """State of one proxied request."""

    __slots__ = (
        "proxy",
        "scope",
        "receive",
        "send",
        "adapter",
        "runtime",
        "tenant",
        "plan",
        "request_id",
        "user_id",
        "model",
        "started",
        "headers",
        "decision",
        "status",
        "in_screen",
        "out_screen",
        "lexicon_version",
        "produce_id",
        "upstream_started",
        "first_byte",
        "media_labeled",
        "recorded",
    )

    def __init__(self, proxy: Proxy, scope: dict, receive: Any, send: Any, adapter: Adapter | None):
        self.proxy = proxy
        self.scope = scope
        self.receive = receive
        self.send = send
        self.adapter = adapter
        self.runtime = proxy.runtime(scope)
        self.started = time.perf_counter()
        self.request_id = str(scope.get("state", {}).get("request_id") or "")
        self.headers = _header_pairs(scope.get("headers", []))
        self.tenant: Any = None
        self.plan: LabelPlan | None = None
        self.user_id: str | None = None
        self.model: str | None = None
        self.decision = "allow"
        self.status = 500
        self.in_screen: Screen | None = None
        self.out_screen: Screen | None = None
        self.lexicon_version = ""
        self.produce_id = ""
        self.upstream_started = 0.0
        self.first_byte = 0.0
        self.media_labeled: list[tuple[str, str, bool]] = []
        self.recorded = False

    # -- responses -------------------------------------------------------------------------

    def envelope(self, exc: GatewayError) -> bytes:
        if self.adapter is not None:
            return self.adapter.error_body(exc.status, exc.code, exc.message)
        return orjson.dumps(exc.to_dict())

    def aigc_headers(self, decision: str) -> list[tuple[bytes, bytes]]:
        headers = [(b"x-aigc-decision", decision.encode())]
        if self.lexicon_version:
            headers.append((b"x-aigc-lexicon-version", self.lexicon_version.encode()))
        return headers

    async def respond(
        self,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]] | None = None,
        media_type: bytes = b"application/json",
    ) -> None:
        hdrs = list(headers or [])
        if not any(k == b"content-type" for k, _ in hdrs):
            hdrs.append((b"content-type", media_type))
        hdrs.append((b"content-length", str(len(body)).encode()))
        await self.finish(status)  # the records are durable before the client has the answer
        self.status = status
        await self.send({"type": "http.response.start", "status": status, "headers": hdrs})
        await self.send({"type": "http.response.body", "body": body})

    async def fail(self, exc: GatewayError) -> None:
        headers = self.aigc_headers("block" if isinstance(exc, PolicyViolation) else self.decision)
        if exc.status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await self.respond(exc.status, self.envelope(exc), headers)

    # -- steps -----------------------------------------------------------------------------

    def authenticate(self) -> None:
        registry = self.runtime.snapshot.tenants
        key = _api_key(self.headers) if registry.auth_required else None
        tenant = registry.authenticate(key)
        if tenant is None:
            raise Unauthorized(
                "Missing or unknown API key. Send it as 'Authorization: Bearer KEY', "
                "'x-api-key: KEY' or 'api-key: KEY'."
            )
        self.tenant = tenant
        self.scope.setdefault("state", {})["tenant_id"] = tenant.id
        self.plan = self.proxy.plan(self.runtime, tenant)

    async def restrictions(self) -> bool:
        """True when the user is "restricted" (sanctions ladder, IM Art. 14 ¶2).

        Raises ``UserSuspended`` for a suspended user, and ``UserRestricted`` when a
        restricted user asks for image or audio generation (``records.restricted_refuse_media``).
        """
        if self.user_id is None:
            return False
        level = await self.runtime.recorder.user_restrictions(self.tenant.id, self.user_id)
        if level != "restricted":
            return False
        records = getattr(self.runtime.settings, "records", None)
        refuse_media = getattr(records, "restricted_refuse_media", True)
        if refuse_media and self.adapter is not None and self.adapter.name in _MEDIA:
            raise UserRestricted(
                "This user is restricted for repeated policy violations and may not "
                "generate images or audio. An appeal can be filed at POST /complaints "
                "with kind 'appeal'."
            )
        return True

    def screens(self, body: dict, profile: str | None = None) -> tuple[Screen, Screen]:
        from service.moderation import screen_for

        rt, tenant = self.runtime, self.tenant
        inp = screen_for(rt, tenant, "input", profile=profile)
        out = screen_for(rt, tenant, "output", profile=profile)
        self.lexicon_version = inp.lexicon_version
        label = None
        if self.plan is not None and self.plan.text is not None and self.adapter.labelable(body):
            label = self.plan.text
        fail_open = self.proxy.fail_open(rt.settings, tenant)
        return (
            Screen(inp.lexicon, inp.action),
            Screen(out.lexicon, out.action, fail_open=fail_open, label=label),
        )

    def upstream_url(self) -> str:
        base = getattr(self.tenant.upstream, "url", None) or self.runtime.upstream_url
        if not base:
            raise ServiceUnavailable("No upstream model API is configured.")
        path = self.scope.get("raw_path") or self.scope["path"].encode()
        url = base + path.decode("latin-1")
        qs = self.scope.get("query_string")
        return url + "?" + qs.decode("latin-1") if qs else url

    def upstream_headers(self, *, screened: bool) -> CIMultiDict:
        key = getattr(self.tenant.upstream, "api_key", None) or self.runtime.settings.proxy.api_key
        # With tenants the caller's key is a gateway key: never forwarded.
        strip_auth = key is not None or self.runtime.snapshot.tenants.auth_required
        out: CIMultiDict = CIMultiDict()
        for name, value in self.headers:
            if name in _HOP or name in _GATEWAY_ONLY:
                continue
            if strip_auth and name in _AUTH:
                continue
            if screened and name == "accept-encoding":
                continue
            out.add(name, value)
        if key is not None:
            secret = key.get_secret_value()
            if self.adapter is not None and self.adapter.name == "anthropic_messages":
                out["x-api-key"] = secret
            else:
                out["authorization"] = f"Bearer {secret}"
        if screened:
            out["accept-encoding"] = "identity"
        return out

    # -- records & metrics -----------------------------------------------------------------

    def record_screen(self, screen: Screen, direction: str, position: int | None = None) -> None:
        if not screen.matches:
            return
        action = screen.decision
        cats: dict[str, str] = {}
        for m, a in screen.matches:
            cats[m.category] = (
                a if _rank(a) > _rank(cats.get(m.category, "allow")) else cats.get(m.category, a)
            )
        metrics = self.runtime.metrics
        if metrics is not None:
            try:
                metrics.observe_decision(direction, action, cats.items(), 0.0)
            except Exception:  # noqa: BLE001 - metrics never break a request
                log.debug("metrics failed", exc_info=True)
        self.proxy.metrics_blocks(direction, action, cats)
        try:
            from service.records import IncidentEvent
        except ImportError:
            return
        self.submit(
            IncidentEvent(
                request_id=self.request_id,
                tenant_id=self.tenant.id,
                user_id=self.user_id,
                direction=direction,
                route=self.scope["path"],
                action=action,
                categories=list(cats),
                terms=[m.term for m, _ in screen.matches],
                offsets=[(m.start, m.end) for m, _ in screen.matches],
                lexicon_version=self.lexicon_version,
                stream_position=position,
                content_id=self.produce_id or None,
            )
        )

    def submit(self, event: Any) -> None:
        try:
            self.runtime.recorder.submit(event)
        except Exception:  # noqa: BLE001 - submit must never break the request
            log.warning("record submit failed", exc_info=True)

    async def finish(self, status: int | None = None) -> None:
        """Record the call (once): awaited before the last bytes of the answer are sent."""
        if self.recorded:
            return
        self.recorded = True
        status = self.status if status is None else status
        from service.records import LabelDeliveryEvent, NetworkLogEvent

        client = self.scope.get("client")
        tenant_id = self.tenant.id if self.tenant is not None else ""
        events: list[Any] = [
            NetworkLogEvent(
                request_id=self.request_id,
                tenant_id=tenant_id,
                user_id=self.user_id,
                route=self.scope["path"],
                model=self.model,
                client_addr=client[0] if client else None,
                status=status,
                latency_ms=round((time.perf_counter() - self.started) * 1000, 3),
                decision=self.decision,
            )
        ]
        out = self.out_screen
        if (
            out is not None
            and (out.labeled or self.produce_id)
            and status < 400
            and self.plan
            and self.plan.enabled
        ):
            events.append(
                LabelDeliveryEvent(
                    request_id=self.request_id,
                    tenant_id=tenant_id,
                    user_id=self.user_id,
                    content_id=self.produce_id or self.request_id,
                    media_type="text/plain",
                    explicit=out.labeled,
                    implicit=True,
                )
            )
        for content_id, media_type, explicit in self.media_labeled:
            events.append(
                LabelDeliveryEvent(
                    request_id=self.request_id,
                    tenant_id=tenant_id,
                    user_id=self.user_id,
                    content_id=content_id,
                    media_type=media_type,
                    explicit=explicit,
                    implicit=True,
                )
            )
        try:
            await self.runtime.recorder.record(*events)
        except GatewayError:  # records_unavailable: the policy refuses answers without records
            raise
        except Exception:  # noqa: BLE001 - recording must never break the request otherwise
            log.warning("record failed", exc_info=True)


_MEDIA = frozenset({"images", "speech"})
_RANKS = {"allow": 0, "flag": 1, "mask": 2, "block": 3}


def _rank(action: str) -> int:
    return _RANKS.get(action, 0)


class Proxy:
    """Per-app proxy state: the upstream client and metric families."""

    def __init__(self, settings: Any, registry: Any = None) -> None:
        self.settings = settings
        self.client = UpstreamClient(settings.proxy)
        self.files = FileStore()
        self._plans: dict[tuple[int, int], tuple[Any, Any, LabelPlan]] = {}
        from .metrics import ProxyMetrics

        self.metrics = ProxyMetrics(registry)

    def plan(self, runtime: Any, tenant: Any) -> LabelPlan:
        """The tenant's label plan, cached per (settings, tenant) object: reloads make new ones."""
        key = (id(runtime.settings), id(tenant))
        cached = self._plans.get(key)
        if cached is None or cached[0] is not runtime.settings or cached[1] is not tenant:
            if len(self._plans) > 4096:
                self._plans.clear()
            plan = label_plan(runtime.settings, tenant)
            cached = self._plans[key] = (runtime.settings, tenant, plan)
        return cached[2]

    @staticmethod
    def runtime(scope: dict) -> Any:
        return scope["app"].state.runtime

    @staticmethod
    def fail_open(settings: Any, tenant: Any) -> bool:
        own = getattr(getattr(tenant, "proxy", None), "fail_open_output", None)
        return bool(settings.proxy.fail_open_output if own is None else own)

    def metrics_blocks(self, direction: str, action: str, cats: dict[str, str]) -> None:
        self.metrics.screened(direction, action, cats)

    # -- entry points ----------------------------------------------------------------------

    async def screened(self, scope: dict, receive: Any, send: Any, adapter: Adapter) -> None:
        call = Call(self, scope, receive, send, adapter)
        try:
            await self._screened(call)
        except ClientGone:
            call.status = 499
        except GatewayError as exc:
            if call.status == 500 and not call.first_byte:
                await call.fail(exc)
            else:
                raise
        finally:
            await call.finish()

    async def _screened(self, call: Call) -> None:
        adapter = call.adapter
        assert adapter is not None
        call.authenticate()
        raw = await read_body(call.receive)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidJSON("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        call.model = adapter.model(body)
        call.user_id = _user_header(call.headers) or adapter.user_id(body)
        restricted = await call.restrictions()
        in_screen, out_screen = call.screens(body, profile="minor" if restricted else None)
        call.in_screen, call.out_screen = in_screen, out_screen

        refs = adapter.input_texts(body)
        masked = False
        t0 = time.perf_counter()
        for container, key in refs:
            text = container[key]
            out = in_screen.text(text)
            if out is None:
                break
            if out != text:
                container[key] = out
                masked = True
        self.metrics.scan_input.observe(time.perf_counter() - t0)
        call.decision = in_screen.decision
        call.record_screen(in_screen, "input")
        if in_screen.failed:  # a fault, not a verdict: say so, and forward nothing
            raise ServiceUnavailable(
                "Screening failed; the request was not forwarded.", code="screening_failed"
            )
        stream = adapter.is_stream(body)
        if in_screen.blocked:
            settings = call.runtime.settings
            message = self.refusal(settings, call.tenant) or _BLOCKED
            reply = None
            if self.block_mode(settings, call.tenant) == "refusal":
                reply = adapter.refusal(body, message, call.request_id)
            if reply is None:
                raise PolicyViolation(message, code="content_policy_violation")
            # the configured refusal reply: the upstream is never contacted; the reply goes
            # through the same output path (screen, labels, records) as a model's reply
            call.upstream_started = time.perf_counter()
            ctype = adapter.stream_media_type if stream else "application/json"
            await self._deliver(call, _Reply(reply, ctype), body, stream)
            return
        payload = orjson.dumps(body) if masked else raw
        call.upstream_started = time.perf_counter()
        resp = await self.client.request(
            call.scope["method"],
            call.upstream_url(),
            headers=call.upstream_headers(screened=True),
            body=payload,
        )
        await self._deliver(call, resp, body, stream)

    async def _deliver(self, call: Call, resp: Any, body: dict, stream: bool) -> None:
        try:
            if resp.status >= 400:
                await self._relay_error(call, resp)
            elif stream and resp.headers.get("content-type", "").startswith(
                ("text/event-stream", "application/x-ndjson", "application/json-seq")
            ):
                await self._stream(call, resp, body)
            else:
                await self._whole(call, resp, body)
        finally:
            resp.release()  # back to the pool if fully read, else closed

    async def _relay_error(self, call: Call, resp: aiohttp.ClientResponse) -> None:
        with map_transport_errors():
            data = await resp.read()
        self.metrics.upstream_errors.labels(code=str(resp.status)).inc()
        headers = _relay_headers(resp, body_rewritten=False) + call.aigc_headers(call.decision)
        await call.respond(resp.status, data, headers)

    async def _whole(self, call: Call, resp: aiohttp.ClientResponse, request: dict) -> None:
        adapter, screen = call.adapter, call.out_screen
        assert adapter is not None and screen is not None and call.plan is not None
        with map_transport_errors():
            data = await resp.read()
            upstream_done = time.perf_counter()
        ctype = resp.headers.get("content-type", "")
        extra: list[tuple[bytes, bytes]] = []
        if adapter.name == "speech" and call.plan.enabled:
            call.produce_id = call.request_id
            data, ctype, record = await label_speech(call, data, ctype)
            extra.append((b"x-aigc-label", record))
        elif "json" in ctype:
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamError("The model API returned invalid JSON.") from None
            t0 = time.perf_counter()
            adapter.screen_response(obj, screen)
            self.metrics.scan_output.observe(time.perf_counter() - t0)
            call.produce_id = adapter.response_id(obj) or call.request_id
            if adapter.name == "images" and not screen.blocked:
                await label_images(call, obj)
            data = orjson.dumps(obj)
            if adapter.name != "embeddings" and call.plan.enabled:
                extra.append((b"x-aigc-label", implicit_header(call.plan, call.produce_id)))
        elif call.plan.enabled and adapter.name != "embeddings":
            raise UpstreamError(
                f"The model API answered with an unexpected {ctype or 'untyped'} body."
            )
        call.decision = _strongest(call.decision, screen.decision)
        call.record_screen(screen, "output")
        headers = (
            _relay_headers(resp, body_rewritten=True) + call.aigc_headers(call.decision) + extra
        )
        headers = [(k, v) for k, v in headers if k != b"content-type"]
        await call.respond(
            resp.status, data, headers, media_type=ctype.encode("latin-1") or b"application/json"
        )
        total = time.perf_counter() - call.started
        self.metrics.added.observe(total - (upstream_done - call.upstream_started))

    async def _stream(self, call: Call, resp: aiohttp.ClientResponse, request: dict) -> None:
        adapter, screen = call.adapter, call.out_screen
        assert adapter is not None and screen is not None and call.plan is not None
        translator = adapter.translator(request, screen)
        send = call.send
        pending: list[bytes] = []
        upstream_first = 0.0
        # Read until the response id is known (it becomes the label's ProduceID) or bytes are due.
        with map_transport_errors():
            while translator.response_id is None and not translator.done:
                chunk = await resp.content.readany()
                if not chunk:
                    break
                if not upstream_first:
                    upstream_first = time.perf_counter()
                out = translator.feed(chunk)
                if out:
                    pending.append(out)
                if adapter.framing == "ndjson" and pending:
                    break
        call.produce_id = translator.response_id or call.request_id
        headers = [
            (b"content-type", adapter.stream_media_type.encode()),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            *[(k, v) for k, v in _relay_headers(resp, body_rewritten=True) if k != b"content-type"],
            *call.aigc_headers(_strongest(call.decision, screen.decision)),
        ]
        if call.plan.enabled:
            headers.append((b"x-aigc-label", implicit_header(call.plan, call.produce_id)))
        call.status = resp.status
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        call.first_byte = time.perf_counter()
        if pending:
            await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
        if upstream_first:
            self.metrics.ttft_added.observe(call.first_byte - upstream_first)

        disconnected = asyncio.Event()

        async def pump() -> None:
            try:
                # After the protocol's terminal event the rest is drained (the connection goes
                # back to the pool); after a block the upstream is cut at once.
                while not screen.blocked:
                    chunk = await resp.content.readany()
                    if not chunk:
                        tail = translator.close()
                        if tail:
                            await send(
                                {"type": "http.response.body", "body": tail, "more_body": True}
                            )
                        break
                    out = translator.feed(chunk)
                    if out:
                        await send({"type": "http.response.body", "body": out, "more_body": True})
            except (aiohttp.ClientError, TimeoutError) as exc:
                code = (
                    "upstream_timeout"
                    if isinstance(exc, TimeoutError | asyncio.TimeoutError)
                    else "upstream_error"
                )
                self.metrics.upstream_errors.labels(code=code).inc()
                await send(
                    {
                        "type": "http.response.body",
                        "body": translator.error_tail(code, "The model API stream failed."),
                        "more_body": True,
                    }
                )

        current = asyncio.current_task()
        assert current is not None

        async def watch() -> None:
            # The pump runs in this task; a disconnect cancels it (one extra task, not two).
            while True:
                message = await call.receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    current.cancel()
                    return

        watch_task = asyncio.ensure_future(watch())
        try:
            await pump()
        except asyncio.CancelledError:
            if not disconnected.is_set():
                raise
            current.uncancel()
        except OSError:  # uvicorn's ClientDisconnected: a send after the client went away
            disconnected.set()
        finally:
            watch_task.cancel()
        if screen.blocked or disconnected.is_set():
            resp.close()  # cancels the upstream generation (connection closed, not pooled)
        call.decision = _strongest(call.decision, screen.decision)
        call.record_screen(
            screen, "output", position=sum(len(screen.released(k) or "") for k in screen.keys())
        )
        if not disconnected.is_set():
            await call.finish()  # durable before the client has the end of the stream
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        self.metrics.holdback.observe(screen.max_held)

    # -- pass-through ----------------------------------------------------------------------

    async def passthrough(self, scope: dict, receive: Any, send: Any) -> None:
        """Any other path: relayed unscreened (or refused when `proxy.passthrough` is off)."""
        call = Call(self, scope, receive, send, None)
        try:
            call.authenticate()
            if not call.runtime.settings.proxy.passthrough:
                raise NotFound(f"No route {scope['path']} (pass-through is disabled).")
            raw = await read_body(receive)
            resp = await self.client.request(
                scope["method"],
                call.upstream_url(),
                headers=call.upstream_headers(screened=False),
                body=raw or None,
            )
            try:
                headers = [
                    (k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in resp.headers.items()
                    if k.lower() not in _HOP
                ]
                headers.append((b"x-aigc-decision", b"unscreened"))
                call.status = resp.status
                await send(
                    {"type": "http.response.start", "status": resp.status, "headers": headers}
                )
                with map_transport_errors():
                    async for chunk in resp.content.iter_any():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await call.finish()
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                resp.release()  # back to the pool if fully read, else closed
        except ClientGone:
            call.status = 499
        except GatewayError as exc:
            if call.status != 500:
                raise
            await call.fail(exc)
        finally:
            await call.finish()

    @staticmethod
    def refusal(settings: Any, tenant: Any) -> str | None:
        own = getattr(getattr(tenant, "proxy", None), "refusal_message", None)
        return own or settings.proxy.refusal_message

    @staticmethod
    def block_mode(settings: Any, tenant: Any) -> str:
        own = getattr(getattr(tenant, "proxy", None), "block_mode", None)
        return own or getattr(settings.proxy, "block_mode", "error")


_BLOCKED = "The request was blocked by the content policy."


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
        self.data = data
        self.headers = CIMultiDict({"content-type": ctype})
        self.content = _Content(data)

    async def read(self) -> bytes:
        return self.data

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


def _strongest(a: str, b: str) -> str:
    return a if _rank(a) >= _rank(b) else b


def _user_header(headers: list[tuple[str, str]]) -> str | None:
    for name, value in headers:
        if name == "x-aigc-user":
            return value.strip()[:128] or None
    return None
