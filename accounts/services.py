"""Writes on accounts: register, log in, log out, edit the profile.
(Sessions, blocks and closing an account have modules of their own.)

No DRF here: errors are Django ValidationErrors (field -> messages) or the small
exceptions below, so any interface can call these functions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.contrib.auth import authenticate, user_logged_in
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from knox.models import get_token_model

from accounts.login_limits import login_attempt_begin
from accounts.models import USERNAME_TAKEN, User
from accounts.session_records import session_record
from accounts.signals import avatar_check, tokens_revoked, user_moderated
from accounts.username_hold import username_release_if_held_past
from accounts.usernames import canonical_username, mixed_scripts_error
from improto.vocabulary import KICKED, LOGOUT

logger = logging.getLogger(__name__)

AVATAR_NOT_IMAGE = "Not an image you uploaded: send the id from POST /api/media/."


class InvalidCredentials(Exception):
    """Unknown username, wrong password or inactive account (deliberately one error)."""


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User
    token: str  # the only time the raw token exists: the database keeps a hash
    token_key: str
    expiry: datetime | None


def user_register(*, username: str, password: str, display_name: str = "") -> User:
    """Create an active account; raise ValidationError {field: [messages]} if refused."""
    username = User.normalize_username(username)
    if isinstance(username, str):
        username_release_if_held_past(canonical_username(username))
    user = User(username=username, display_name=display_name)
    errors: dict[str, list[str]] = {}
    try:
        user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if "username" not in errors:
        if script_error := mixed_scripts_error(username):
            errors["username"] = [script_error]
        elif User.objects.filter(username_canonical=canonical_username(username)).exists():
            errors["username"] = [USERNAME_TAKEN]
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)

    user.set_password(password)
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError:
        # Lost a race with a registration of the same name (or a variant of it: the
        # unique canonical name decides).
        raise ValidationError({"username": [USERNAME_TAKEN]})
    return user


def user_login(*, username: str, password: str, address: str, device: str = "") -> LoginResult:
    """Check the credentials and issue a new token (one per login, so one per device),
    recording the device name the client gave (GET /api/auth/sessions/ shows it).

    Raises LoginThrottled while `address` or `username` has too many failed logins
    (accounts.login_limits); a failure here counts against both.
    """
    attempt = login_attempt_begin(address=address, username=username)
    user = authenticate(None, username=username, password=password)
    if user is None:
        raise InvalidCredentials
    attempt.succeeded()
    with transaction.atomic():
        instance, token = get_token_model().objects.create(user=user)
        session_record(token=instance, device=device)
    # Django's receiver records last_login; other apps may listen too.
    user_logged_in.send(sender=type(user), request=None, user=user)
    return LoginResult(user=user, token=token, token_key=instance.token_key, expiry=instance.expiry)


def user_logout(*, token) -> None:
    """Revoke one token; after commit, close the live connections opened with it."""
    user_id, token_key = token.user_id, token.token_key
    with transaction.atomic():
        token.delete()
        # robust: the token is already gone, so a failure to reach live connections is
        # logged by Django rather than turned into an error for the client.
        revoked_on_commit(user_id=user_id, token_key=token_key, reason=LOGOUT)


def user_deactivate(*, user: User, moderator_id: int | None = None, reason: str = "") -> None:
    """A moderator's ban: the account stops working, every token is revoked, and
    after commit every live connection gets `offline`/`kicked`. With `moderator_id`,
    `user_moderated` is sent in the same transaction (the audit log's entry)."""
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        get_token_model().objects.filter(user=user).delete()
        revoked_on_commit(user_id=user.pk, token_key=None, reason=KICKED)
        if moderator_id is not None:
            user_moderated.send(sender=User, moderator_id=moderator_id, user_id=user.pk,
                                banned=True, reason=reason)


def user_reactivate(*, user: User, moderator_id: int, reason: str = "") -> None:
    """A moderator lifts a ban: the account works again (its user logs in anew)."""
    with transaction.atomic():
        user.is_active = True
        user.save(update_fields=["is_active"])
        user_moderated.send(sender=User, moderator_id=moderator_id, user_id=user.pk,
                            banned=False, reason=reason)


def _avatar_allowed(*, user_id: int, media_id: str) -> bool:
    """An image the user uploaded: media answers `avatar_check`."""
    return any(
        answer
        for _, answer in avatar_check.send(sender=User, user_id=user_id, media_id=media_id)
    )


def revoked_on_commit(*, user_id: int, token_key: str | None, reason: str) -> None:
    """Inside the transaction that revokes tokens: once it commits, tell the apps above
    (realtime closes the live connections those tokens opened, on every node).

    robust: the tokens are already gone, so a failure to reach live connections is
    logged by Django rather than turned into an error for the client (the periodic
    token check closes them anyway)."""
    transaction.on_commit(
        partial(_tokens_revoked, user_id=user_id, token_key=token_key, reason=reason),
        robust=True,
    )


def _tokens_revoked(*, user_id: int, token_key: str | None, reason: str) -> None:
    # send, not send_robust: a receiver's failure reaches on_commit(robust=True),
    # which logs it.
    tokens_revoked.send(sender=User, user_id=user_id, token_key=token_key, reason=reason)


def user_update_profile(
    *,
    user: User,
    display_name: str | None = None,
    bio: str | None = None,
    avatar: str | None = None,
) -> User:
    """Change the given fields (None leaves a field as it is).

    `avatar` is the id of an image the user uploaded, or "" to remove it.
    """
    if avatar and not _avatar_allowed(user_id=user.pk, media_id=avatar):
        raise ValidationError({"avatar": [AVATAR_NOT_IMAGE]})
    changes = {
        name: value
        for name, value in (("display_name", display_name), ("bio", bio), ("avatar", avatar))
        if value is not None
    }
    if not changes:
        return user
    for name, value in changes.items():
        setattr(user, name, value)
    user.full_clean(
        exclude=[f.name for f in User._meta.concrete_fields if f.name not in changes],
        validate_unique=False,
        validate_constraints=False,
    )
    user.save(update_fields=list(changes))
    return user
