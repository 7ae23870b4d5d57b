"""Errors raised by the labelers library.

    LabelError (ValueError)
    ├── UnsupportedMediaError   the bytes are not a format we label (sniffed by content)
    ├── CorruptFileError        corrupt, truncated or hostile input (bombs, absurd dimensions)
    ├── LabelFormatError        an AIGC record that does not follow GB 45438 Annex E
    │   └── UnrenderableTextError   the label font has no glyph for a character of the text
    ├── MediaLimitError         the media is longer or larger than the configured limits
    ├── LabelConflictError      the file already carries another party's label
    └── MissingFontError        no CJK font available to render an explicit image label

The service maps them to HTTP 415 / 422 / 422 (422 ``label_text_unsupported``) / 413 /
422 ``label_conflict`` / 500.
"""

from __future__ import annotations

__all__ = [
    "CorruptFileError",
    "LabelConflictError",
    "LabelError",
    "LabelFormatError",
    "MediaLimitError",
    "MissingFontError",
    "UnrenderableTextError",
    "UnsupportedMediaError",
]


class LabelError(ValueError):
    """Base class of every labelers error."""


class UnsupportedMediaError(LabelError):
    """The content is not a media type this library can label."""


class CorruptFileError(LabelError):
    """The file is corrupt, truncated or hostile (decompression bomb, absurd dimensions)."""


class LabelFormatError(LabelError):
    """An AIGC record or a label setting does not follow GB 45438-2025 Annex E."""


class UnrenderableTextError(LabelFormatError):
    """The label font has no glyph for a character of the label text."""


class MediaLimitError(LabelError):
    """The media exceeds a configured limit (bytes, duration, frames); nothing was labeled."""


class LabelConflictError(LabelError):
    """The file already carries a label of another producer; use propagation instead."""


class MissingFontError(LabelError):
    """No CJK-capable font is available to render the explicit image label."""
