"""What a file is, from its bytes only (no server: media.sniffing on its own)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from media.sniffing import (
    INLINE_MIMES,
    MediaInvalid,
    clean_file_name,
    duration,
    image_size,
    inspect,
    sniff,
)
from tests.media import helpers
from tests.support.servers import ROOT


@pytest.mark.parametrize(
    ("content", "mime", "kind"),
    [
        (helpers.png(), "image/png", "image"),
        (helpers.jpeg(), "image/jpeg", "image"),
        (helpers.gif(), "image/gif", "image"),
        (helpers.image_bytes("WEBP"), "image/webp", "image"),
        (helpers.image_bytes("TIFF"), "image/tiff", "file"),  # browsers do not show TIFF
        (helpers.wav(), "audio/x-wav", "audio"),
        (helpers.mp3(), "audio/mpeg", "audio"),
        (helpers.mp4(), "video/mp4", "video"),
        (helpers.webm(), "video/webm", "video"),
        (helpers.PDF, "application/pdf", "file"),
        (helpers.HTML, "application/octet-stream", "file"),
        (helpers.SVG, "application/octet-stream", "file"),
        (b"plain text\n", "application/octet-stream", "file"),
        (b"", "application/octet-stream", "file"),
    ],
    ids=["png", "jpeg", "gif", "webp", "tiff", "wav", "mp3", "mp4", "webm", "pdf", "html",
         "svg", "text", "empty"],
)
def test_kind_and_mime_come_from_the_bytes(content, mime, kind):
    found = sniff(content)
    assert (found.mime, found.kind) == (mime, kind)


def test_active_content_is_never_an_inline_type():
    assert not {m for m in INLINE_MIMES if "html" in m or "svg" in m or "xml" in m}
    assert "application/octet-stream" not in INLINE_MIMES


def test_images_report_their_size_and_must_decode():
    assert inspect(io.BytesIO(helpers.png((40, 30)))).width == 40
    jpeg = helpers.jpeg((64, 48))
    assert image_size(io.BytesIO(jpeg), "image/jpeg") == (64, 48)
    for broken in (jpeg[: len(jpeg) // 2], helpers.png()[:60], b"\x89PNG\r\n\x1a\n" + b"x" * 50):
        with pytest.raises(MediaInvalid):
            image_size(io.BytesIO(broken), sniff(broken).mime)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("size", [(8000, 8000), (40000, 40000)], ids=["over-limit", "bomb"])
def test_decompression_bomb_is_refused(size):
    with pytest.raises(MediaInvalid, match="pixels"):
        image_size(io.BytesIO(helpers.png_header_only(*size)), "image/png")


def test_durations_where_the_container_is_known():
    assert duration(io.BytesIO(helpers.wav(1.5)), "audio/x-wav") == 1.5
    assert duration(io.BytesIO(helpers.mp4(2.5)), "video/mp4") == 2.5
    assert duration(io.BytesIO(helpers.mp3(40)), "audio/mpeg") == pytest.approx(1.045, abs=0.05)
    assert duration(io.BytesIO(helpers.webm()), "video/webm") is None
    assert duration(io.BytesIO(b"RIFF garbage"), "audio/x-wav") is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\doc.pdf", "doc.pdf"),
        ("a\x00b.png", "ab.png"),
        ("evil\u202egnp.exe", "evilgnp.exe"),  # a right-to-left override hides ".exe"
        ("..", "file"),
        ("", "file"),
        (None, "file"),
        ("Cafe\u0301.txt", "Café.txt"),
    ],
)
def test_file_names_are_cleaned(raw, clean):
    assert clean_file_name(raw) == clean


def test_long_file_names_keep_their_extension():
    name = clean_file_name("x" * 10_000 + ".jpeg")
    assert len(name) == 255 and name.endswith(".jpeg")
    assert len(clean_file_name("y" * 10_000)) == 255


def test_s3_storage_is_configured_from_the_environment(tmp_path):
    """IM_MEDIA_S3_* selects django-storages' S3 backend (no request is made here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IM_", "DATABASE_URL"))}
    env.update({
        "IM_DATA_DIR": str(tmp_path),
        "IM_MEDIA_S3_BUCKET": "im-media",
        "IM_MEDIA_S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "IM_MEDIA_S3_PREFIX": "uploads",
        "DJANGO_SETTINGS_MODULE": "imsite.settings",
    })
    code = (
        "import django; django.setup()\n"
        "from django.core.files.storage import storages\n"
        "s = storages['default']\n"
        "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.location, s.default_acl,\n"
        "      s.file_overwrite, s.max_memory_size)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["S3Storage", "im-media", "http://127.0.0.1:9", "uploads",
                                     "private", "False", str(1024 * 1024)]
