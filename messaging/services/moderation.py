"""What moderators do to messages and reports, each action written to the audit log
in the same transaction as the action itself.

A redaction is a `recall` whose `from` is the moderator, stored through the one write
path (messages_send) and pushed to every member's live connections after commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from improto.conversation import RECALL
from improto.errors import NOT_FOUND
from messaging.models import AuditEntry, Message, Report
from messaging.services.message_send import SendRequest, messages_send
from messaging.signals import messages_to_push
from messaging.store import get_store

REDACT = "redact"
DISMISS = "dismiss report"
BAN = "ban sender"
BAN_USER = "ban"  # from the Users pages of the admin
UNBAN_USER = "lift ban"


class ModerationRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Redacted:
    channel: str
    target: int
    seq: int  # of the recall
    already: bool  # it had been redacted by this moderator before (nothing new stored)


def message_redact(*, moderator_id: int, channel: str, seq: int, reason: str) -> Redacted:
    """Recall message `seq` of `channel` as the moderator, at any time."""
    with transaction.atomic():
        outcome = messages_send([SendRequest(
            sender_id=moderator_id, client_id=f"redact:{seq}", type=RECALL, body={},
            channel=channel, target=seq, moderator=True,
        )])[0]
        if outcome.refused is not None:
            raise ModerationRefused(outcome.refused.code, outcome.refused.message)
        stored = outcome.result.message
        if not outcome.result.dup:
            audit(moderator_id=moderator_id, action=REDACT, subject=f"{channel}#{seq}",
                  reason=reason)
        delivery = outcome.delivery()
        if delivery is not None:
            transaction.on_commit(
                lambda: messages_to_push.send(sender=Message, deliveries=[delivery]))
    return Redacted(channel, seq, stored.seq, outcome.result.dup)


def report_create(*, reporter_id: int, channel: str, seq: int, reason: str) -> Report:
    """File a report (once per reporter and message); the caller checked membership."""
    if not get_store().find([(channel, seq)]):
        raise ModerationRefused(NOT_FOUND, f"no such message: {channel}#{seq}")
    report, _ = Report.objects.get_or_create(
        reporter_id=reporter_id, channel=channel, seq=seq, defaults={"reason": reason}
    )
    return report


def report_close(*, report: Report, moderator_id: int, state: str, reason: str) -> None:
    """Mark a report handled; `state` is what was done about it."""
    with transaction.atomic():
        report.state = state
        report.handled_by_id = moderator_id
        report.handled_at = timezone.now()
        report.save(update_fields=["state", "handled_by", "handled_at"])
        if state == Report.DISMISSED:
            audit(moderator_id=moderator_id, action=DISMISS, subject=f"report {report.pk}",
                  reason=reason)


def audit(*, moderator_id: int, action: str, subject: str, reason: str) -> AuditEntry:
    return AuditEntry.objects.create(
        moderator_id=moderator_id, action=action, subject=subject, reason=reason[:1000]
    )


def audit_user_moderated(sender=None, *, moderator_id: int, user_id: int, banned: bool,
                         reason: str, **kwargs) -> None:
    """accounts' `user_moderated`: a ban (or its lifting) from the Users admin, written
    in the ban's own transaction."""
    audit(moderator_id=moderator_id, action=BAN_USER if banned else UNBAN_USER,
          subject=f"user {user_id}", reason=reason)
