"""Multipart uploads over urllib, downloads with headers, and test files made on the spot."""

from __future__ import annotations

import asyncio
import io
import secrets
import struct
import urllib.error
import urllib.request
import wave
import zlib

from PIL import Image

from tests.http.raw import Answer as Reply  # one HTTP answer type for the tests

TIMEOUT = 20.0


def request(base_url: str, method: str, path: str, *, body: bytes | None = None,
            content_type: str | None = None, token: str | None = None,
            headers: dict[str, str] | None = None) -> Reply:
    req = urllib.request.Request(base_url + path, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Token {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:
            return Reply(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, _lower(error.headers), error.read())


def _lower(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def multipart(files: list[tuple[str, bytes | str, bytes, str]],
              fields: dict[str, str] | None = None) -> tuple[str, bytes]:
    """(content type, body) of a multipart/form-data request.

    files: (field name, file name as sent, content, the part's Content-Type). A str
    file name is sent as UTF-8, bytes as they are (for hostile names).
    """
    boundary = f"----im-test-{secrets.token_hex(12)}"
    out = io.BytesIO()
    for name, value in (fields or {}).items():
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                  f"{value}\r\n".encode())
    for name, filename, content, part_type in files:
        raw_name = filename if isinstance(filename, bytes) else filename.encode()
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                  f"filename=\"".encode() + raw_name.replace(b'"', b"%22") +
                  f"\"\r\nContent-Type: {part_type}\r\n\r\n".encode())
        out.write(content)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", out.getvalue()


def upload(base_url: str, token: str | None, content: bytes, filename: bytes | str = "f.bin",
           part_type: str = "application/octet-stream", field: str = "file") -> Reply:
    content_type, body = multipart([(field, filename, content, part_type)])
    return request(base_url, "POST", "/api/media/", body=body, content_type=content_type,
                   token=token)


async def aupload(*args, **kwargs) -> Reply:
    return await asyncio.to_thread(upload, *args, **kwargs)


async def arequest(*args, **kwargs) -> Reply:
    return await asyncio.to_thread(request, *args, **kwargs)


async def uploaded(base_url: str, token: str, content: bytes, filename: str = "f.bin") -> dict:
    reply = await aupload(base_url, token, content, filename)
    assert reply.status == 201, reply.body
    return reply.json()


# --- files ------------------------------------------------------------------------------


def image_bytes(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    mode = "P" if fmt == "GIF" else "RGB"
    Image.new(mode, size, 3 if mode == "P" else (200, 30, 30)).save(out, fmt)
    return out.getvalue()


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    return image_bytes("PNG", size)


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def gif(size: tuple[int, int] = (16, 8)) -> bytes:
    return image_bytes("GIF", size)


def wav(seconds: float = 1.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(seconds: float = 2.5) -> bytes:
    """The smallest MP4 a reader takes: an `ftyp` and a `moov` holding only `mvhd`."""
    timescale = 1000
    mvhd = _box(b"mvhd", b"\x00\x00\x00\x00"  # version 0, no flags
                + struct.pack(">IIII", 0, 0, timescale, int(seconds * timescale))
                + struct.pack(">IH", 0x00010000, 0x0100) + b"\x00" * 10
                + struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
                + b"\x00" * 24 + struct.pack(">I", 2))
    return _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + _box(b"moov", mvhd)


def webm() -> bytes:
    """An EBML header with DocType webm: a WebM by its bytes, with no duration to read."""
    doctype = b"\x42\x82\x84webm"
    header = (b"\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08" + doctype
              + b"\x42\x87\x81\x04\x42\x85\x81\x02")
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header)]) + header + b"\x00" * 64


def mp3(frames: int = 40) -> bytes:
    """Silent MPEG-1 Layer III frames, 128 kbit/s at 44.1 kHz (417 bytes, 1152 samples)."""
    return (b"\xff\xfb\x90\x64" + b"\x00" * 413) * frames


PDF = (b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
       b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
       b"trailer <</Root 1 0 R>>\n%%EOF\n")
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
       b"<script>alert(1)</script></svg>")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds (almost) no pixels: a decompression bomb's
    header, cheap to send."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
