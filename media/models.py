import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

NAME_MAX = 255
MEDIA_ID_MAX = 64  # what a message frame can carry (improto Limits.max_id_chars)


def new_media_id() -> str:
    """128 random bits: an id nobody can guess or enumerate."""
    return secrets.token_urlsafe(16)


class MediaKind(models.TextChoices):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    FILE = "file"


class MediaFile(models.Model):
    """One uploaded file; what it is was read from its bytes, never from its name."""

    id = models.CharField(primary_key=True, max_length=MEDIA_ID_MAX, default=new_media_id,
                          editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="media_files"
    )
    storage_name = models.CharField(max_length=255, help_text="Name in the media storage.")
    mime = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    name = models.CharField(max_length=NAME_MAX, help_text="The uploader's file name, cleaned.")
    kind = models.CharField(max_length=8, choices=MediaKind.choices)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds.")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created"]
        indexes = [models.Index(fields=["owner", "created"])]

    def __str__(self) -> str:
        return f"{self.id} ({self.kind}, {self.name})"


class MediaGrant(models.Model):
    """A channel a file was sent to: its members may fetch the file."""

    media = models.ForeignKey(MediaFile, on_delete=models.CASCADE, related_name="grants")
    channel = models.CharField(max_length=64)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["media", "channel"], name="media_grant_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.media_id} -> {self.channel}"
