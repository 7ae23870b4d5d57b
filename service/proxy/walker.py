"""The generic text walker: every string of a JSON value, found for screening.

The safe path is the default: a string is screened unless it sits under a documented
non-text key AND has the shape that key promises (an identifier, a timestamp, an enum value,
a base64 signature). Anything else under such a key is screened too. Dict keys are screened
unless they are keys of the wire protocols themselves (a JSON schema property name reaches
the model).

Strings are opened where they hide text:

- JSON inside a string (tool arguments, JSONL files, ``\\u``-escaped or not) is decoded and
  walked; it is serialised again only when something in it was masked or it held a duplicate
  key (the other value was never screened, yet the model reads the string as it stands);
- data URLs and base64 payloads are judged by content (``payloads``): text is decoded and
  walked, media and opaque bytes are collected for the caller (media path or refusal),
  documents the gateway cannot read are collected for refusal.

``Walk`` only collects; ``decisions.screen_walk`` scans what it collected and writes the
masked texts back (``Walk.apply``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable
from typing import Any

import orjson

from .payloads import Payload, decode_string

__all__ = ["KNOWN_KEYS", "NON_TEXT", "Ref", "Walk", "ident", "lost_duplicate", "path_text"]

ident = re.compile(r"[\w.:/@+\-]{1,256}", re.ASCII).fullmatch
_b64 = re.compile(r"[A-Za-z0-9+/_\-]+={0,2}").fullmatch

#: non-text keys and the shape their values must have to be left unscreened
NON_TEXT: dict[str, Callable[[str], Any]] = {
    key: ident
    for key in (
        "id object model role type status finish_reason stop_reason done_reason "
        "created_at completed_at modified_at expires_at system_fingerprint service_tier "
        "tool_call_id call_id tool_use_id item_id response_id previous_response_id file_id "
        "batch_id input_file_id output_file_id error_file_id thread_id assistant_id run_id "
        "message_id vector_store_id user voice size quality style background format "
        "response_format encoding_format media_type mime_type detail purpose reasoning_effort "
        "effort verbosity truncation tool_choice keep_alive digest endpoint "
        "completion_window moderation output_format input_fidelity obfuscation"
    ).split()
}
NON_TEXT.update({"signature": _b64, "encrypted_content": _b64})
#: a role is one of these words; any other role is text (chat templates write it into the
#: prompt, and vLLM and Ollama accept roles of any name)
ROLES = frozenset("system user assistant tool function developer model ipython".split())
NON_TEXT["role"] = ROLES.__contains__

#: keys of the wire protocols: not screened as text themselves (their values are)
KNOWN_KEYS = frozenset(
    (
        "id object created created_at model choices index message delta role content "
        "refusal reasoning reasoning_content tool_calls function name arguments type text "
        "finish_reason logprobs usage prompt_tokens completion_tokens total_tokens "
        "system_fingerprint service_tier messages stream stream_options include_usage "
        "temperature top_p top_k n max_tokens max_completion_tokens max_output_tokens stop "
        "presence_penalty frequency_penalty seed user tools tool_choice parallel_tool_calls "
        "response_format json_schema schema strict description parameters properties "
        "required items enum additionalProperties title default input instructions output "
        "prompt suffix echo best_of image_url url detail input_audio data format audio "
        "transcript file file_id file_data filename input_text output_text input_image "
        "input_file annotations status incomplete_details reason error code param "
        "sequence_number item item_id output_index content_index summary_index part "
        "response previous_response_id store metadata include truncation reasoning_effort "
        "effort summary encrypted_content call_id system stop_reason stop_sequence "
        "stop_sequences max_tokens_to_sample content_block source media_type input "
        "tool_use_id is_error cache_control thinking budget_tokens signature "
        "redacted_thinking partial_json input_tokens output_tokens "
        "cache_creation_input_tokens cache_read_input_tokens done done_reason "
        "total_duration load_duration prompt_eval_count prompt_eval_duration eval_count "
        "eval_duration options keep_alive images raw context template b64_json "
        "revised_prompt size quality style voice speed embedding embeddings dimensions "
        "encoding_format prediction modalities verbosity web_search_options "
        "prompt_tokens_details completion_tokens_details cached_tokens reasoning_tokens "
        "audio_tokens accepted_prediction_tokens rejected_prediction_tokens bytes token "
        "top_logprobs logprob tool_call_id function_call functions top_level"
    ).split()
)

_MAX_DEPTH = 8  # JSON inside a string inside JSON ...: decoded this deep; deeper is refused
#: keys whose value is a document the model API fetches itself (Responses ``input_file``,
#: Gemini ``file_data``, Mistral ``document_url``): text the gateway cannot read
REMOTE_DOCUMENT_KEYS = frozenset({"file_url", "file_uri", "document_url"})
_MAX_NESTING = 128  # objects and arrays inside each other: deeper is refused (stack, orjson)


def path_text(path: tuple) -> str:
    return ".".join(str(p) for p in path)


class Ref:
    """One string to screen: ``container[key]`` (or, for a dict key, the key itself)."""

    __slots__ = ("container", "key", "text", "path", "is_key", "fix")

    def __init__(self, container: Any, key: Any, text: str, path: tuple, is_key: bool, fix: int):
        self.container = container
        self.key = key
        self.text = text
        self.path = path
        self.is_key = is_key
        self.fix = fix  # index of the innermost decoded string holding it, -1: none


class _Fix:
    """A decoded string (JSON or payload text) to encode back into its place if changed."""

    __slots__ = ("container", "key", "value", "encode", "parent", "dirty")

    def __init__(self, container: Any, key: Any, value: Any, encode: Any, parent: int) -> None:
        self.container = container
        self.key = key
        self.value = value
        self.encode = encode
        self.parent = parent
        self.dirty = False


class Walk:
    """Collects the screenable strings of JSON values (``add``), then writes back (``apply``).

    ``non_text`` extends ``NON_TEXT``; ``strip`` maps keys whose values are replaced outright
    (e.g. ``logprobs``, which repeat the output token by token); ``media`` receives
    ``(path, Payload)`` of every non-text payload found.
    """

    __slots__ = (
        "refs",
        "fixes",
        "payloads",
        "non_text",
        "strip",
        "opens",
        "changed",
        "too_deep",
        "remote",
        "remote_tools",
        "_fix",
        "_renames",
    )

    def __init__(
        self,
        non_text: dict[str, Callable[[str], Any]] | None = None,
        strip: dict[str, Any] | None = None,
        opens: bool = True,
    ) -> None:
        self.refs: list[Ref] = []
        self.fixes: list[_Fix] = []
        self.payloads: list[tuple[tuple, Payload, Any, Any]] = []
        self.non_text = non_text if non_text is not None else NON_TEXT
        self.strip = strip
        self.opens = opens  # open JSON/payload strings (streams open them per field, later)
        self.changed = False  # some text was written back (masked)
        # paths of strings that hold more encoded text past _MAX_DEPTH: the caller refuses them
        # (scanned as they stand, a \\u-escaped term would pass unseen)
        self.too_deep: list[tuple] = []
        # paths of documents given by URL (the model API would fetch them unscreened)
        self.remote: list[tuple] = []
        # paths of remote MCP servers (Responses ``mcp`` tools, Anthropic ``mcp_servers``):
        # the model API would read their tools' text unscreened
        self.remote_tools: list[tuple] = []
        self._fix = -1
        self._renames: list[tuple[int, dict, str, str]] = []

    # -- collecting --------------------------------------------------------------------------

    def add(self, value: Any, path: tuple = ()) -> None:
        """Collect every screenable string of ``value`` (a dict or a list)."""
        if isinstance(value, dict):
            self._dict(value, path)
        elif isinstance(value, list):
            self._list(value, path)

    def add_string(self, container: Any, key: Any, path: tuple) -> None:
        """Collect ``container[key]`` (a string) as the walker would."""
        self._string(container, key, container[key], path, None)

    def _dict(self, d: dict, path: tuple) -> None:
        if len(path) > _MAX_NESTING:
            self.too_deep.append(path)
            return
        if not REMOTE_DOCUMENT_KEYS.isdisjoint(d) or d.get("type") == "document":
            self._remote(d, path)
        if d.get("type") == "mcp":
            self.remote_tools.append(path)
        if d.get("mcp_servers"):
            self.remote_tools.append(path + ("mcp_servers",))
        non_text, strip, known = self.non_text, self.strip, KNOWN_KEYS
        for k, v in d.items():
            if strip is not None and k in strip:
                d[k] = strip[k]
                continue
            if k not in known and k:  # JSON keys are strings
                self.refs.append(Ref(d, k, k, path, True, self._fix))
            if v.__class__ is str:
                if not v:
                    continue
                shape = non_text.get(k)
                if shape is not None and shape(v):
                    continue
                self._string(d, k, v, path + (k,), k)
            elif isinstance(v, dict):
                self._dict(v, path + (k,))
            elif isinstance(v, list):
                self._list(v, path + (k,))

    def _remote(self, d: dict, path: tuple) -> None:
        for key in REMOTE_DOCUMENT_KEYS.intersection(d):
            url = d[key]
            if isinstance(url, str) and url[:5].lower() != "data:":
                self.remote.append(path + (key,))
        source = d.get("source")
        if isinstance(source, dict) and source.get("type") == "url":  # an Anthropic document
            self.remote.append(path + ("source",))

    def _list(self, items: list, path: tuple) -> None:
        if len(path) > _MAX_NESTING:
            self.too_deep.append(path)
            return
        for i, v in enumerate(items):
            if v.__class__ is str:
                if v:
                    self._string(items, i, v, path + (i,), path[-1] if path else None)
            elif isinstance(v, dict):
                index = v.get("index")
                self._dict(v, path + (index if index.__class__ is int else i,))
            elif isinstance(v, list):
                self._list(v, path + (i,))

    def _string(self, container: Any, key: Any, value: str, path: tuple, name: Any) -> None:
        if not self.opens:
            self.refs.append(Ref(container, key, value, path, False, self._fix))
            return
        first = value[0]
        if first in " \t\r\n":
            first = value.lstrip()[:1]
        if first in '{["dD' or len(value) >= 64:
            if path.count("<json>") >= _MAX_DEPTH:
                if _opens(value, first, name):
                    self.too_deep.append(path)
            elif first in '{["' and self._json(container, key, value, path):
                return
            elif first in "dD" or len(value) >= 64:
                payload = decode_string(value, name)
                if payload is not None:
                    if payload.text is None:
                        self.payloads.append((path, payload, container, key))
                        return
                    self._decoded(container, key, payload.text, payload.reencode, path)
                    return
        self.refs.append(Ref(container, key, value, path, False, self._fix))

    def _json(self, container: Any, key: Any, value: str, path: tuple) -> bool:
        try:
            inner = orjson.loads(value)
            encode: Any = _dumps
        except orjson.JSONDecodeError:
            lines = _jsonl(value)
            if lines is None:
                return False
            inner, encode = lines, _dumps_lines
        if isinstance(inner, str):
            self._decoded(container, key, inner, _dumps, path)
            return True
        if not isinstance(inner, dict | list):
            return False  # a number or a literal: no text in it
        index = self._push(container, key, inner, encode, path)
        if lost_duplicate(value, inner, encode is _dumps_lines):
            # a duplicate key: its other value was never screened, yet a reader of the string
            # (the model, a first-wins parser) sees it; what goes on is what was screened
            self.fixes[index].dirty = True
            self.changed = True
        return True

    def _decoded(self, container: Any, key: Any, text: str, encode: Any, path: tuple) -> None:
        holder = [text]
        fix = self._push(container, key, holder, lambda h: encode(h[0]), path, walk=False)
        # the decoded text may itself be JSON or JSONL
        self._fix = fix
        self._string(holder, 0, text, path + ("<json>",), None)
        self._fix = self.fixes[fix].parent

    def _push(
        self, container: Any, key: Any, value: Any, encode: Any, path: tuple, walk: bool = True
    ) -> int:
        self.fixes.append(_Fix(container, key, value, encode, self._fix))
        index = len(self.fixes) - 1
        if walk:
            outer, self._fix = self._fix, index
            self.add(value, path + ("<json>",))
            self._fix = outer
        return index

    # -- writing back ------------------------------------------------------------------------

    def set(self, ref: Ref, text: str) -> None:
        """Write ``text`` where ``ref`` was found (masking); re-encoding happens in ``apply``."""
        self.changed = True
        if ref.is_key:
            self._renames.append((ref.fix, ref.container, ref.key, text))  # after the values
        else:
            ref.container[ref.key] = text
        if ref.fix >= 0:
            self.fixes[ref.fix].dirty = True

    def apply(self) -> None:
        """Encode changed decoded strings back, innermost first; masked keys are renamed
        inside each decoded value before it is encoded, and at the top level last."""
        renames: dict[int, list[tuple[dict, str, str]]] = {}
        for level, d, old, new in self._renames:
            renames.setdefault(level, []).append((d, old, new))
        self._renames.clear()
        for index in range(len(self.fixes) - 1, -1, -1):
            fix = self.fixes[index]
            _rename(renames.pop(index, ()))
            if not fix.dirty:
                continue
            fix.container[fix.key] = fix.encode(fix.value)
            fix.dirty = False
            if fix.parent >= 0:
                self.fixes[fix.parent].dirty = True
        _rename(renames.pop(-1, ()))


def _rename(renames: Any) -> None:
    for d, old, new in renames:
        items = [(new if k == old else k, v) for k, v in d.items()]
        d.clear()
        d.update(items)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def _dumps_lines(lines: list) -> str:
    return "\n".join(_dumps(line) for line in lines) + "\n"


_KEY_END = re.compile(r'"\s*:')  # ends every key of a JSON text (and some strings)


def lost_duplicate(raw: str, value: dict | list, lines: bool = False) -> bool:
    """Whether ``value``, parsed from the JSON (or JSON Lines) text ``raw``, lost a duplicate
    key. Every key ends in ``"`` and ``:``: when ``raw`` has no more of those than ``value``
    has keys, none was lost (the usual case, decided without a second parse)."""
    keys, stack = 0, [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            keys += len(v)
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    if len(_KEY_END.findall(raw)) <= keys:
        return False
    found = False

    def pairs(items: list) -> None:
        nonlocal found
        if len({k for k, _ in items}) != len(items):
            found = True

    try:
        for line in raw.splitlines() if lines else [raw]:
            if line.strip():
                json.loads(line, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return True  # cannot tell: forward what was screened
    return found


def _jsonl(value: str) -> list | None:
    """The documents of a JSON Lines text, or None when it is not JSON Lines."""
    if "\n" not in value:
        return None
    out = []
    for line in value.splitlines():
        if not line.strip():
            continue
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            return None
    return out if len(out) > 1 else None


def scope_by_choice(path: tuple) -> Hashable:
    """Scope of a string in an OpenAI answer: its choice (``choices.<index>``), else ALL."""
    if len(path) > 1 and path[0] == "choices":
        return path[1]
    return "*"


def _opens(value: str, first: str, name: Any) -> bool:
    """Whether the walker would decode ``value`` further (JSON, JSONL or a payload)."""
    if first in '{["':
        try:
            if isinstance(orjson.loads(value), dict | list | str):
                return True
        except orjson.JSONDecodeError:
            if _jsonl(value) is not None:
                return True
    return decode_string(value, name) is not None
