"""Writes on media: store an upload, record where a file was sent."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from media.decoding import DecodeBusy, inspect_upload
from media.models import MediaFile, MediaGrant, new_media_id
from media.sniffing import MediaInvalid, clean_file_name
from media.uploads import UploadTooLarge

__all__ = ["DecodeBusy", "MediaInvalid", "UploadTooLarge", "media_delete", "media_grant",
           "media_upload"]


def storage_name_for(media_id: str) -> str:
    # Two characters of fan-out keep folders small on a local disk.
    return f"{media_id[:2]}/{media_id}"


def media_upload(*, owner, upload: UploadedFile) -> MediaFile:
    """Inspect the bytes, store the file, record it; the file's kind is what its
    content is. Raises MediaInvalid (empty, or an image that does not decode),
    UploadTooLarge, or DecodeBusy (no decode worker free in time)."""
    if not upload.size:
        raise MediaInvalid("The submitted file is empty.")
    if upload.size > settings.IM_MAX_UPLOAD_BYTES:
        raise UploadTooLarge()
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
