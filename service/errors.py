"""The service's one error tree, mapped to HTTP in one place (``service.app``).

    GatewayError                      500 internal_error
    ├── BadRequest                    400 bad_request
    │   ├── InvalidJSON               400 invalid_json
    │   ├── ValidationFailed          422 validation_error
    │   ├── EmptyText                 400 empty_text
    │   ├── UnsupportedMedia          415 unsupported_media_type
    │   └── CorruptFile               422 corrupt_file
    ├── PayloadTooLarge               413 payload_too_large
    ├── PolicyViolation               400 content_policy_violation
    ├── Unauthorized                  401 invalid_api_key
    ├── AdminUnauthorized             401 invalid_admin_token
    ├── Forbidden                     403 forbidden
    │   ├── UserSuspended             403 user_suspended
    │   └── UserRestricted            403 user_restricted
    ├── NotFound                      404 not_found
    ├── RateLimited                   429 rate_limited
    ├── UpstreamError                 502 upstream_error
    │   └── UpstreamTimeout           504 upstream_timeout
    └── ServiceUnavailable            503 service_unavailable
        └── RecordsUnavailable        503 records_unavailable

Each class carries a stable ``code`` and an HTTP ``status``; handlers raise, never build
responses by hand. Library errors (``lexicons.LexiconError``, ``labelers.LabelError``) are
translated by ``from_library_error`` below, the one place that knows both trees.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AdminUnauthorized",
    "BadRequest",
    "CorruptFile",
    "EmptyText",
    "Forbidden",
    "GatewayError",
    "InvalidJSON",
    "NotFound",
    "PayloadTooLarge",
    "PolicyViolation",
    "RateLimited",
    "RecordsUnavailable",
    "ServiceUnavailable",
    "Unauthorized",
    "UnsupportedMedia",
    "UpstreamError",
    "UpstreamTimeout",
    "UserRestricted",
    "UserSuspended",
    "ValidationFailed",
    "from_library_error",
]


class GatewayError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str | None = None, *, details: Any = None, code: str | None = None):
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.details = details
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class BadRequest(GatewayError):
    """The request is malformed."""

    status = 400
    code = "bad_request"


class InvalidJSON(BadRequest):
    """The request body is not valid JSON."""

    code = "invalid_json"


class ValidationFailed(BadRequest):
    """The request body does not have the expected shape."""

    status = 422
    code = "validation_error"


class EmptyText(BadRequest):
    """The text to screen is empty."""

    code = "empty_text"


class UnsupportedMedia(BadRequest):
    """The uploaded file is of a type this service does not handle."""

    status = 415
    code = "unsupported_media_type"


class CorruptFile(BadRequest):
    """The uploaded file is corrupt, truncated or hostile."""

    status = 422
    code = "corrupt_file"


class PayloadTooLarge(GatewayError):
    """The request body or text is larger than the configured limit."""

    status = 413
    code = "payload_too_large"


class PolicyViolation(GatewayError):
    """The content violates the content policy."""

    status = 400
    code = "content_policy_violation"


class Unauthorized(GatewayError):
    """Missing or unknown API key."""

    status = 401
    code = "invalid_api_key"


class AdminUnauthorized(GatewayError):
    """Missing or wrong admin token."""

    status = 401
    code = "invalid_admin_token"


class Forbidden(GatewayError):
    """This request is not allowed."""

    status = 403
    code = "forbidden"


class UserSuspended(Forbidden):
    """This user is suspended for repeated policy violations."""

    code = "user_suspended"


class UserRestricted(Forbidden):
    """This user is restricted (sanctions ladder) and may not use this function."""

    code = "user_restricted"


class NotFound(GatewayError):
    """No such resource."""

    status = 404
    code = "not_found"


class RateLimited(GatewayError):
    """Too many requests."""

    status = 429
    code = "rate_limited"


class UpstreamError(GatewayError):
    """The model API failed."""

    status = 502
    code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    """The model API did not answer in time."""

    status = 504
    code = "upstream_timeout"


class ServiceUnavailable(GatewayError):
    """The service is not ready."""

    status = 503
    code = "service_unavailable"


class RecordsUnavailable(ServiceUnavailable):
    """No compliance record can be made durable now, and the policy is to refuse requests."""

    code = "records_unavailable"


def from_library_error(exc: Exception) -> GatewayError | None:
    """The service error for a ``lexicons`` or ``labelers`` error; None for anything else."""
    from labelers import (
        CorruptFileError,
        LabelConflictError,
        LabelError,
        LabelFormatError,
        MediaLimitError,
        MissingFontError,
        UnrenderableTextError,
        UnsupportedMediaError,
    )
    from lexicons import LexiconError

    message = str(exc)
    if isinstance(exc, LexiconError):
        return ValidationFailed(message, code="lexicon_invalid")
    if not isinstance(exc, LabelError):
        return None
    if isinstance(exc, UnsupportedMediaError):
        return UnsupportedMedia(message)
    if isinstance(exc, CorruptFileError):
        return CorruptFile(message)
    if isinstance(exc, MediaLimitError):
        return ValidationFailed(message, code="media_limit_exceeded")
    if isinstance(exc, UnrenderableTextError):
        return ValidationFailed(message, code="label_text_unsupported")
    if isinstance(exc, LabelConflictError):
        return ValidationFailed(message, code="label_conflict")
    if isinstance(exc, LabelFormatError):
        return ValidationFailed(message, code="label_invalid")
    if isinstance(exc, MissingFontError):
        return GatewayError(message, code="font_missing")
    return GatewayError(message, code="label_failed")
