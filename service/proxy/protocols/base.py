"""What a wire-protocol adapter declares, and the refinements it provides.

The generic walker screens every string of every request and answer whatever the adapter
says; an adapter *refines*. It declares:

- ``family`` (``openai`` | ``anthropic`` | ``ollama``): the error envelope and the header an
  injected upstream key goes in; ``output``: what an answer carries (``text``, ``vectors``,
  ``image``, ``audio``); ``takes_media``: whether requests may carry media payloads;
- ``non_text``: the walker's non-text keys (with the shapes their values must have);
  ``strip``: answer keys replaced outright (token log-probabilities repeat the output token by
  token, so a masked term would leak through them);
- ``validate(body)``: strict types of the request fields it relies on; a wrong type is a 400
  ``invalid_request`` in the protocol's envelope, never a forward;

``prompt_text(body)`` gives the user-authored text a guard model judges (normally the last
user turn), and it refines answers: ``scope_of`` (what a block ends: a choice or all), ``answer_ok`` (the
shape it rewrites), ``block`` (the protocol-native outcome), ``label`` (the explicit notice),
``stream`` (a ``StreamProtocol``: stream events, terminal events, endings) and ``refusal``
(the reply for ``proxy.block_mode = "refusal"``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from service.errors import BadRequest

from ..decisions import ALL
from ..labels import TextLabel
from ..walker import NON_TEXT

if TYPE_CHECKING:
    from ..slots import Slots
    from ..stream import StreamProtocol

__all__ = [
    "Adapter",
    "InvalidRequest",
    "error_body",
    "expect",
    "iter_dicts",
    "last_user_text",
    "list_of_dicts",
]


class InvalidRequest(BadRequest):
    """A request field has a type the protocol does not allow."""

    code = "invalid_request"


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _openai_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(
    family: str, status: int, code: str, message: str, param: str | None = None
) -> bytes:
    """The protocol family's own error envelope (``param``: the request field at fault)."""
    if family == "anthropic":
        etype = _ANTHROPIC_TYPES.get(status, "api_error")
        return orjson.dumps(
            {"type": "error", "error": {"type": etype, "code": code, "message": message}}
        )
    if family == "ollama":
        return orjson.dumps({"error": message, "code": code})
    return orjson.dumps(
        {"error": {"message": message, "type": _openai_type(status), "param": param, "code": code}}
    )


def last_user_text(messages: Any, parts: tuple[str, ...] = ("text",)) -> str:
    """The text of the last ``user`` message of a conversation: a string content, or its text
    parts (``type`` in ``parts``) joined by newlines; "" when there is none."""
    for msg in reversed(list(iter_dicts(messages))):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            return content
        texts = [
            p["text"]
            for p in iter_dicts(content)
            if p.get("type") in parts and isinstance(p.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


def iter_dicts(value: Any) -> Iterator[dict]:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


_NAMES = {str: "a string", list: "a list", dict: "an object", bool: "a boolean", int: "an integer"}


def expect(container: dict, key: str, *types: type, where: str = "", none: bool = True) -> Any:
    """``container[key]`` when absent or of one of ``types``; else ``InvalidRequest``."""
    value = container.get(key)
    if value is None and none:
        return None
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        want = " or ".join(_NAMES.get(t, t.__name__) for t in types)
        raise InvalidRequest(
            f"'{where}{key}' must be {want}, not {type(value).__name__}.",
            details={"param": where + key},
        )
    return value


def no_token_ids(container: dict, key: str) -> None:
    """Refuse token ids under ``container[key]`` (numbers in a list, at any depth): the model
    reads them as text, which the gateway cannot read without the model's tokenizer."""

    value = container.get(key)
    stack = [value] if isinstance(value, list) else []
    found = False
    while stack and not found:  # no recursion: the list may be nested deep
        for item in stack.pop():
            if isinstance(item, list):
                stack.append(item)
            elif isinstance(item, int | float) and not isinstance(item, bool):
                found = True
                break
    if found:
        raise InvalidRequest(
            f"'{key}' holds token ids, which cannot be screened (the gateway has no tokenizer); "
            "send the text instead.",
            details={"param": key},
        )


def list_of_dicts(container: dict, key: str, where: str = "") -> list[dict]:
    """``container[key]`` as a list of objects (absent: []); else ``InvalidRequest``."""
    value = expect(container, key, list, where=where)
    if value is None:
        return []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidRequest(
                f"'{where}{key}[{i}]' must be an object, not {type(item).__name__}.",
                details={"param": f"{where}{key}[{i}]"},
            )
    return value


class Adapter:
    """One wire protocol; subclasses declare what differs."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = "openai"
    framing: ClassVar[str] = "sse"  # "sse" | "ndjson"
    stream_media_type: ClassVar[str] = "text/event-stream"
    output: ClassVar[str] = "text"  # "text" | "vectors" | "image" | "audio"
    takes_media: ClassVar[bool] = False
    multipart: ClassVar[bool] = False  # requests may be multipart/form-data (else JSON only)
    non_text: ClassVar[dict] = NON_TEXT
    strip: ClassVar[dict[str, Any] | None] = None

    # -- requests -----------------------------------------------------------------------------

    def validate(self, body: dict) -> None:
        """Strict types of the fields this adapter relies on; raise ``InvalidRequest``."""
        expect(body, "model", str)
        expect(body, "stream", bool)

    def is_stream(self, body: dict) -> bool:
        return body.get("stream") is True

    def model(self, body: dict) -> str | None:
        model = body.get("model")
        return model if isinstance(model, str) else None

    def user_id(self, body: dict) -> str | None:
        user = body.get("user")
        return user if isinstance(user, str) else None

    def labelable(self, body: dict) -> bool:
        """False for JSON mode / structured output, where a notice would break the format."""
        return self.output == "text"

    def prompt_text(self, body: dict) -> str:
        """The user-authored text of the request, for a guard model ("" when none): here the
        ``prompt`` or ``input`` string (image prompts, text to speak); adapters of
        conversations give the last user turn. Embeddings are not prompts: "" (the lexicon
        still screens every string of every request)."""
        if self.output == "vectors":
            return ""
        for key in ("prompt", "input"):
            value = body.get(key)
            if isinstance(value, str):
                return value
        return ""

    def refusal(self, request: dict, text: str, response_id: str) -> bytes | None:
        """A reply saying ``text`` in this API's shape (whole or stream); None: no reply."""
        return None

    # -- whole answers ------------------------------------------------------------------------

    def scope_of(self, path: tuple) -> Hashable:
        return ALL

    def answer_ok(self, body: Any) -> bool:
        """The answer has the shape this adapter rewrites (labels, block outcomes)."""
        return isinstance(body, dict)

    def block(self, body: dict, scope: Hashable) -> None:
        """The protocol-native outcome of a block in ``scope`` (its texts are already empty)."""

    def label(self, body: dict, label: TextLabel, blocked: set) -> bool:
        """Put the explicit notice into the answer (not into ``blocked`` scopes); True when
        it was placed."""
        return False

    def response_id(self, body: Any) -> str | None:
        if isinstance(body, dict):
            rid = body.get("id")
            return rid if isinstance(rid, str) else None
        return None

    # -- streams ------------------------------------------------------------------------------

    def stream(self, request: dict, slots: Slots) -> StreamProtocol:
        raise NotImplementedError(f"{self.name} does not stream")
