"""The exceptions the SDK raises. Everything derives from IMError."""

from __future__ import annotations

from improto import vocabulary as words


class IMError(Exception):
    """Base class of every error raised by imclient."""


class NetworkError(IMError, ConnectionError):
    """The server could not be reached (REST call or connection attempt)."""


class ApiError(IMError):
    """A REST call answered with an error status."""

    def __init__(self, status: int, body: object, method: str = "", path: str = "") -> None:
        super().__init__(f"{method} {path} -> HTTP {status}: {body!r}".strip())
        self.status = status
        self.body = body


class AuthError(IMError):
    """Login failed, or the server refused the token (`bad_token`)."""


class ConnectTimeout(IMError, TimeoutError):
    """`connect()` could not establish a session in time."""


class SessionEnded(IMError):
    """The server ended the session for good; the client does not reconnect.

    `reason` is the `offline` reason (`kicked`, `logout`, `expired`, `replaced`).
    """

    reason = "ended"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or f"the server ended the session ({self.reason})")


class Kicked(SessionEnded):
    """`offline`/`kicked`: an operator disconnected this user."""

    reason = words.KICKED


class LoggedOut(SessionEnded):
    """`offline`/`logout`: the token was logged out (here or on another device)."""

    reason = words.LOGOUT


class TokenExpired(SessionEnded):
    """`offline`/`expired`: the token reached its expiry; log in again for a new one."""

    reason = words.EXPIRED


class Replaced(SessionEnded):
    """`offline`/`replaced`: another connection authenticated with the same device name."""

    reason = words.REPLACED


class SendFailed(IMError):
    """The server refused a message (`forbidden`, `invalid`, `not_found`, ...).

    Refusals are final: retrying the same message would be refused again.
    """

    def __init__(self, code: str, message: str, client_id: str) -> None:
        super().__init__(f"{code}: {message} (message {client_id})")
        self.code = code
        self.message = message
        self.client_id = client_id


class SendTimeout(IMError, TimeoutError):
    """No ack within the `timeout` given to `send`.

    The message may or may not be stored: send it again with the same `client_id`
    to find out without risking a duplicate.
    """

    def __init__(self, client_id: str) -> None:
        super().__init__(f"no ack for message {client_id} in time")
        self.client_id = client_id


class ClientClosed(IMError):
    """The client was closed (by `close()`) while the operation waited."""
