"""The error vocabulary of the wire protocol (docs/protocol.md, Errors)."""

from __future__ import annotations

from .vocabulary import ERROR

AUTH_TIMEOUT = "auth_timeout"
UNAUTHENTICATED = "unauthenticated"
BAD_TOKEN = "bad_token"
BAD_FRAME = "bad_frame"
FRAME_TOO_LARGE = "frame_too_large"
UNKNOWN_TYPE = "unknown_type"
INVALID = "invalid"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
RATE_LIMITED = "rate_limited"
INTERNAL = "internal"

CLOSING_CODES = frozenset({AUTH_TIMEOUT, UNAUTHENTICATED, BAD_TOKEN, BAD_FRAME, FRAME_TOO_LARGE})
ERROR_CODES = CLOSING_CODES | frozenset(
    {UNKNOWN_TYPE, INVALID, FORBIDDEN, NOT_FOUND, RATE_LIMITED, INTERNAL}
)


class ProtocolError(Exception):
    """A violation of the wire contract, carrying the `error` frame that answers it.

    `frame_id` is the `id` of the offending frame when it could be read safely,
    so the client can match the error to its request.
    """

    def __init__(self, code: str, message: str, frame_id: str | None = None):
        if code not in ERROR_CODES:
            raise ValueError(f"not an error code: {code!r}")
        super().__init__(code, message, frame_id)
        self.code = code
        self.message = message
        self.frame_id = frame_id

    @property
    def closes(self) -> bool:
        """Whether the server must close the connection after sending the error."""
        return self.code in CLOSING_CODES

    def to_frame(self) -> dict:
        return {"type": ERROR, "id": self.frame_id, "code": self.code, "message": self.message}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
