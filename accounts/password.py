"""Changing one's password: proven by the old one, checked by the same validators as
registration, and every other session of the user signed out."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.login_limits import login_attempt_begin
from accounts.models import User
from accounts.sessions import tokens_revoke

WRONG_PASSWORD = "Your password was entered incorrectly."


def password_check(*, user: User, password: str, address: str, field: str) -> None:
    """Raise ValidationError {field: [...]} unless `password` is the user's. Wrong
    guesses count against the login limits of the address and of the username (a
    stolen token must not become a way round them); LoginThrottled when over them."""
    attempt = login_attempt_begin(address=address, username=user.username)
    if not user.check_password(password):
        raise ValidationError({field: [WRONG_PASSWORD]})
    attempt.succeeded()


def password_change(
    *, user: User, old_password: str, new_password: str, current_digest: str, address: str
) -> int:
    """Set a new password; revoke every token of the user but the current one (their
    live connections get `offline`/`logout` after commit). Returns how many tokens were
    revoked."""
    password_check(user=user, password=old_password, address=address, field="old_password")
    try:
        validate_password(new_password, user=user)
    except ValidationError as exc:
        raise ValidationError({"new_password": list(exc.messages)}) from None
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        return tokens_revoke(user=user, keep_digest=current_digest)
