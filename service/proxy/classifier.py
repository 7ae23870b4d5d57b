"""The guard-model classifier stage (``service.classifier``) on the proxy's guard seams.

``install(proxy)`` adds the three guards (``guards.py``); each asks the app's stage
(``runtime.classifier``) for the tenant's settings and does nothing when the stage is off:

- ``PromptGuard`` (input): the request's user-authored text (``Adapter.prompt_text``, the last
  user turn) as forwarded, ``before`` the upstream call or ``beside`` it (``mode =
  "parallel"``: the answer waits for the verdict before its first byte, an unsafe verdict
  cancels the upstream call); an unsafe verdict is the protocol's usual block outcome.
- ``AnswerGuard`` (output): a whole text answer's texts per scope (a choice, or all of it)
  after the lexicon; streams get a ``StreamGate``.
- ``StreamGate``: one ``GuardStream`` per streamed slot, in the tenant's ``stream_mode``
  (``hold``: released once judged; ``async``: released at once, cut on an unsafe verdict).

Every verdict is kept on the call (``call.guard``, a ``CallVerdicts``); ``outcome`` combines
them with the lexicon's decisions for the records and metrics (``recording.py``). Gateway
replies (the refusal of a blocked request) and routes without a protocol adapter are not
classified; neither are embeddings (``prompt_text`` is empty).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from service.moderation import strictest, strongest

from .guards import StreamGuard

__all__ = [
    "AnswerGuard",
    "CallVerdicts",
    "Outcome",
    "PromptGuard",
    "StreamGate",
    "install",
    "outcome",
]

_RANK = {"allow": 0, "flag": 1, "mask": 2, "block": 3}


class CallVerdicts:
    """The stage's settings for one call and every verdict it gave (``call.guard``)."""

    __slots__ = ("stage", "prompts", "outputs", "prompt", "input", "output")

    def __init__(self, stage: Any, prompts: Any, outputs: Any, prompt: str) -> None:
        self.stage = stage
        self.prompts = prompts  # ClassifierSettings for prompts, None: off
        self.outputs = outputs  # ... for outputs
        self.prompt = prompt  # the user-authored text ("" when none)
        self.input: list[Any] = []  # Verdicts
        self.output: list[Any] = []


def verdicts(call: Any) -> CallVerdicts | None:
    """The call's ``CallVerdicts`` (made on first use), None without a classifier stage."""
    if call.guard is not None:
        return call.guard if isinstance(call.guard, CallVerdicts) else None
    stage = getattr(call.runtime, "classifier", None)
    if stage is None or call.tenant is None:
        return None
    prompts = stage.settings_for(call.tenant, "prompts")
    outputs = stage.settings_for(call.tenant, "outputs")
    if prompts is None and outputs is None:
        call.guard = False  # looked up: no stage for this tenant
        return None
    adapter, request = call.adapter, call.request
    prompt = adapter.prompt_text(request) if adapter is not None and isinstance(request, dict) else ""
    call.guard = CallVerdicts(stage, prompts, outputs, prompt)
    return call.guard


class PromptGuard:
    """``guards.InputGuard``: the prompt's verdict before or beside the upstream call."""

    def when(self, call: Any) -> str | None:
        v = verdicts(call)
        if v is None or v.prompts is None or not v.prompt.strip():
            return None
        return "before" if v.prompts.mode == "before" else "beside"

    async def verdict(self, call: Any, body: bytes) -> str:
        v = call.guard
        cfg = v.prompts
        verdict = await v.stage.classify(cfg, v.prompt, "input", request_id=call.request_id)
        v.input.append(verdict)
        now = time.perf_counter()
        if cfg.mode == "before":
            waited = now - call.upstream_started  # the upstream call waited for all of it
        else:  # how long the answer, ready upstream, waited for the verdict
            waited = now - call.upstream_ready if call.upstream_ready else 0.0
        v.stage.prompt_waited(cfg.mode, max(0.0, waited))
        if verdict.action == "flag":
            call.decision = strictest(call.decision, "flag")
        return "block" if verdict.unsafe else "allow"


class AnswerGuard:
    """``guards.OutputGuard``: whole text answers per scope; ``StreamGate`` for streams."""

    def active(self, call: Any) -> bool:
        v = verdicts(call)
        return v is not None and v.outputs is not None

    async def answer(self, call: Any, texts: dict[Hashable, str]) -> set[Hashable]:
        v = call.guard
        scopes = list(texts)
        found = await asyncio.gather(
            *(
                v.stage.classify(
                    v.outputs,
                    texts[scope],
                    "output",
                    prompt=v.prompt or None,
                    request_id=call.request_id,
                )
                for scope in scopes
            )
        )
        v.output.extend(found)
        if any(f.action == "flag" for f in found):
            call.decision = strictest(call.decision, "flag")
        return {scope for scope, f in zip(scopes, found, strict=True) if f.unsafe}

    def stream(self, call: Any) -> StreamGuard | None:
        v = verdicts(call)
        adapter = call.adapter
        if v is None or v.outputs is None or adapter is None or adapter.output != "text":
            return None
        return StreamGate(call, v)


class StreamGate:
    """``guards.StreamGuard`` of one streamed answer: a ``GuardStream`` per slot."""

    def __init__(self, call: Any, v: CallVerdicts) -> None:
        self.call = call
        self.v = v
        self.cfg = v.outputs
        self.hold = self.cfg.stream_mode == "hold"
        self.wake = asyncio.Event()
        self.streams: dict[Hashable, Any] = {}  # slot key -> GuardStream
        self.scopes: dict[Hashable, Hashable] = {}
        self._cut: set[Hashable] = set()
        self._closed = False

    def feed(self, key: Hashable, scope: Hashable, text: str) -> str:
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = self.v.stage.stream(
                self.cfg,
                prompt=self.v.prompt or None,
                request_id=self.call.request_id,
                notify=self.wake.set,
            )
            self.scopes[key] = scope
        return stream.feed(text)

    def end(self, key: Hashable) -> None:
        stream = self.streams.get(key)
        if stream is not None:
            stream.end()

    def must_wait(self, keys: list[Hashable], final: bool) -> bool:
        """Every verdict on the text of ``keys`` comes before the event ending them (async
        too: a choice's last segment can still end it as filtered); hold: and all the text
        before a cut went out."""
        for key in self.streams if final else keys:
            stream = self.streams.get(key)
            if stream is None:
                continue
            if stream.unsafe is not None:
                if key not in self._cut:
                    return True  # verdicts before the cut to come, or the cut to apply
            elif not stream.settled or (self.hold and stream.holdback):
                return True
        return False

    def released(self) -> list[tuple[Hashable, str]]:
        if not self.hold:
            return []
        out = []
        for key, stream in self.streams.items():
            text = stream.ready()
            if text:
                out.append((key, text))
        return out

    def cut(self) -> list[Hashable]:
        scopes: list[Hashable] = []
        for key, stream in self.streams.items():
            if stream.cut and key not in self._cut:
                self._cut.add(key)
                if self.scopes[key] not in scopes:
                    scopes.append(self.scopes[key])
        return scopes

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        streams = list(self.streams.values())
        for stream in streams:
            stream.close()
            self.v.output.extend(stream.verdicts)
        if any(v.action == "flag" for v in self.v.output):
            self.call.decision = strictest(self.call.decision, "flag")
        fed = [s.first_fed_at for s in streams if s.first_fed_at is not None]
        out = [s.first_released_at for s in streams if s.first_released_at is not None]
        ttft = min(out) - min(fed) if fed and out else None
        holdback = max((s.max_holdback for s in streams), default=0)
        self.v.stage.observe_stream(self.cfg.stream_mode, holdback, ttft)


def install(proxy: Any) -> None:
    """Put the classifier stage on the proxy's guard seams (it runs only when configured)."""
    proxy.input_guards.append(PromptGuard())
    proxy.output_guard = AnswerGuard()


# -- records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """One direction of a call as recorded: the combined action, the categories (lexicon
    categories, then the classifier's risks) with their action, the classifier's verdict."""

    action: str
    categories: dict[str, str]
    classifier: dict[str, Any] | None


def decisive(found: list[Any]) -> Any:
    """The verdict that speaks for several (a stream's segments, an answer's choices): the
    strictest; among allowed ones the first that reports a guard failure, else the last."""
    if not found:
        return None
    best = max(found, key=lambda v: _RANK[v.action])
    if best.action == "allow":
        return next((v for v in found if v.error), found[-1])
    return best


def outcome(call: Any, direction: str, d: Any) -> Outcome | None:
    """What to record for one direction (``d``: its lexicon ``Decisions``); None: nothing.

    The combining rule (``service.classifier.combine``): the stricter action wins. The lexicon
    decides as before; the classifier adds its risks when it found something in the content.
    A block caused only by a guard failure (failed closed) is no content finding: the network
    log says ``block`` and the metrics count the failure, but no incident is written, so a
    guard outage does not walk users up the sanctions ladder.
    """
    v = call.guard if isinstance(call.guard, CallVerdicts) else None
    found = (v.input if direction == "input" else v.output) if v is not None else []
    verdict = decisive(found)
    lexicon = bool(d.hits or d.failed)
    blocked = bool(d.blocked or d.blocked_scopes)
    if verdict is None:
        if not (lexicon or blocked):
            return None
        return Outcome(d.decision, d.categories(), None)
    content = verdict.flagged and verdict.error is None
    if not lexicon and not content and (verdict.error is not None or not blocked):
        return None
    categories = d.categories()
    if content:
        for risk in verdict.risks:
            categories[risk] = strictest(categories.get(risk, "allow"), verdict.action)
    record = {**verdict.to_dict(), "checks": len(found)}
    return Outcome(strongest((d.decision, verdict.action)), categories, record)
