"""``ClassifierStage``: the guard-model stage of the whole service.

One per app (``runtime.classifier``). It resolves each tenant's effective ``[classifier]``
settings, keeps one ``GuardClient`` per guard endpoint (shared by the tenants that use it, so
they share its concurrency limit, circuit breaker and cache), applies the fail mode, and counts
metrics. Its methods never raise for a guard failure: they return a ``Verdict`` whose action
is the tenant's fail mode (``block`` closed, ``allow`` open) with ``error`` set.

The three ways the service uses it::

    cfg = stage.settings_for(tenant, "prompts")          # None: no stage for this tenant
    verdict = await stage.classify(cfg, text, "input")  # /moderate, non-streaming outputs

    check = stage.prompt_check(cfg, prompt_text)         # parallel mode: started now ...
    ... upstream call ...
    verdict = await check.verdict()                      # ... awaited before the first byte

    stream = stage.stream(cfg, prompt=prompt_text)       # one per streamed slot
    send(stream.feed(delta)); ...; send(await stream.finish()); stage.stream_done(stream)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from .client import GuardClient, GuardError, client_key
from .metrics import ClassifierMetrics
from .settings import ClassifierSettings, TenantClassifier, resolve
from .stream import GuardStream
from .verdict import GuardInput, Verdict, decide, unavailable

__all__ = ["ClassifierStage", "PromptCheck"]

log = logging.getLogger("aigc_gateway.classifier")

Where = Literal["prompts", "outputs", "moderate"]


class PromptCheck:
    """A prompt's classification started now, awaited later (``parallel`` mode)."""

    def __init__(self, coro: Any) -> None:
        self.started = time.perf_counter()
        self.done_at: float | None = None
        self._task: asyncio.Task[Verdict] = asyncio.ensure_future(coro)
        self._task.add_done_callback(self._finished)

    def _finished(self, _task: asyncio.Task[Verdict]) -> None:
        self.done_at = time.perf_counter()

    def done(self) -> bool:
        return self._task.done()

    async def verdict(self) -> Verdict:
        return await asyncio.shield(self._task)

    def waited_after(self, ready_at: float) -> float:
        """Seconds the answer waited for this verdict after the upstream was ready at
        ``ready_at`` (0 when the verdict came first)."""
        end = self.done_at if self.done_at is not None else time.perf_counter()
        return max(0.0, end - ready_at)

    def cancel(self) -> None:
        self._task.cancel()


class ClassifierStage:
    def __init__(
        self, settings: ClassifierSettings, metrics: ClassifierMetrics | None = None
    ) -> None:
        self.base = settings
        self.metrics = metrics
        self._clients: dict[tuple[Any, ...], GuardClient] = {}
        self._memo: dict[str, tuple[Any, ClassifierSettings | None]] = {}

    # -- configuration ---------------------------------------------------------------------

    def settings_for(self, tenant: Any, where: Where | None = None) -> ClassifierSettings | None:
        """The tenant's effective settings, or None when the stage is off for it (``where``:
        off for prompts, outputs or ``/moderate`` by default)."""
        own: TenantClassifier | None = getattr(tenant, "classifier", None)
        tid = getattr(tenant, "id", "")
        memo = self._memo.get(tid)
        if memo is not None and memo[0] is own:
            cfg = memo[1]
        else:
            cfg = resolve(self.base, own)
            self._memo[tid] = (own, cfg)
        if cfg is None or (where is not None and not getattr(cfg, where)):
            return None
        return cfg

    def update(self, settings: ClassifierSettings) -> None:
        """New global settings (reload); clients of endpoints still in use are kept."""
        self.base = settings
        self._memo.clear()

    def client_for(self, cfg: ClassifierSettings) -> GuardClient:
        key = client_key(cfg)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = GuardClient(cfg)
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()

    # -- classifying -----------------------------------------------------------------------

    async def classify(
        self,
        cfg: ClassifierSettings,
        text: str,
        direction: Literal["input", "output"],
        *,
        prompt: str | None = None,
        request_id: str | None = None,
    ) -> Verdict:
        """The verdict on one text under ``cfg``; guard failures follow the fail mode."""
        client = self.client_for(cfg)
        item = GuardInput(text, direction, prompt, request_id)
        started = time.perf_counter()
        try:
            result, cached = await client.check(item)
        except GuardError as exc:
            ms = (time.perf_counter() - started) * 1000
            verdict = unavailable(cfg, direction=direction, error=exc.code, latency_ms=ms)
        else:
            ms = (time.perf_counter() - started) * 1000
            verdict = decide(result, cfg, direction=direction, cached=cached, latency_ms=ms)
        self._observe(client, verdict, ms / 1000)
        return verdict

    def prompt_check(
        self, cfg: ClassifierSettings, text: str, *, request_id: str | None = None
    ) -> PromptCheck:
        """Start classifying a prompt now; ``await check.verdict()`` when it is needed."""
        return PromptCheck(self.classify(cfg, text, "input", request_id=request_id))

    def stream(
        self,
        cfg: ClassifierSettings,
        *,
        prompt: str | None = None,
        request_id: str | None = None,
        notify: Callable[[], None] | None = None,
    ) -> GuardStream:
        """A ``GuardStream`` for one streamed output slot, in the tenant's ``stream_mode``
        (``notify``: called on every verdict)."""

        async def check(window: str) -> Verdict:
            return await self.classify(cfg, window, "output", prompt=prompt, request_id=request_id)

        return GuardStream(
            check,
            mode=cfg.stream_mode,
            segment_chars=cfg.segment_chars,
            context_chars=cfg.context_chars,
            notify=notify,
        )

    def stream_done(self, stream: GuardStream) -> None:
        """Record a finished stream's hold-back and added time to first token."""
        self.observe_stream(stream.mode, stream.max_holdback, stream.ttft_added)

    def observe_stream(self, mode: str, holdback_chars: int, ttft_added_s: float | None) -> None:
        """Record one answer's largest hold-back and added time to first token."""
        if self.metrics is not None:
            self.metrics.observe_stream(mode, holdback_chars, ttft_added_s)

    def prompt_waited(self, mode: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.prompt_wait.labels(mode=mode).observe(seconds)

    def _observe(self, client: GuardClient, verdict: Verdict, seconds: float) -> None:
        if self.metrics is None:
            return
        self.metrics.observe(verdict, seconds=seconds)
        is_open = 1 if client.breaker.state == "open" else 0
        self.metrics.breaker_open.labels(backend=client.backend.name).set(is_open)
