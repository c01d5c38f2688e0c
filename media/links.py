"""Short-lived signed download links, for clients that cannot send a token header.

A browser's <img src>, <video src> or a plain download link cannot carry
`Authorization: Token ...`. GET /api/media/<id>/link/ hands out
`/api/media/<id>/?sig=...`: the id of the user who asked, a timestamp and an HMAC
(django.core.signing, salted with the media id), valid IM_MEDIA_LINK_TTL_S seconds.
Fetching through it still checks that this user may read the file, so leaving a
group or being banned ends access at once, not when the link expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.utils import timezone
from django.utils.http import urlencode

from media.selectors import media_url

SALT = "media.link"
QUERY_PARAM = "sig"


class LinkInvalid(Exception):
    pass


def _signer(media_id: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"{SALT}:{media_id}")


def media_link(*, media_id: str, user_id: int) -> tuple[str, datetime]:
    """(url, expiry) of a link that fetches the file as this user."""
    signature = _signer(media_id).sign(str(user_id))
    url = f"{media_url(media_id)}?{urlencode({QUERY_PARAM: signature})}"
    return url, timezone.now() + timedelta(seconds=settings.IM_MEDIA_LINK_TTL_S)


def media_link_user(*, media_id: str, signature: str) -> int:
    """The user a link was made for; LinkInvalid if forged, for another file, expired,
    or the user is no longer active."""
    try:
        raw = _signer(media_id).unsign(signature, max_age=settings.IM_MEDIA_LINK_TTL_S)
        user_id = int(raw)
    except (signing.BadSignature, ValueError):
        raise LinkInvalid("Invalid or expired link.") from None
    if not get_user_model().objects.filter(pk=user_id, is_active=True).exists():
        raise LinkInvalid("Invalid or expired link.")
    return user_id
