"""Reads of media: who may fetch a file, and what a message says about it."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.urls import reverse

from media.models import MediaFile, MediaGrant, MediaKind
from media.signals import channel_read_check


def media_url(media_id: str) -> str:
    """Where the file is fetched: a path on this server's HTTP address.

    A path rather than an absolute URL: messages are stored for good, and the host
    clients reach the server by may change; clients resolve it like every API path.
    """
    return reverse("media-file", kwargs={"media_id": media_id})


def media_fields(media: MediaFile) -> dict:
    """What a message body and the upload answer say about a file: url, mime, size,
    name, and width/height/duration where known (absent otherwise)."""
    fields = {"url": media_url(media.id), "mime": media.mime, "size": media.size,
              "name": media.name}
    for name in ("width", "height", "duration"):
        value = getattr(media, name)
        if value is not None:
            fields[name] = value
    return fields


def media_bytes_stored(*, owner_id: int) -> int:
    """The bytes of every file the user has stored (what the upload quota counts)."""
    return MediaFile.objects.filter(owner_id=owner_id).aggregate(total=Sum("size"))["total"] or 0


def media_for_send(media_ids: Iterable[str]) -> dict[str, MediaFile]:
    """The files a batch of messages refers to, in one query."""
    ids = {m for m in media_ids if isinstance(m, str)}
    if not ids:
        return {}
    rows = MediaFile.objects.filter(pk__in=ids).only(
        "id", "owner_id", "kind", "mime", "size", "name", "width", "height", "duration"
    )
    return {m.id: m for m in rows}


def media_is_own_image(*, user_id: int, media_id: str) -> bool:
    return MediaFile.objects.filter(pk=media_id, owner_id=user_id, kind=MediaKind.IMAGE).exists()


def media_is_avatar_candidate(sender=None, *, user_id: int, media_id: str, **kwargs) -> bool:
    """The answer to accounts' `avatar_check`: an image the user uploaded."""
    return media_is_own_image(user_id=user_id, media_id=media_id)


def media_readable(*, user_id: int, media_id: str) -> MediaFile | None:
    """The file if the user may fetch it, else None (whether or not it exists).

    Readers: the uploader; members of any channel the file was sent to (the same
    check as reading that channel's history); and, for the image that is its owner's
    current avatar, every signed-in user, since profiles are visible to all of them.
    """
    # A closed account's files are served to nobody (accounts.closing).
    media = MediaFile.objects.filter(pk=media_id, owner__deleted_at__isnull=True).first()
    if media is None:
        return None
    if media.owner_id == user_id:
        return media
    if get_user_model().objects.filter(pk=media.owner_id, avatar=media.id).exists():
        return media
    channels = _granted_channels(media.id)
    if channels and any(
        answer
        for _, answer in channel_read_check.send(
            sender=MediaFile, user_id=user_id, channels=channels
        )
    ):
        return media
    return None


def _granted_channels(media_id: str) -> list[str]:
    """Channels the file was sent to, private ones first: checking those takes no query."""
    channels = MediaGrant.objects.filter(media_id=media_id).values_list("channel", flat=True)
    return sorted(channels, key=lambda c: (not c.startswith("p:"), c))
