from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from accounts.usernames import CANONICAL_MAX, canonical_username

DISPLAY_NAME_MAX = 64
BIO_MAX = 500
AVATAR_MAX = 200
USERNAME_TAKEN = "A user with that username already exists."


class AccountManager(UserManager):
    def bulk_create(self, objs, *args, **kwargs):
        # bulk_create skips save(): derive the canonical names here too.
        objs = list(objs)
        for user in objs:
            user.username_canonical = canonical_username(user.username)
        return super().bulk_create(objs, *args, **kwargs)

    def get_by_natural_key(self, username):
        """The account a typed username names: its exact spelling first (two accounts
        from before canonical names may share one), else its canonical form, so that
        "ALICE" or "ａｌｉｃｅ" logs in as alice."""
        if not isinstance(username, str):
            raise self.model.DoesNotExist
        matches = list(
            self.filter(Q(username=username) | Q(username_canonical=canonical_username(username)))
        )
        for user in matches:
            if user.username == username:
                return user
        if not matches:
            raise self.model.DoesNotExist
        return matches[0]


class User(AbstractUser):
    display_name = models.CharField(max_length=DISPLAY_NAME_MAX, blank=True)
    bio = models.CharField(max_length=BIO_MAX, blank=True)
    # A media id (from POST /api/media/) or empty; resolved to a URL when shown.
    avatar = models.CharField(max_length=AVATAR_MAX, blank=True)
    # The username as names are compared (accounts.usernames.canonical_username): unique
    # on every database, where UPPER() alone is ASCII-only on SQLite. Derived from
    # `username` on every save; lookups by name (login, search) use it.
    username_canonical = models.CharField(max_length=CANONICAL_MAX, unique=True, editable=False)
    # When the owner closed the account (DELETE /api/users/me/); null while it is open.
    # A closed account is inactive and anonymised; its username is held for
    # IM_USERNAME_HOLD_DAYS, then freed (accounts.closing).
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = AccountManager()

    class Meta:
        ordering = ["id"]
        constraints = [
            # "Alice" and "alice" would be two people to the database and one to a
            # reader: refuse the second so nobody can pass for someone else.
            models.UniqueConstraint(
                Upper("username"),
                name="user_username_ci_unique",
                violation_error_message=USERNAME_TAKEN,
            ),
        ]

    def __str__(self) -> str:
        return self.username

    def save(self, *args, **kwargs):
        self.username_canonical = canonical_username(self.username)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "username_canonical"}
        super().save(*args, **kwargs)

    def validate_unique(self, exclude=None):
        # Forms (the admin's) leave the derived column out of their unique checks; the
        # name they edit must still be free in its canonical form, or saving would
        # break the unique index.
        super().validate_unique(exclude)
        if exclude and "username" in exclude:
            return
        taken = (
            type(self)
            ._default_manager.filter(username_canonical=canonical_username(self.username))
            .exclude(pk=self.pk)
            .exists()
        )
        if taken:
            raise ValidationError({"username": [USERNAME_TAKEN]})


class Block(models.Model):
    """`blocker` blocked `blocked`: the latter's private messages to the former are
    refused, they cannot add the blocker to a group, and they are not told the
    blocker's presence (accounts.blocking)."""

    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["blocker", "-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique_pair"),
        ]
        # The write path asks "did any of these recipients block this sender?".
        indexes = [models.Index(fields=["blocked", "blocker"], name="block_blocked_blocker")]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class TokenSession(models.Model):
    """What the owner sees of one token (GET /api/auth/sessions/): the device named at
    login and when it was last used. Goes with its token."""

    token = models.OneToOneField(
        "knox.AuthToken", on_delete=models.CASCADE, related_name="session"
    )
    device = models.CharField(max_length=64, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"session {self.pk} ({self.device or 'no device'})"
