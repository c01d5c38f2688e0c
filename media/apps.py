import warnings
from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class MediaConfig(AppConfig):
    name = "media"
    verbose_name = "Media"

    def ready(self) -> None:
        from PIL import Image

        from accounts.signals import avatar_check
        from media.decoding import configure_image_memory
        from media.selectors import media_is_avatar_candidate

        avatar_check.connect(media_is_avatar_candidate, dispatch_uid="media.avatar-check")

        configure_image_memory()
        # Pillow's own decompression-bomb guard, at our limit: it refuses to open an
        # image of more than twice as many pixels, and media.sniffing refuses above it.
        Image.MAX_IMAGE_PIXELS = settings.IM_MAX_IMAGE_PIXELS
        # Pillow warns between the limit and twice it; those images are refused anyway.
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        # Uploads stream into this folder; Django does not create it.
        Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(mode=0o700, parents=True, exist_ok=True)
