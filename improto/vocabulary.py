"""The words of the wire protocol other than error codes (those are in errors.py):
frame types and offline reasons (docs/protocol.md: Lifecycle, Sending, Sync, Errors).

Server, SDK and tests spell them through these names, so a typo is an import error
instead of a frame nobody understands.
"""

from __future__ import annotations

# Client frames that are not content.
AUTH = "auth"
HEARTBEAT = "heartbeat"  # also the server's answer
SYNC = "sync"  # also the server's answer

# Content frames: sent by clients, stored, pushed, synced.
TEXT = "text"
EMOJI = "emoji"
IMAGE = "image"
VIDEO = "video"
AUDIO = "audio"
FILE = "file"

# Conversation state (docs/protocol.md, Conversation state): read and typing are
# neither stored nor acked as messages; edit and recall are content messages that
# change another message instead of saying something new.
READ = "read"  # also the server's event
TYPING = "typing"  # also the server's event
EDIT = "edit"
RECALL = "recall"
REVISION_TYPES = (EDIT, RECALL)
CONVERSATION_TYPES = (READ, TYPING, *REVISION_TYPES)

# Server frames.
AUTH_OK = "auth_ok"
ACK = "ack"
ERROR = "error"
OFFLINE = "offline"

CONTENT_TYPES = (TEXT, EMOJI, IMAGE, VIDEO, AUDIO, FILE)
MEDIA_TYPES = (IMAGE, VIDEO, AUDIO, FILE)
CLIENT_TYPES = (AUTH, HEARTBEAT, SYNC, *CONTENT_TYPES, *CONVERSATION_TYPES)
SERVER_TYPES = (AUTH_OK, ACK, HEARTBEAT, SYNC, ERROR, OFFLINE, *CONTENT_TYPES,
                *CONVERSATION_TYPES)

# Why the server ends a session (the `reason` of an `offline` frame).
REBALANCE = "rebalance"
SHUTDOWN = "shutdown"
KICKED = "kicked"
REPLACED = "replaced"
LOGOUT = "logout"
SLOW = "slow"
FLOOD = "flood"
EXPIRED = "expired"

OFFLINE_REASONS = (REBALANCE, SHUTDOWN, KICKED, REPLACED, LOGOUT, SLOW, FLOOD, EXPIRED)
