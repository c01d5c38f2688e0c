"""What a session needs from the process that hosts it, and nothing more.

`Session` talks to its host only through `SessionHost`; `realtime.node.Node` implements
it. The session never imports the node, so it can run under any host that keeps
these promises (a test's, for one).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from accounts.tokens import TokenIdentity
from messaging.services.message_send import Request, SendOutcome
from realtime.locator import ConnRecord
from realtime.ratelimit import Budget


@dataclass(frozen=True, slots=True)
class Registration:
    """What the host answers a session that registers."""

    user_sends: Budget  # the user's send budget on this node
    recently_revoked: bool  # check the token again: a revocation may have raced it


class HostedConnection(Protocol):
    """What the host reads of a session it registers."""

    conn_id: str
    user_id: int | None

    @property
    def authenticated(self) -> bool: ...

    def record(self) -> ConnRecord: ...


class SessionHost(Protocol):
    name: str  # the node's channel-layer name: connection records carry it
    node_id: str  # the node's id in the ring, told to the client in `auth_ok`

    async def register(self, session: HostedConnection) -> Registration:
        """Make the session reachable; raise (registering nothing) if that fails."""

    async def unregister(self, session: HostedConnection) -> None: ...

    async def heartbeat(self, session: HostedConnection) -> None: ...

    def submit(self, request: Request, *, origin: str) -> asyncio.Future[SendOutcome]:
        """Queue a send (or a read mark) for the batch writer; `origin` is the sending
        connection id."""

    def typing_allowed(self, user_id: int, channel: str) -> bool:
        """False while the user's typing in the channel is throttled."""

    def forward(self, frame: dict, recipients: frozenset[int], *, origin: str) -> None:
        """Push a frame that is not stored to the recipients' live connections."""

    def admit_auth(self) -> int:
        """0 if an authentication may proceed now, else how many ms to wait."""

    async def authenticate(self, token: str) -> TokenIdentity | None:
        """Who the token belongs to; None if it is unknown, expired or revoked."""

    async def close_connections(self, records: list[ConnRecord], reason: str) -> None:
        """Tell these connections `offline`/reason, wherever they are, and close them."""
