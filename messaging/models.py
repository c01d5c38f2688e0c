from django.conf import settings
from django.db import models


class Group(models.Model):
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="owned_groups"
    )
    public = models.BooleanField(default=False)
    # Kept equal to the number of Membership rows; updated under the group's row lock.
    member_count = models.PositiveIntegerField(default=0)
    # Raised in the same transaction as every change to the group's Membership rows
    # (messaging.services.groups; the admin's edits and the deletion of users go
    # through group_repair): the write path caches the members of a group and uses
    # them only while this still reads the same (messaging.selectors.members).
    # db_default: rows inserted by a node of the previous version, during an upgrade,
    # get it too.
    members_version = models.BigIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} (g:{self.pk})"

    @property
    def channel(self) -> str:
        return f"g:{self.pk}"


class Membership(models.Model):
    OWNER = "owner"
    MEMBER = "member"
    ROLES = [(OWNER, "owner"), (MEMBER, "member")]

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=8, choices=ROLES, default=MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in g:{self.group_id}"


class ChannelState(models.Model):
    """One row per channel: the seq allocator.

    The writer locks this row for the whole transaction that stores the channel's
    next messages, so seq N+1 cannot commit before seq N.
    """

    channel = models.CharField(max_length=64, primary_key=True)
    last_seq = models.BigIntegerField(default=0)
    # The lowest seq still stored: the retention task raises it before it deletes
    # what lies below (docs/protocol.md, Retention). Every seq from it to last_seq is
    # stored; first_seq = last_seq + 1 when nothing is left.
    first_seq = models.BigIntegerField(default=1)
    # Server time of the last stored message: ts never decreases along seq, even if
    # a node's clock steps back.
    last_ts = models.BigIntegerField(default=0)
    # For private channels, the two users (a <= b); null for groups. Lets
    # "channels of a user" be one indexed query.
    user_a = models.BigIntegerField(null=True, db_index=True)
    user_b = models.BigIntegerField(null=True, db_index=True)
    group = models.ForeignKey(Group, null=True, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.channel}@{self.last_seq}"


class Message(models.Model):
    channel = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    ts = models.BigIntegerField(help_text="server time in ms when stored")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sent_messages"
    )
    client_id = models.CharField(max_length=64)
    type = models.CharField(max_length=8)
    recipient_id = models.BigIntegerField(null=True)
    group_id = models.BigIntegerField(null=True)
    body = models.JSONField()
    # An edit or a recall: the seq of the message it changes (docs/protocol.md, Conversation state).
    target = models.BigIntegerField(null=True, blank=True)
    # On a target: the ts of its last edit, of its recall.
    edited = models.BigIntegerField(null=True, blank=True)
    recalled = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["channel", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "seq"], name="message_unique_seq"),
            models.UniqueConstraint(
                fields=["channel", "sender", "client_id"], name="message_unique_client_id"
            ),
        ]
        indexes = [
            # Unread counts leave edits and recalls out: few rows, found by this index.
            models.Index(
                fields=["channel", "seq"], name="message_revisions",
                condition=models.Q(target__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}#{self.seq}"


class ReadPosition(models.Model):
    """How far a user has read a channel; only ever moves forward."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=64)
    seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "channel"], name="read_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.channel}@{self.seq}"


class Report(models.Model):
    """A user's report of a message, waiting for a moderator."""

    OPEN, DISMISSED, REDACTED, BANNED = "open", "dismissed", "redacted", "banned"
    STATES = [(OPEN, "open"), (DISMISSED, "dismissed"), (REDACTED, "redacted"),
              (BANNED, "sender banned")]

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    reason = models.CharField(max_length=1000)
    state = models.CharField(max_length=10, choices=STATES, default=OPEN, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["reporter", "channel", "seq"],
                                    name="report_once_per_message"),
        ]

    def __str__(self) -> str:
        return f"report of {self.channel}#{self.seq} ({self.state})"


class AuditEntry(models.Model):
    """One moderator action: who, what, on what, when, why. Written, never changed."""

    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=32)
    subject = models.CharField(max_length=128, help_text="e.g. g:9#18, user 7, report 3")
    reason = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.action} {self.subject}"
