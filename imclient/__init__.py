"""imclient: the Python SDK and command-line client of the IM server.

asyncio first; depends only on improto (the shared wire codec), msgpack and
websockets. See docs/sdk.md.
"""

from .client import Backoff, Client
from .conversation import Edited, ReadEvent, Recalled, TypingEvent
from .errors import (
    ApiError,
    AuthError,
    ClientClosed,
    ConnectTimeout,
    IMError,
    Kicked,
    LoggedOut,
    NetworkError,
    Replaced,
    SendFailed,
    SendTimeout,
    SessionEnded,
    TokenExpired,
)
from .models import Channel, Message, Status
from .store import StateStore
from .tracker import SeqTracker

__all__ = [
    "ApiError",
    "AuthError",
    "Backoff",
    "Channel",
    "Client",
    "ClientClosed",
    "ConnectTimeout",
    "Edited",
    "IMError",
    "Kicked",
    "TokenExpired",
    "TypingEvent",
    "LoggedOut",
    "Message",
    "NetworkError",
    "ReadEvent",
    "Recalled",
    "Replaced",
    "SendFailed",
    "SendTimeout",
    "SeqTracker",
    "SessionEnded",
    "StateStore",
    "Status",
]
