"""Llama Guard 3 and 4 behind an OpenAI-compatible chat endpoint.

Output format (Llama Guard 3/4 model cards; the prompt's instructions in Meta's
``prompt_format_utils.py``: "First line must read 'safe' or 'unsafe'. If unsafe, a second line
must include a comma-separated list of violated categories"): ``safe``, or ``unsafe`` and a
line such as ``S1,S10``. Codes S1-S14 are the same in Llama Guard 3 and 4 (S14 Code
Interpreter Abuse is absent from the 1B model). Generation may start with blank lines.
"""

from __future__ import annotations

import re
from typing import Any

from ..verdict import GuardInput, GuardResult
from .base import BadGuardResponse, chat_content, chat_request

__all__ = ["LlamaGuard"]

_CODE = re.compile(r"^S([1-9][0-9]?)$")


class LlamaGuard:
    name = "llamaguard"

    def request(self, item: GuardInput, model: str) -> tuple[str, dict[str, Any]]:
        return chat_request(item, model)

    def parse(self, payload: Any, item: GuardInput) -> GuardResult:
        lines = [line.strip() for line in chat_content(payload).splitlines() if line.strip()]
        first = lines[0].lower()
        if first == "safe":
            return GuardResult("safe")
        if first != "unsafe":
            raise BadGuardResponse("the first line is neither 'safe' nor 'unsafe'")
        codes: list[str] = []
        if len(lines) > 1:
            for part in lines[1].split(","):
                code = part.strip().upper()
                if not _CODE.match(code):
                    raise BadGuardResponse("the category line is not a list of S-codes")
                codes.append(code)
        return GuardResult("unsafe", tuple(dict.fromkeys(codes)))
