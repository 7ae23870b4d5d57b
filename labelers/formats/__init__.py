"""Registry of per-format modules (see :mod:`labelers.formats.base` for the interface).

Modules are imported lazily in a fixed order; one that is not present yet is skipped. The
order matters for sniffing: binary formats first, ``text`` (the catch-all for UTF-8) last.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import UnsupportedMediaError
from .base import FormatModule, FoundRecord

__all__ = ["FORMAT_NAMES", "FoundRecord", "FormatModule", "detect", "media_type_of", "modules"]

FORMAT_NAMES = ("images", "audio", "video", "documents", "text")
_loaded: list[ModuleType] | None = None


def modules() -> list[ModuleType]:
    """The format modules available, in sniffing order."""
    global _loaded
    if _loaded is None:
        found = []
        for name in FORMAT_NAMES:
            full = f"{__name__}.{name}"
            try:
                found.append(importlib.import_module(full))
            except ModuleNotFoundError as exc:
                if exc.name != full:
                    raise
        _loaded = found
    return _loaded


def media_type_of(module: ModuleType, data: bytes) -> str:
    """The module's media type for ``data`` (``media_type`` may be a function or a string)."""
    mt = module.media_type
    return mt(data) if callable(mt) else str(mt)


def detect(data: bytes) -> ModuleType:
    """The format module whose ``sniff`` accepts ``data``; raises UnsupportedMediaError."""
    for module in modules():
        if module.sniff(data):
            return module
    raise UnsupportedMediaError("unsupported or unrecognised media type (sniffed by content)")
