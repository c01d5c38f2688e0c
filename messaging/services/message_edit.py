"""Edit and recall (docs/protocol.md, Conversation state): the checks on their targets, and the
targets' new state once the edit or recall is stored.

An edit or a recall is a content message of its own (own seq, ack, fan-out, sync);
the write path stores it like any other and calls these two functions around the
append. The targets' rows are locked before the channels' allocator rows (every
writer takes them in that order), so two revisions of one message are decided one
after the other: a recall and an edit racing on two nodes never both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from improto.channels import parse_channel
from improto.conversation import EDIT, RECALL, REVISION_TYPES
from improto.errors import FORBIDDEN, NOT_FOUND
from messaging.store import AppendResult, get_store


@dataclass(slots=True)
class _Target:
    type: str
    sender_id: int
    ts: int
    recipient_id: int | None
    group_id: int | None
    recalled: bool


@dataclass(frozen=True, slots=True)
class Revision:
    """One edit or recall of the batch, after its channel was resolved."""

    index: int
    type: str
    channel: str
    target: int
    sender_id: int
    client_id: str
    moderator: bool


def revision_targets(revisions: Sequence[Revision]) -> dict[tuple[str, int], _Target]:
    """The targets, locked to commit where the store can (in channel and seq order)."""
    if not revisions:
        return {}
    found = get_store().find(sorted({(r.channel, r.target) for r in revisions}), lock=True)
    return {
        key: _Target(m.type, m.sender_id, m.ts, m.recipient_id, m.group_id,
                     m.recalled is not None)
        for key, m in found.items()
    }


def stored_client_ids(revisions: Sequence[Revision]) -> set[tuple[str, int, str]]:
    """Revisions already stored (a retry): they are acked again, not checked again."""
    if not revisions:
        return set()
    return get_store().stored_keys([(r.channel, r.sender_id, r.client_id) for r in revisions])


def revision_refusal(
    revision: Revision, targets: dict[tuple[str, int], _Target], *, now_ms: int
) -> tuple[str, str] | None:
    """(code, message) if this edit or recall may not be stored, else None. A recall
    accepted here marks its target recalled for the rest of the batch."""
    found = targets.get((revision.channel, revision.target))
    name = f"{revision.channel}#{revision.target}"
    if found is None:
        return (NOT_FOUND, f"no such message: {name}")
    if found.type in REVISION_TYPES or found.recalled:
        return (FORBIDDEN, f"{name} cannot be changed")
    if revision.moderator:
        if revision.type != RECALL:
            return (FORBIDDEN, "a moderator can only recall")
    else:
        if found.sender_id != revision.sender_id:
            return (FORBIDDEN, f"{name} was sent by someone else")
        if revision.type == EDIT and found.type != "text":
            return (FORBIDDEN, f"only a text can be edited; {name} is a {found.type}")
        window_s = (settings.IM_EDIT_WINDOW_S if revision.type == EDIT
                    else settings.IM_RECALL_WINDOW_S)
        if now_ms - found.ts > window_s * 1000:
            return (FORBIDDEN, f"too late to {revision.type} {name}")
    if revision.type == RECALL:
        found.recalled = True
    return None


def target_address(revision: Revision, targets: dict[tuple[str, int], _Target]
                   ) -> tuple[int | None, int | None]:
    """(to, group) a moderator's recall carries: the target's."""
    found = targets.get((revision.channel, revision.target))
    if found is None:  # a retried redaction: any member of the channel will do
        parsed = parse_channel(revision.channel)
        return (parsed.b, None) if parsed.kind == "p" else (None, parsed.group)
    return found.recipient_id, found.group_id


def revisions_apply(applied: Sequence[tuple[AppendResult, dict]]) -> None:
    """Give each target its current state: an edit's body and ts, or recalled (body {})."""
    store = get_store()
    for result, body in applied:
        message = result.message
        if message.type == EDIT:
            store.revise(message.channel, message.target, body=body, edited=message.ts)
        else:
            store.revise(message.channel, message.target, body={}, recalled=message.ts)
