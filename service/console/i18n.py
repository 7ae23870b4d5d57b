"""Console languages: English and Simplified Chinese.

The language is the ``aigc-console-lang`` cookie when the operator picked one with the switch,
else the first of ``zh*``/``en*`` in the browser's ``Accept-Language`` (by q-value), else
English. Templates call ``_("English text")``; ``messages_zh.ZH`` maps it to Chinese, and a
missing entry falls back to the English text (a test checks every template string has one).
"""

from __future__ import annotations

from collections.abc import Callable

from service.console.messages_zh import ZH

LANGS = ("en", "zh-CN")
LANG_COOKIE = "aigc-console-lang"


def choose_language(accept_language: str | None, cookie: str | None) -> str:
    """``"zh-CN"`` or ``"en"``."""
    if cookie in LANGS:
        return cookie  # type: ignore[return-value]
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        tag = tag.strip().lower()
        lang = "zh-CN" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        # Higher q wins; on a tie the earlier entry (the browser's order) wins.
        if lang is not None and q > 0 and q > best_q:
            best, best_q = lang, q
    return best


def translator(lang: str) -> Callable[[str], str]:
    """``_`` for templates: the Chinese text for ``zh-CN``, the key itself for English."""
    if lang == "zh-CN":
        return lambda text: ZH.get(text, text)
    return lambda text: text
