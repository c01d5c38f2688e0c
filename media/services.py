"""Writes on media: store an upload, record where a file was sent."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from media.decoding import DecodeBusy, inspect_upload
from media.models import MediaFile, MediaGrant, new_media_id
from media.selectors import media_bytes_stored
from media.sniffing import MediaInvalid, clean_file_name
from media.uploads import UploadTooLarge

__all__ = ["DecodeBusy", "MediaInvalid", "QuotaExceeded", "UploadTooLarge", "media_delete",
           "media_grant", "media_upload"]


class QuotaExceeded(Exception):
    """Storing the file would take its owner past IM_UPLOAD_QUOTA_BYTES."""

    def __init__(self, *, quota: int, stored: int) -> None:
        super().__init__(f"This file would take your stored files past your quota of "
                         f"{quota} bytes ({stored} bytes used).")
        self.quota = quota
        self.stored = stored


def storage_name_for(media_id: str) -> str:
    # Two characters of fan-out keep folders small on a local disk.
    return f"{media_id[:2]}/{media_id}"


def _check_quota(owner_id: int, size: int) -> None:
    quota = settings.IM_UPLOAD_QUOTA_BYTES
    if quota:
        stored = media_bytes_stored(owner_id=owner_id)
        if stored + size > quota:
            raise QuotaExceeded(quota=quota, stored=stored)


def media_upload(*, owner, upload: UploadedFile) -> MediaFile:
    """Inspect the bytes, store the file, record it; the file's kind is what its
    content is. Raises MediaInvalid (empty, or an image that does not decode),
    UploadTooLarge, QuotaExceeded, or DecodeBusy (no decode worker free in time)."""
    if not upload.size:
        raise MediaInvalid("The submitted file is empty.")
    if upload.size > settings.IM_MAX_UPLOAD_BYTES:
        raise UploadTooLarge()
    _check_quota(owner.pk, upload.size)  # early, so that a full quota costs no decode
    found = inspect_upload(upload)
    media = MediaFile(
        id=new_media_id(),
        owner=owner,
        mime=found.mime,
        kind=found.kind,
        size=upload.size,
        name=clean_file_name(upload.name),
        width=found.width,
        height=found.height,
        duration=found.duration,
    )
    upload.seek(0)
    # The file first, then the row: a failure between leaves an unreferenced file
    # (removed below when we can), never a row without its file.
    media.storage_name = default_storage.save(storage_name_for(media.id), upload)
    try:
        with transaction.atomic():
            if settings.IM_UPLOAD_QUOTA_BYTES:
                # The owner's row lock queues this user's uploads here, so two cannot
                # both fit in the same remaining space (on SQLite the IMMEDIATE
                # transaction already does). NO KEY: rows that only refer to the user
                # (messages, tokens) are not held up.
                list(get_user_model().objects.select_for_update(no_key=True)
                     .filter(pk=owner.pk).values_list("pk", flat=True))
                _check_quota(owner.pk, media.size)
            media.save(force_insert=True)
    except BaseException:
        default_storage.delete(media.storage_name)
        raise
    return media


def media_grant(*, grants: Iterable[tuple[str, str]]) -> None:
    """Record (media id, channel) pairs: the channel's members may fetch the file."""
    rows = [MediaGrant(media_id=media_id, channel=channel) for media_id, channel in set(grants)]
    if rows:
        MediaGrant.objects.bulk_create(rows, ignore_conflicts=True)


def media_delete(*, media: MediaFile) -> None:
    """Remove a file's row and grants, then (after commit) its stored bytes."""
    name = media.storage_name
    with transaction.atomic():
        media.delete()
        # robust: the row is gone either way; a file left behind is only disk space.
        transaction.on_commit(partial(default_storage.delete, name), robust=True)
