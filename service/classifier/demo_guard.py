"""A fake guard model server for demos, tests and the classifier benchmark.

Speaks every backend's wire format, one path prefix each::

    POST /qwen3guard/v1/chat/completions     Qwen3Guard-Gen ("Safety: ...", "Categories: ...")
    POST /llamaguard/v1/chat/completions     Llama Guard 3/4 ("safe" | "unsafe\\nS1,S10")
    POST /openai/v1/moderations              OpenAI moderation (13 categories and scores)
    POST /webhook                            the gateway's generic webhook shape
    GET  /stats                              {"requests": N} answered so far

so ``[classifier] url`` is e.g. ``http://127.0.0.1:8002/qwen3guard/v1``. The verdict comes from
keyword rules (``DEFAULT_RULES``, or your own): a text containing a rule's marker gets that
rule's safety level and category. It classifies the last message of a conversation, as the
real guards do. Raw ASGI and orjson, answering after ``delay`` seconds, so it stays far faster
than the gateway in front of it.

``python -m service.classifier.demo_guard --port 8002 [--delay 0.02]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from service.classifier.mapping import OPENAI_CATEGORIES

__all__ = [
    "CATEGORY_LABELS",
    "DEFAULT_RULES",
    "DemoGuardApp",
    "Judgement",
    "Rule",
    "create_app",
    "main",
]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# neutral category -> (Qwen3Guard label, Llama Guard code, OpenAI category, TC260 id for webhooks)
CATEGORY_LABELS: Mapping[str, tuple[str, str, str | None, str]] = {
    "violence": ("Violent", "S1", "violence", "a1.violence_obscenity"),
    "crime": ("Non-violent Illegal Acts", "S2", "illicit", "a1.other_prohibited"),
    "sexual": ("Sexual Content or Sexual Acts", "S12", "sexual", "a1.violence_obscenity"),
    "self_harm": ("Suicide & Self-Harm", "S11", "self-harm", "a4.physical_mental_health"),
    "hate": ("Unethical Acts", "S10", "hate", "a2.other"),
    "pii": ("PII", "S7", None, "a4.personal_info"),
    "politics": ("Politically Sensitive Topics", "S13", None, "a1.false_harmful_info"),
    "copyright": ("Copyright Violation", "S8", None, "a3.ip_infringement"),
    "jailbreak": ("Jailbreak", "S14", None, "x.injection"),
}
_REFUSAL_MARKS = ("抱歉", "对不起", "我不能", "无法", "sorry", "i cannot", "i can't", "i won't")


@dataclass(frozen=True, slots=True)
class Rule:
    """Texts containing ``marker`` are ``safety`` (unsafe | controversial) in ``category``."""

    marker: str
    safety: str = "unsafe"
    category: str = "violence"


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("炸弹", "unsafe", "violence"),
    Rule("bomb", "unsafe", "violence"),
    Rule("制毒", "unsafe", "crime"),
    Rule("自杀", "unsafe", "self_harm"),
    Rule("身份证号", "unsafe", "pii"),
    Rule("忽略之前的所有指令", "unsafe", "jailbreak"),
    Rule("争议话题", "controversial", "politics"),
)


_RANK = {"safe": 0, "controversial": 1, "unsafe": 2}


@dataclass
class Judgement:
    safety: str  # safe | controversial | unsafe
    categories: tuple[str, ...] = ()
    refusal: bool | None = None


@dataclass
class DemoGuardApp:
    """The ASGI app; subclass and override ``respond`` to script other answers."""

    rules: tuple[Rule, ...] = DEFAULT_RULES
    delay: float = 0.0
    requests: int = 0
    _routes: dict[str, Callable[..., bytes]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._routes = {
            "/qwen3guard/v1/chat/completions": self._qwen3guard,
            "/llamaguard/v1/chat/completions": self._llamaguard,
            "/openai/v1/moderations": self._openai,
            "/webhook": self._webhook,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        path = scope["path"]
        if scope["method"] == "GET" and path == "/stats":  # for benchmarks: is the stage on?
            await _send(send, 200, orjson.dumps({"requests": self.requests}))
            return
        self.requests += 1
        if scope["method"] != "POST" or path not in self._routes:
            await _send(send, 404, b'{"error": {"message": "no such route"}}')
            return
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            await _send(send, 400, b'{"error": {"message": "invalid JSON"}}')
            return
        await self.respond(path, body, send)

    async def respond(self, path: str, body: Any, send: Send) -> None:
        """Answer one well-formed request (after ``delay``)."""
        if self.delay:
            await asyncio.sleep(self.delay)
        text, direction = _text_of(path, body)
        verdict = self.classify(text, direction)
        await _send(send, 200, self._routes[path](verdict, body, direction))

    def classify(self, text: str, direction: str) -> Judgement:
        worst = "safe"
        categories: dict[str, None] = {}
        for rule in self.rules:
            if rule.marker in text:
                categories[rule.category] = None
                if _RANK[rule.safety] > _RANK[worst]:
                    worst = rule.safety
        refusal = None
        if direction == "output":
            head = text[:40].lower()
            refusal = any(mark in head for mark in _REFUSAL_MARKS)
        return Judgement(worst, tuple(categories), refusal)

    # -- wire formats ----------------------------------------------------------------------

    def _qwen3guard(self, v: Judgement, body: Any, direction: str) -> bytes:
        labels = [CATEGORY_LABELS[c][0] for c in v.categories if c in CATEGORY_LABELS]
        if direction == "output":
            labels = [label for label in labels if label != "Jailbreak"]
        lines = [f"Safety: {v.safety.capitalize()}", f"Categories: {', '.join(labels) or 'None'}"]
        if v.refusal is not None:
            lines.append(f"Refusal: {'Yes' if v.refusal else 'No'}")
        return _chat(body, "\n".join(lines))

    def _llamaguard(self, v: Judgement, body: Any, direction: str) -> bytes:
        if v.safety != "unsafe":
            return _chat(body, "\n\nsafe")
        codes = [CATEGORY_LABELS[c][1] for c in v.categories if c in CATEGORY_LABELS]
        return _chat(body, "\n\nunsafe\n" + ",".join(codes))

    def _openai(self, v: Judgement, body: Any, direction: str) -> bytes:
        flagged = {CATEGORY_LABELS[c][2] for c in v.categories if c in CATEGORY_LABELS}
        flagged.discard(None)
        high = 0.91 if v.safety == "unsafe" else 0.45
        scores = {k: (high if k in flagged else 0.0012) for k in OPENAI_CATEGORIES}
        cats = {k: (v.safety == "unsafe" and k in flagged) for k in OPENAI_CATEGORIES}
        result = {
            "flagged": any(cats.values()),
            "categories": cats,
            "category_scores": scores,
            "category_applied_input_types": {k: ["text"] for k in OPENAI_CATEGORIES},
        }
        model = body.get("model", "omni-moderation-latest") if isinstance(body, dict) else ""
        return orjson.dumps(
            {"id": f"modr-demo{self.requests}", "model": model, "results": [result]}
        )

    def _webhook(self, v: Judgement, body: Any, direction: str) -> bytes:
        ids = [CATEGORY_LABELS[c][3] for c in v.categories if c in CATEGORY_LABELS]
        score = 0.9 if v.safety == "unsafe" else 0.5
        return orjson.dumps(
            {
                "safety": v.safety,
                "categories": ids,
                "scores": {i: score for i in ids},
                "refusal": v.refusal,
            }
        )


def _text_of(path: str, body: Any) -> tuple[str, str]:
    """The text a guard judges (the last message) and its direction."""
    if not isinstance(body, dict):
        return "", "input"
    if path.endswith("/chat/completions"):
        messages = body.get("messages") or [{}]
        last = messages[-1] if isinstance(messages[-1], dict) else {}
        content = last.get("content")
        if isinstance(content, list):  # OpenAI content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        direction = "output" if last.get("role") == "assistant" else "input"
        return (content if isinstance(content, str) else ""), direction
    if path.endswith("/moderations"):
        value = body.get("input")
        if isinstance(value, list):
            value = value[0] if value and isinstance(value[0], str) else ""
        return (value if isinstance(value, str) else ""), "input"
    text = body.get("text")
    return (text if isinstance(text, str) else ""), str(body.get("direction") or "input")


def _chat(body: Any, content: str) -> bytes:
    model = body.get("model", "demo-guard") if isinstance(body, dict) else "demo-guard"
    return orjson.dumps(
        {
            "id": "chatcmpl-demo-guard",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )


async def _send(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(*, rules: tuple[Rule, ...] = DEFAULT_RULES, delay: float = 0.0) -> DemoGuardApp:
    return DemoGuardApp(rules=rules, delay=delay)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake guard model server (all wire formats).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    import uvicorn

    uvicorn.run(
        create_app(delay=args.delay),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
