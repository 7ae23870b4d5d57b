"""GB 45438-2025 labels for AI-generated content: explicit and implicit, read, verify, propagate.

Usage::

    from labelers import LabelSettings, label_file, inspect_file, propagate_file

    settings = LabelSettings(producer_code="001191110102MACQD9K64010000")
    out = label_file(data, filename="report.pdf", settings=settings)
    report = inspect_file(out.data)
"""

from .api import InspectReport, LabeledFile, inspect_file, label_file, label_text, propagate_file
from .errors import (
    CorruptFileError,
    LabelConflictError,
    LabelError,
    LabelFormatError,
    MediaLimitError,
    MissingFontError,
    UnrenderableTextError,
    UnsupportedMediaError,
)
from .integrity import generate_sm2_keypair
from .record import LabelRecord, check_provider_code, new_produce_id
from .settings import C2paConfig, LabelSettings, SigningConfig

__all__ = [
    "C2paConfig",
    "CorruptFileError",
    "InspectReport",
    "LabelConflictError",
    "LabelError",
    "LabelFormatError",
    "LabelRecord",
    "LabelSettings",
    "LabeledFile",
    "MediaLimitError",
    "MissingFontError",
    "SigningConfig",
    "UnrenderableTextError",
    "UnsupportedMediaError",
    "check_provider_code",
    "generate_sm2_keypair",
    "inspect_file",
    "label_file",
    "label_text",
    "new_produce_id",
    "propagate_file",
]
