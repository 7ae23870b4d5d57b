"""OpenAI Chat Completions (`POST /v1/chat/completions`), streaming and not.

Scopes are choices: with ``n > 1`` a block ends only its own choice (``finish_reason:
"content_filter"``), the others go on; the upstream is cut once no choice is left. Every
string field of every delta is a slot of its own (by JSON path): ``content`` carries the
label, ``refusal``/``reasoning``/``reasoning_content`` are displayed text, tool-call and
legacy ``function_call`` arguments are JSON (decoded while they stream). Token log-probs are
dropped (``logprobs: null``): they repeat the text token by token.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any, ClassVar

import orjson

from ..decisions import ALL
from ..framing import sse_event
from ..labels import TextLabel
from ..slots import Slots
from ..stream import Event, Field, StreamProtocol, Unparseable, put_path
from .base import Adapter, expect, iter_dicts, last_user_text, list_of_dicts

__all__ = ["ChoicesStream", "OpenAIChat", "choice_scope"]

_DISPLAY = frozenset({"content", "refusal", "reasoning", "reasoning_content"})
_REASONING = ("reasoning", "reasoning_content")
_DONE = b"data: [DONE]\n\n"
_NAME_KEEP = 256  # characters of a tool-call name kept to find a term across its fragments


def wants_json(body: dict) -> bool:
    fmt = body.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


_PLAIN_TOP = frozenset(
    {
        "id",
        "object",
        "created",
        "model",
        "system_fingerprint",
        "service_tier",
        "choices",
        "usage",
        "obfuscation",
    }
)
_PLAIN_CHOICE = frozenset({"index", "delta", "text", "logprobs", "finish_reason"})


def plain_choice(obj: dict | None) -> dict | None:
    """The one choice of a chunk that only carries text of that choice, else None."""
    if obj is None or obj.get("usage") is not None or not obj.keys() <= _PLAIN_TOP:
        return None
    choices = obj.get("choices")
    if not isinstance(choices, list) or len(choices) != 1:
        return None
    choice = choices[0]
    if (
        not choice.keys() <= _PLAIN_CHOICE
        or choice.get("finish_reason") is not None
        or choice.get("logprobs") is not None
    ):
        return None
    return choice


def choice_scope(path: tuple) -> Hashable:
    if len(path) > 1 and path[0] == "choices" and isinstance(path[1], int):
        return path[1]
    return ALL


def _str_or_none(container: dict, key: str, where: str) -> None:
    value = container.get(key)
    if value is not None and not isinstance(value, str):
        raise Unparseable(f"a chunk whose {where}{key} is {type(value).__name__}")


class ChoicesStream(StreamProtocol):
    """Chat and legacy completions chunks: choices interleaved by index."""

    sentinel = b"[DONE]"
    strip: ClassVar[dict[str, Any] | None] = {"logprobs": None}
    object_name: ClassVar[str] = "chat.completion.chunk"

    def __init__(self, request: dict, slots: Slots) -> None:
        super().__init__(request, slots)
        opts = request.get("stream_options")
        self.include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
        n = request.get("n")
        self.n = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
        self.template: dict[str, Any] = {}
        self.seen: set[int] = set()
        self.names: dict[tuple[int, int], str] = {}  # (choice, call) -> name so far (its end)
        self.finished: set[int] = set()
        self.usage: Any = None
        self.json_mode = wants_json(request)
        self._fields: dict[tuple, Field] = {}  # a path's treatment never changes in a stream
        modalities = request.get("modalities")
        # streamed audio passes only when asked for (and so only with labels off: a labeled
        # gateway refuses such requests, labels.check_request); unasked it is never relayed
        self.audio_ok = isinstance(modalities, list) and "audio" in modalities

    # -- parsing ------------------------------------------------------------------------------

    def check(self, event: Event) -> None:
        obj = event.obj
        if obj is None:
            return
        choices = obj.get("choices")
        if choices is None:
            return
        if not isinstance(choices, list):
            raise Unparseable("a chunk whose choices is not a list")
        for choice in choices:
            if not isinstance(choice, dict):
                raise Unparseable("a chunk whose choice is not an object")
            index = choice.get("index", 0)
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise Unparseable("a chunk whose choice index is not an integer")
            if index >= self.n:  # clients that print choices[0] would join it to choice 0
                raise Unparseable(f"a chunk for choice {index} of a request for {self.n}")
            self.check_choice(choice)

    def check_choice(self, choice: dict) -> None:
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            raise Unparseable("a chunk whose choice has no delta object")
        for key, value in delta.items():
            if key in _DISPLAY and value is not None and value.__class__ is not str:
                raise Unparseable(f"a chunk whose delta.{key} is {type(value).__name__}")
        audio = delta.get("audio")
        if audio is not None:
            if not isinstance(audio, dict):
                raise Unparseable("a chunk whose delta.audio is not an object")
            if audio.get("data") is not None and not self.audio_ok:  # a transcript is text
                raise Unparseable("streamed audio the request did not ask for")
        calls = delta.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise Unparseable("a chunk whose tool_calls is not a list")
            for call in calls:
                if not isinstance(call, dict):
                    raise Unparseable("a chunk whose tool call is not an object")
                fn = call.get("function")
                if fn is not None and not isinstance(fn, dict):
                    raise Unparseable("a chunk whose tool call function is not an object")
                if fn:
                    _str_or_none(fn, "arguments", "function.")
                    _str_or_none(fn, "name", "function.")
        fc = delta.get("function_call")
        if fc is not None:
            if not isinstance(fc, dict):
                raise Unparseable("a chunk whose function_call is not an object")
            _str_or_none(fc, "arguments", "function_call.")

    # -- screening ----------------------------------------------------------------------------

    def scope_of(self, path: tuple) -> Hashable:
        return choice_scope(path)

    def classify(self, event: Event, path: tuple) -> Field:
        field = self._fields.get(path)
        if field is None:
            field = self._fields[path] = self._classify(path)
        return field

    def _classify(self, path: tuple) -> Field:
        if path[0] == "error":
            return Field(None)  # an upstream error object: screened whole, relayed at once
        scope = choice_scope(path)
        if scope == ALL or len(path) < 4 or path[2] != "delta":
            return Field(path, scope)  # a vendor field, streamed like a delta (it may be one)
        field = path[-1]
        if path[2] == "delta":
            if len(path) == 4 and field in _DISPLAY:
                json = field == "content" and self.json_mode
                # the notice goes on content or a refusal, whichever shows first; reasoning
                # first: it goes out in that chunk's content (``owed``)
                label = field in ("content", "refusal")
                return Field(path, scope, display=True, label=label, json=json)
            if field == "arguments":
                return Field(path, scope, json=True)
            if field == "name" and path[-2] == "function":
                return Field(None, scope)  # sent as they arrive (``_names`` joins fragments)
        return Field(path, scope)

    def before(self, event: Event) -> None:
        obj = event.obj
        if obj is None:
            return
        if self.response_id is None:
            rid = obj.get("id")
            self.response_id = rid if isinstance(rid, str) else None
        if obj.get("usage"):
            self.usage = obj["usage"]
        for choice in obj.get("choices") or ():
            delta = choice.get("delta")
            calls = delta.get("tool_calls") if isinstance(delta, dict) else None
            if calls:
                self._names(choice.get("index", 0), calls)

    def _names(self, index: int, calls: list) -> None:
        """Tool-call names go out as they arrive (clients read them from the first
        fragment), and clients join their fragments: a masked or blocked term across two
        fragments ends the choice before the fragment that completes it is sent."""
        decisions = self.slots.decisions
        for call in calls:
            fn = call.get("function")
            name = fn.get("name") if fn else None
            if not name:
                continue
            key = (index, call.get("index", 0))
            before = self.names.get(key, "")
            self.names[key] = (before + name)[-_NAME_KEEP:]
            if not before or self.slots.blocked(index):
                continue
            joined = before + name
            try:
                found = decisions.screen.lexicon.scan(joined)
            except Exception as exc:  # noqa: BLE001 - a scanner fault is a screening failure
                if not decisions.fail(exc):
                    self.slots.block(index)
                continue
            across = [
                m
                for m in found
                if m.start < len(before) < m.end and decisions.screen.action(m) in ("mask", "block")
            ]
            if across:
                masked = decisions.screen.lexicon.mask(joined, across)
                decisions.record_text(across, masked, "tool_calls.function.name")
                self.slots.block(index)

    def is_terminal(self, event: Event) -> bool:
        return event.sentinel is not None

    def merge(self, last: Event, event: Event) -> bool:
        a = last.plain if last.plain is not False else plain_choice(last.obj)
        last.plain = a
        if a is None:
            return False
        b = event.plain = plain_choice(event.obj)
        if a is None or b is None or a.get("index") != b.get("index"):
            return False
        da, db = a.get("delta"), b.get("delta")
        if (
            not isinstance(da, dict)
            or not isinstance(db, dict)
            or len(da) != 1
            or da.keys() != db.keys()
        ):
            return False
        (field,) = da
        if (
            field not in _DISPLAY
            or not isinstance(da[field], str)
            or not isinstance(db[field], str)
        ):
            return False
        da[field] += db[field]
        return True

    # -- guard ------------------------------------------------------------------------------

    def closing(self, event: Event) -> list[Hashable]:
        if event.sentinel is not None:
            return self.slots.keys()
        keys: list[Hashable] = []
        for choice in event.obj.get("choices") or ():
            if choice.get("finish_reason"):
                keys += self.slots.keys(choice.get("index", 0))
        return keys

    def split(self, event: Event) -> list[Event]:
        """A chunk that finishes a choice and carries its last text: the text first."""
        obj = event.obj
        choices = obj.get("choices") if obj is not None else None
        if not choices:
            return [event]
        moved = []
        for choice in choices:
            if choice.get("finish_reason") and self.carries_text(choice):
                moved.append(self.text_part(choice))
        if not moved:
            return [event]
        head = {k: v for k, v in obj.items() if k not in ("choices", "usage")}
        if self.include_usage:
            head["usage"] = None
        return [Event(event.name, {**head, "choices": moved}), event]

    def carries_text(self, choice: dict) -> bool:
        delta = choice.get("delta")
        return isinstance(delta, dict) and any(k != "role" for k in delta)

    def text_part(self, choice: dict) -> dict:
        """Move the delta of a finishing choice into a choice of its own (not finishing)."""
        delta, choice["delta"] = choice["delta"], {}
        return {
            "index": choice.get("index", 0),
            "delta": delta,
            "logprobs": None,
            "finish_reason": None,
        }

    def emit(self, key: Hashable, text: str, out: list[bytes]) -> None:
        assert isinstance(key, tuple)
        scope = choice_scope(key)
        if scope == ALL:
            chunk = self.chunk([])
            put_path(chunk, key, text)
        else:
            chunk = self.chunk([self.empty_choice(scope, None)])
            put_path(chunk, key, text)
            notice = self.slots.owed.pop(scope, None)
            if notice:
                self.add_text(chunk["choices"][0], notice, front=True)
            self.seen.add(scope)
            self.deltas += 1
        out.append(sse_event(chunk))

    def after(self, event: Event, out: list[bytes], blocked_before: set) -> None:
        obj = event.obj
        if not self.template:  # as screened: the chunks the gateway builds repeat it
            self.template = {k: obj[k] for k in ("id", "created", "model") if k in obj}
        choices = obj.get("choices")
        if not choices:
            return
        kept = []
        for choice in choices:
            index = choice.get("index", 0)
            if index in blocked_before or index in self.finished:
                continue  # a choice already ended: nothing more of it is sent
            self.seen.add(index)
            self.deltas += 1
            if self.slots.blocked(index):
                choice["finish_reason"] = None  # end_scope sends content_filter next
            notice = self.slots.owed.pop(index, None)
            if notice:
                self.add_text(choice, notice, front=True)
            if choice.get("finish_reason"):
                for key, rest in self.slots.flush_scope(index):
                    put_path(obj, key, rest)
                if self.slots.blocked(index):
                    choice["finish_reason"] = None
                else:
                    tail = self.slots.end_notice(index)
                    if tail:
                        self.add_text(choice, tail)
                    self.finished.add(index)
            if self.keep(choice):
                kept.append(choice)
        obj["choices"] = kept
        if not kept and not obj.get("usage"):
            event.drop = True

    def add_text(self, choice: dict, text: str, front: bool = False) -> None:
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = choice["delta"] = {}
        old = delta.get("content") or ""
        delta["content"] = text + old if front else old + text

    def keep(self, choice: dict) -> bool:
        """Prune what hold-back emptied; False when nothing of the choice is left to send."""
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return True
        if "" in delta.values() and "role" not in delta:
            for key in _DISPLAY:
                if delta.get(key) == "":
                    del delta[key]
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            calls[:] = [c for c in calls if _call_left(c)]
            if not calls:
                del delta["tool_calls"]
        fc = delta.get("function_call")
        if isinstance(fc, dict) and fc.get("arguments") == "" and "name" not in fc:
            del delta["function_call"]
        return bool(delta) or choice.get("finish_reason") is not None

    # -- endings ------------------------------------------------------------------------------

    def chunk(self, choices: list) -> dict:
        out = {
            "id": self.template.get("id", "chatcmpl-aigc"),
            "object": self.object_name,
            "created": self.template.get("created", int(time.time())),
            "model": self.template.get("model", self.request.get("model", "")),
            "choices": choices,
        }
        if self.include_usage:
            out["usage"] = None
        return out

    def empty_choice(self, index: int, finish: str | None) -> dict:
        return {"index": index, "delta": {}, "logprobs": None, "finish_reason": finish}

    def flush_all(self, out: list[bytes]) -> None:
        for index in sorted(self.seen - self.finished):
            if self.slots.blocked(index):
                continue
            rests = self.slots.flush_scope(index)
            if self.slots.blocked(index):
                self.end_scope(index, out)
                continue
            tail = self.slots.end_notice(index)
            if rests or tail:
                chunk = self.chunk([self.empty_choice(index, None)])
                for key, rest in rests:
                    put_path(chunk, key, rest)
                if tail:
                    self.add_text(chunk["choices"][0], tail)
                out.append(sse_event(chunk))
        rests = self.slots.flush_scope(ALL)
        if rests and not self.slots.all_blocked:
            chunk = self.chunk([])
            for key, rest in rests:
                put_path(chunk, key, rest)
            out.append(sse_event(chunk))

    def end_scope(self, scope: Hashable, out: list[bytes]) -> None:
        if scope == ALL or scope in self.finished:
            return
        self.finished.add(scope)
        choice = self.empty_choice(scope, "content_filter")
        tail = self.slots.end_notice(scope)
        if tail:
            self.add_text(choice, tail)
        out.append(sse_event(self.chunk([choice])))

    def scopes_open(self) -> bool:
        if self.slots.all_blocked:
            return False
        count = max(self.n, max(self.seen, default=-1) + 1)
        return any(not self.slots.blocked(i) for i in range(count))

    def block_tail(self, out: list[bytes]) -> None:
        for index in sorted((self.seen | set(range(self.n))) - self.finished):
            self.end_scope(index, out)
        if self.include_usage:
            usage = self.usage or {
                "prompt_tokens": 0,
                "completion_tokens": self.deltas,
                "total_tokens": self.deltas,
            }
            chunk = self.chunk([])
            chunk["usage"] = usage
            out.append(sse_event(chunk))
        out.append(_DONE)

    def error_tail(self, code: str, message: str) -> bytes:
        err = {"error": {"message": message, "type": "api_error", "param": None, "code": code}}
        return sse_event(err)


def _call_left(call: Any) -> bool:
    """A tool-call delta still carries something once emptied arguments are removed."""
    if not isinstance(call, dict):
        return True
    fn = call.get("function")
    if isinstance(fn, dict):
        if fn.get("arguments") == "":
            del fn["arguments"]
        if not fn:
            del call["function"]
    return any(k != "index" for k in call)


class OpenAIChat(Adapter):
    name = "openai_chat"
    takes_media = True  # image and audio parts
    strip: ClassVar[dict[str, Any] | None] = {"logprobs": None}

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "n", int)
        expect(body, "stream_options", dict)
        expect(body, "response_format", dict, str)
        list_of_dicts(body, "tools")
        for i, msg in enumerate(list_of_dicts(body, "messages")):
            where = f"messages[{i}]."
            expect(msg, "role", str, where=where)
            expect(msg, "name", str, where=where)
            expect(msg, "refusal", str, where=where)
            content = expect(msg, "content", str, list, where=where)
            if isinstance(content, list):
                for j, part in enumerate(list_of_dicts(msg, "content", where)):
                    expect(part, "type", str, where=f"{where}content[{j}].")
                    expect(part, "text", str, where=f"{where}content[{j}].")
            for j, call in enumerate(list_of_dicts(msg, "tool_calls", where)):
                fn = expect(call, "function", dict, where=f"{where}tool_calls[{j}].")
                if fn:
                    expect(fn, "arguments", str, where=f"{where}tool_calls[{j}].function.")
            fc = expect(msg, "function_call", dict, where=where)
            if fc:
                expect(fc, "arguments", str, where=f"{where}function_call.")

    def labelable(self, body: dict) -> bool:
        return not wants_json(body)

    def streamed_media(self, body: dict) -> str | None:
        """Streamed audio output (``modalities`` with "audio") cannot be labeled."""
        modalities = body.get("modalities")
        if self.is_stream(body) and isinstance(modalities, list) and "audio" in modalities:
            return "audio"
        return None

    def prompt_text(self, body: dict) -> str:
        return last_user_text(body.get("messages"))

    # -- whole answers ------------------------------------------------------------------------

    def scope_of(self, path: tuple) -> Hashable:
        return choice_scope(path)

    def answer_ok(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        choices = body.get("choices")
        if choices is None:
            return bool(body.get("error"))
        return isinstance(choices, list) and all(
            isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices
        )

    def block(self, body: dict, scope: Hashable) -> None:
        for choice in iter_dicts(body.get("choices")):
            if scope != ALL and choice.get("index", 0) != scope:
                continue
            msg = choice.get("message")
            if isinstance(msg, dict):
                msg["content"] = ""
                for key in ("tool_calls", "function_call", "audio"):
                    msg.pop(key, None)
                for key in ("refusal", "reasoning", "reasoning_content"):
                    if key in msg:
                        msg[key] = None
            choice["finish_reason"] = "content_filter"

    def label(self, body: dict, label: TextLabel, blocked: set) -> bool:
        placed = False
        for choice in iter_dicts(body.get("choices")):
            msg = choice.get("message")
            if choice.get("index", 0) in blocked or not isinstance(msg, dict):
                continue
            # a refusal alone is displayed text too: the notice goes on it; reasoning alone
            # (cut by max_tokens): the notice is the content, as in a stream
            for key in ("content", "refusal"):
                if isinstance(msg.get(key), str) and msg[key]:
                    msg[key] = label.wrap(msg[key])
                    placed = True
                    break
            else:
                if any(isinstance(msg.get(k), str) and msg[k] for k in _REASONING):
                    msg["content"] = label.notice
                    placed = True
        return placed

    def stream(self, request: dict, slots: Slots) -> StreamProtocol:
        return ChoicesStream(request, slots)

    def refusal(self, request: dict, text: str, response_id: str) -> bytes | None:
        head = {
            "id": f"chatcmpl-{response_id}",
            "created": int(time.time()),
            "model": request.get("model") or "",
        }
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        if not self.is_stream(request):
            message = {"role": "assistant", "content": text, "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None}
            choice["finish_reason"] = "content_filter"
            return orjson.dumps(
                {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        opts = request.get("stream_options")
        with_usage = isinstance(opts, dict) and opts.get("include_usage") is True
        chunk = {**head, "object": "chat.completion.chunk"}
        if with_usage:
            chunk["usage"] = None

        def choice(delta: dict, finish: str | None) -> bytes:
            c = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return sse_event({**chunk, "choices": [c]})

        out = [
            choice({"role": "assistant", "content": ""}, None),
            choice({"content": text}, None),
            choice({}, "content_filter"),
        ]
        if with_usage:
            out.append(sse_event({**chunk, "choices": [], "usage": usage}))
        return b"".join(out) + _DONE
