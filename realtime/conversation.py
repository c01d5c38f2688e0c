"""The session's handling of section 11 frames: read, typing, edit and recall.

Reads, edits and recalls go to the batch writer like any message (one write path,
one group commit); typing never touches the database beyond the membership check of
the first frame in each throttle window, and is forwarded, never stored.
"""

from __future__ import annotations

import time

from improto.conversation import ReadMark, Revise, Typing, typing_event
from improto.errors import FORBIDDEN, ProtocolError
from messaging.selectors.channels import ChannelForbidden, typing_audience
from messaging.services.message_send import SendRequest
from messaging.services.read_marks import ReadRequest
from realtime.db import run_read

COMMANDS = (ReadMark, Typing, Revise)
# Beyond this many throttle entries, the expired ones are dropped (no timer runs).
_PRUNE_AT = 10_000


class TypingThrottle:
    """After one typing frame of a user in a channel is forwarded, the next ones are
    dropped for `window` seconds. One per node: a user's devices meet on one node."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._until: dict[tuple[int, str], float] = {}

    def allow(self, user_id: int, channel: str) -> bool:
        now = time.monotonic()
        key = (user_id, channel)
        if self._until.get(key, 0.0) > now:
            return False
        if len(self._until) >= _PRUNE_AT:
            self._until = {k: t for k, t in self._until.items() if t > now}
        self._until[key] = now + self.window
        return True


async def handle(session, command: ReadMark | Typing | Revise) -> None:
    if isinstance(command, Typing):
        await _typing(session, command)
    elif isinstance(command, ReadMark):
        session.submit(ReadRequest(session.user_id, command.channel, command.seq), command.id)
    elif session.admit_send(command.id):
        session.submit(SendRequest(
            sender_id=session.user_id, client_id=command.id, type=command.type,
            body=command.body, channel=command.channel, target=command.target,
        ), command.id)


async def _typing(session, command: Typing) -> None:
    host = session.host
    if not host.typing_allowed(session.user_id, command.channel):
        return
    try:
        others = await run_read(typing_audience, user_id=session.user_id,
                                channel=command.channel)
    except ChannelForbidden as exc:
        raise ProtocolError(FORBIDDEN, str(exc), command.id) from None
    if others:
        host.forward(typing_event(channel=command.channel, user=session.user_id), others,
                     origin=session.conn_id)
