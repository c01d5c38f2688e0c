"""What an uploaded file is, read from its bytes alone.

The file name and the Content-Type the client sent are never looked at: a PNG named
`report.pdf` is an image, an HTML page named `cat.png` is a file. Types come from the
magic numbers (`filetype`), images are decoded with Pillow, audio and video durations
are read with `mutagen` where it knows the container.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO

import filetype
from django.conf import settings
from mutagen.aac import AAC
from mutagen.aiff import AIFF
from mutagen.asf import ASF
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggflac import OggFLAC
from mutagen.oggopus import OggOpus
from mutagen.oggspeex import OggSpeex
from mutagen.oggtheora import OggTheora
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE
from PIL import Image, features

from media.models import NAME_MAX, MediaKind

log = logging.getLogger(__name__)

SNIFF_BYTES = 8192  # what filetype reads
UNKNOWN_MIME = "application/octet-stream"

# Images we decode and show: MIME -> Pillow format. Anything else that is an image by
# its bytes (TIFF, PSD, HEIC, icons, raw camera files) is a plain file; SVG is text,
# never sniffed as an image, and so a file too.
IMAGE_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/apng": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/bmp": "BMP",
}
if features.check("avif"):
    IMAGE_FORMATS["image/avif"] = "AVIF"

VIDEO_MIMES = frozenset({
    "video/mp4", "video/x-m4v", "video/quicktime", "video/3gpp", "video/webm",
    "video/x-matroska", "video/x-msvideo", "video/x-ms-wmv", "video/mpeg", "video/x-flv",
})
AUDIO_MIMES = frozenset({
    "audio/mpeg", "audio/mp4", "audio/ogg", "audio/x-flac", "audio/x-wav", "audio/aac",
    "audio/x-aiff", "audio/amr", "audio/midi",
})

# What a browser may show in place (Content-Disposition: inline); everything else is
# served as an attachment.
INLINE_MIMES = frozenset(IMAGE_FORMATS) | {
    "video/mp4", "video/webm", "video/quicktime", "video/x-m4v",
    "audio/mpeg", "audio/mp4", "audio/ogg", "audio/x-flac", "audio/x-wav", "audio/aac",
}

# mutagen readers by sniffed MIME. Containers without one here (WebM/Matroska, AVI,
# FLV, MPEG-PS, 3GP is MP4, AMR, MIDI) get no duration.
_DURATION_READERS: dict[str, tuple] = {
    "audio/mpeg": (MP3,),
    "audio/mp4": (MP4,),
    "video/mp4": (MP4,),
    "video/x-m4v": (MP4,),
    "video/quicktime": (MP4,),
    "video/3gpp": (MP4,),
    "audio/x-flac": (FLAC,),
    "audio/x-wav": (WAVE,),
    "audio/x-aiff": (AIFF,),
    "audio/aac": (AAC,),
    "audio/ogg": (OggVorbis, OggOpus, OggFLAC, OggSpeex, OggTheora),
    "video/x-ms-wmv": (ASF,),
}


class MediaInvalid(Exception):
    """The bytes say one thing and do not hold up (an image that does not decode)."""


@dataclass(frozen=True, slots=True)
class Sniffed:
    mime: str
    kind: str


@dataclass(frozen=True, slots=True)
class Inspected:
    mime: str
    kind: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None


def sniff(head: bytes) -> Sniffed:
    """MIME type and kind from the first SNIFF_BYTES of a file."""
    found = filetype.guess(head[:SNIFF_BYTES]) if head else None
    mime = found.mime if found is not None else UNKNOWN_MIME
    if mime in IMAGE_FORMATS:
        kind = MediaKind.IMAGE
    elif mime in VIDEO_MIMES:
        kind = MediaKind.VIDEO
    elif mime in AUDIO_MIMES:
        kind = MediaKind.AUDIO
    else:
        kind = MediaKind.FILE
    return Sniffed(mime=mime, kind=str(kind))


def inspect(file: BinaryIO) -> Inspected:
    """Sniff a whole file and read what its kind has: dimensions or duration.

    Raises MediaInvalid for an image that does not decode or is too big to decode.
    """
    file.seek(0)
    found = sniff(file.read(SNIFF_BYTES))
    file.seek(0)
    if found.kind == MediaKind.IMAGE:
        width, height = image_size(file, found.mime)
        return Inspected(found.mime, found.kind, width=width, height=height)
    if found.kind in (MediaKind.AUDIO, MediaKind.VIDEO):
        return Inspected(found.mime, found.kind, duration=duration(file, found.mime))
    return Inspected(found.mime, found.kind)


def image_size(file: BinaryIO, mime: str) -> tuple[int, int]:
    """Decode the image fully (a truncated or corrupt one is refused); (width, height)."""
    limit = settings.IM_MAX_IMAGE_PIXELS
    file.seek(0)
    try:
        with Image.open(file, formats=[IMAGE_FORMATS[mime]]) as image:
            width, height = image.size
            if width * height > limit:
                raise MediaInvalid(f"The image has more than {limit} pixels.")
            if image.format == "JPEG":
                # Decoding at 1/8 scale reads every byte (so truncation still shows)
                # in a 64th of the memory.
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
    except MediaInvalid:
        raise
    except Image.DecompressionBombError:
        raise MediaInvalid(f"The image has more than {limit} pixels.") from None
    except Exception as exc:  # Pillow raises many types for hostile input
        log.debug("image did not decode: %r", exc)
        raise MediaInvalid("The file looks like an image but does not decode.") from None
    finally:
        file.seek(0)
    if width < 1 or height < 1:
        raise MediaInvalid("The image has no pixels.")
    return width, height


def duration(file: BinaryIO, mime: str) -> float | None:
    """Seconds, to the millisecond, where mutagen reads the container; else None."""
    readers = _DURATION_READERS.get(mime, ())
    for reader in readers:
        file.seek(0)
        try:
            length = reader(file).info.length
        except Exception as exc:  # mutagen raises more than MutagenError on hostile input
            log.debug("%s could not read a duration: %r", reader.__name__, exc)
            continue
        finally:
            file.seek(0)
        if isinstance(length, int | float) and math.isfinite(length) and length > 0:
            return round(float(length), 3)
    return None


def clean_file_name(name: str | None) -> str:
    """The uploader's file name, safe to show and to put in Content-Disposition.

    Only metadata: files are stored under their random id. Drops any folder part,
    control and formatting characters (NUL, bidi overrides that disguise extensions)
    and keeps at most NAME_MAX characters, the extension included.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".")
    if not name:
        return "file"
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: NAME_MAX - len(ext) - 1] + "." + ext
        else:
            name = name[:NAME_MAX]
    return name
