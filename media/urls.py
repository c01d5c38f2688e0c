from django.urls import path, register_converter
from django.urls.converters import get_converters

from media import apis
from media.models import MEDIA_ID_MAX


class MediaIdConverter:
    """The characters of a media id (URL-safe base64), at most as long as one can be."""

    regex = f"[A-Za-z0-9_-]{{1,{MEDIA_ID_MAX}}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


if "mediaid" not in get_converters():
    register_converter(MediaIdConverter, "mediaid")

urlpatterns = [
    path("media/", apis.MediaUploadApi.as_view(), name="media-upload"),
    path("media/<mediaid:media_id>/", apis.MediaFileApi.as_view(), name="media-file"),
    path("media/<mediaid:media_id>/link/", apis.MediaLinkApi.as_view(), name="media-link"),
]
