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

    class Meta:
        ordering = ["channel", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "seq"], name="message_unique_seq"),
            models.UniqueConstraint(
                fields=["channel", "sender", "client_id"], name="message_unique_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}#{self.seq}"
