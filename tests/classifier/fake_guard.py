"""A scriptable guard server for tests: the demo guard's wire formats plus faults.

``script[marker] = Fault(...)`` makes requests whose text contains ``marker`` misbehave: a
status code (optionally only the first ``times`` requests), a raw body (malformed answers), a
delay before answering, a condition to wait for (``until``: e.g. "the upstream has the
request", so a test orders events without timing them), or a hang (no answer until the client
gives up). Every request is recorded (path, headers, JSON body, when it arrived, when the
answer was sent and when it ended, whether the client left early; ``time.perf_counter``).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from service.classifier.demo_guard import DEFAULT_RULES, DemoGuardApp, Rule, _send, _text_of

_headers: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("headers")
_receive: contextvars.ContextVar[Any] = contextvars.ContextVar("receive")

RULES = (
    *DEFAULT_RULES,
    Rule("UNSAFE-VIOLENCE", "unsafe", "violence"),
    Rule("UNSAFE-CRIME", "unsafe", "crime"),
    Rule("UNSAFE-HATE", "unsafe", "hate"),
    Rule("CONTROVERSIAL-POLITICS", "controversial", "politics"),
)


@dataclass
class Fault:
    status: int | None = None  # answer with this status
    body: bytes | None = None  # answer 200 with these raw bytes
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # never answer
    times: int | None = None  # only for the first N matching requests
    until: Callable[[], bool] | None = None  # answer once this is true (polled, 20 s at most)


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: Any
    started: float
    answered: float | None = None  # just before the answer was sent
    ended: float | None = None
    cancelled: bool = False


@dataclass
class FakeGuard(DemoGuardApp):
    rules: tuple[Rule, ...] = RULES
    script: dict[str, Fault] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def reset(self) -> None:
        self.script.clear()
        self.calls.clear()
        self.delay = 0.0
        self.in_flight = self.max_in_flight = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            _headers.set({k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
            _receive.set(receive)
        await super().__call__(scope, receive, send)

    async def respond(self, path: str, body: Any, send: Any) -> None:
        call = Call(path, _headers.get(), body, time.perf_counter())
        self.calls.append(call)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            fault = self._fault(path, body)
            if fault is None:
                call.answered = time.perf_counter()
                await super().respond(path, body, send)
                return
            if fault.until is not None:
                deadline = time.monotonic() + 20
                while not fault.until() and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.hang:  # until the client gives up and disconnects
                receive = _receive.get()
                while (await receive())["type"] != "http.disconnect":
                    pass
                call.cancelled = True
                return
            call.answered = time.perf_counter()
            if fault.status is not None:
                text, _ = _text_of(path, body)
                # an error body that echoes the text: it must never reach the gateway's logs
                echo = orjson.dumps({"error": {"message": f"rejected: {text}"}})
                await _send(send, fault.status, echo)
            elif fault.body is not None:
                await _send(send, 200, fault.body)
            else:
                await super().respond(path, body, send)
        except asyncio.CancelledError:
            call.cancelled = True
            raise
        finally:
            call.ended = time.perf_counter()
            self.in_flight -= 1

    def checks(self, direction: str) -> list[Call]:
        """The calls that judged a prompt (``input``) or a model's answer (``output``)."""
        return [c for c in self.calls if _text_of(c.path, c.body)[1] == direction]

    def _fault(self, path: str, body: Any) -> Fault | None:
        text, _ = _text_of(path, body)
        for marker, fault in self.script.items():
            if marker in text:
                if fault.times is not None:
                    if fault.times <= 0:
                        return None
                    fault.times -= 1
                return fault
        return None
