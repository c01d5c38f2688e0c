"""Request parsing and response shapes of the media endpoints."""

from __future__ import annotations

from rest_framework import serializers

from media.models import MediaFile, MediaKind
from media.selectors import media_fields


class MediaUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=False,
        help_text="The file. Its type and kind are read from its bytes, not its name.",
    )


class MediaSerializer(serializers.ModelSerializer):
    """The upload answer: what a message body will say about the file, plus id and kind.
    width/height (images) and duration (seconds; audio and video) only where known."""

    url = serializers.CharField(help_text="Path to GET the file with a token.")
    kind = serializers.ChoiceField(choices=MediaKind.choices)
    width = serializers.IntegerField(required=False)
    height = serializers.IntegerField(required=False)
    duration = serializers.FloatField(required=False, help_text="Seconds.")

    class Meta:
        model = MediaFile
        fields = ["id", "url", "mime", "size", "name", "kind", "width", "height", "duration"]
        read_only_fields = fields

    def to_representation(self, instance: MediaFile) -> dict:
        return {"id": instance.id, **media_fields(instance), "kind": instance.kind}


class MediaLinkSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Path with a `sig` query; works without a token.")
    expiry = serializers.DateTimeField(help_text="When the link stops working.")
