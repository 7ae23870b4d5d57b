"""Label settings: who labels, what the explicit notices say, where they go, and limits.

Judgement calls: the short explicit text defaults to ``AI生成`` (images, GB §5.2 needs both the
AI element and the generation element); the text notice defaults to ``本内容由人工智能生成``
(labeling.md §2.1 recommendation). Propagation wording follows Labeling Measures Art. 6:
Label "1" 属于, "2" 可能为, "3" 疑似.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from .errors import LabelFormatError
from .record import check_provider_code

__all__ = ["BUILTIN_WORDINGS", "C2paConfig", "LabelSettings", "SigningConfig", "has_required_elements", "propagation_wording"]

_AI_RE = re.compile(r"人工智能|AI", re.IGNORECASE)
_GEN_RE = re.compile(r"生成|合成")

_NOTICE = {
    "1": "该内容属于人工智能生成合成内容",
    "2": "该内容可能为人工智能生成合成内容",
    "3": "该内容疑似为人工智能生成合成内容",
}
_SHORT = {"1": "AI生成", "2": "可能为AI生成", "3": "疑似AI生成"}
# Every wording the library or the service draws by default; the shipped font covers them all
# (scripts/build-label-font, tests/labelers/test_fonts.py).
BUILTIN_WORDINGS = (
    "AI生成",
    "本内容由人工智能生成",
    "【本内容由人工智能生成】",
    *_NOTICE.values(),
    *_SHORT.values(),
)


def has_required_elements(text: str) -> bool:
    """True if ``text`` holds the AI element (人工智能/AI) and the generation element (生成/合成)."""
    return bool(_AI_RE.search(text) and _GEN_RE.search(text))


def propagation_wording(label: str) -> tuple[str, str]:
    """``(short, long)`` explicit wording for a propagated Label "1"/"2"/"3" (M Art. 6)."""
    return _SHORT[label], _NOTICE[label]


@dataclass(frozen=True, slots=True)
class SigningConfig:
    """Integrity for ReservedCode1/2 (PG-SEC SecurityData).

    ``algorithm="hmac-sha256"``: ``key`` is the secret (bytes), verifiable only with it.
    ``algorithm="sm2"``: ``private_key``/``public_key`` are hex (gmssl form, public key
    without the 04 prefix); the public key travels in the file.
    """

    algorithm: Literal["hmac-sha256", "sm2"] = "hmac-sha256"
    key_id: str = "k1"
    key: bytes = b""
    private_key: str = ""
    public_key: str = ""
    bind_content: bool = True

    def __post_init__(self) -> None:
        if self.algorithm == "hmac-sha256" and len(self.key) < 16:
            raise LabelFormatError("HMAC signing key must be at least 16 bytes")
        if self.algorithm == "sm2" and not (self.private_key and self.public_key):
            raise LabelFormatError("SM2 signing needs private_key and public_key (hex)")
        if self.algorithm not in ("hmac-sha256", "sm2"):
            raise LabelFormatError(f"unknown signing algorithm {self.algorithm!r}")
        if not re.fullmatch(r"[0-9A-Za-z._-]{1,64}", self.key_id):
            raise LabelFormatError("key_id must be 1-64 of [0-9A-Za-z._-]")


@dataclass(frozen=True, slots=True)
class C2paConfig:
    """A C2PA manifest (``c2pa.created``, IPTC ``trainedAlgorithmicMedia``) signed last.

    ``cert_chain`` is the PEM chain (signing certificate first), ``private_key`` the PEM key
    for ``algorithm``; ``tsa_url`` an optional RFC 3161 time-stamp authority.
    """

    cert_chain: bytes
    private_key: bytes
    algorithm: Literal["es256", "es384", "es512", "ps256", "ed25519"] = "es256"
    tsa_url: str | None = None
    claim_generator: str = "aigc-gateway"

    def __post_init__(self) -> None:
        if b"BEGIN CERTIFICATE" not in self.cert_chain or b"PRIVATE KEY" not in self.private_key:
            raise LabelFormatError("C2PA needs a PEM certificate chain and a PEM private key")


@dataclass(frozen=True, slots=True)
class LabelSettings:
    """Everything a labeling call needs besides the content.

    ``producer_code`` must be a TC260-PG-20252A code (27 characters) unless
    ``strict_provider_code`` is false (then any Annex E j) string, e.g. a test name).
    """

    producer_code: str
    explicit_text: str = "AI生成"
    text_notice: str = "本内容由人工智能生成"
    text_position: Literal["start", "end"] = "end"
    explicit: bool = True
    # images
    image_position: Literal["bottom-right", "bottom-left", "top-right", "top-left"] = "bottom-right"
    image_text_height: float = 0.06  # of the shortest side; GB §5.2 floor is 0.05
    font_path: str | None = None
    # audio
    audio_morse: Literal["start", "end", "both", "none"] = "start"
    audio_voice: bool = False
    voice_path: str | None = None
    morse_unit_ms: int = 100
    morse_freq_hz: float = 800.0
    # integrity
    signing: SigningConfig | None = None
    # limits against hostile input
    max_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 64_000_000
    max_uncompressed_bytes: int = 256 * 1024 * 1024
    max_pdf_pages: int = 5000
    max_audio_seconds: float = 4 * 3600.0
    # video (PG-20257A): longer input is refused; the start notice lasts this long (>= 2 s)
    max_video_seconds: float = 600.0
    video_notice_seconds: float = 3.0
    # C2PA manifest beside the TC260 record (None: off)
    c2pa: C2paConfig | None = None
    strict_provider_code: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.strict_provider_code:
            problems = check_provider_code(self.producer_code, role="producer")
            if problems:
                raise LabelFormatError(problems[0])
        for name in ("explicit_text", "text_notice"):
            if not has_required_elements(getattr(self, name)):
                raise LabelFormatError(
                    f"{name} must contain 人工智能/AI and 生成/合成 (GB 45438 §5)"
                )
        if not 0.05 <= self.image_text_height <= 0.5:
            raise LabelFormatError("image_text_height must be between 0.05 and 0.5")
        if self.text_position not in ("start", "end"):
            raise LabelFormatError("text_position must be 'start' or 'end'")
        if self.audio_morse not in ("start", "end", "both", "none"):
            raise LabelFormatError("audio_morse must be start, end, both or none")
        if self.video_notice_seconds < 2.0:
            raise LabelFormatError("video_notice_seconds must be at least 2 (GB 45438 §5.4)")
        if self.audio_morse == "none" and not self.audio_voice and self.explicit:
            raise LabelFormatError("audio needs the Morse rhythm or the voice notice")

    def replace(self, **changes: object) -> LabelSettings:
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)

    def for_label(self, label: str) -> LabelSettings:
        """Settings whose explicit wording matches a propagated Label (属于/可能为/疑似)."""
        short, long = propagation_wording(label)
        if label == "1":
            return self
        return replace(self, explicit_text=short, text_notice=long)
