"""Over-limit uploads: 413, and nothing of them left on disk.

A server with IM_MAX_UPLOAD_BYTES=200000. imserver runs Daphne with media.body_limit's
HTTP factory, which refuses an oversized body while it arrives, before it is buffered;
media.uploads.LimitedUploadHandler is the second line, counting while Django reads.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import time
from pathlib import Path

import pytest

from tests.media import helpers
from tests.support.clients import make_user

LIMIT = 200_000
OVERHEAD = 64 * 1024  # media.uploads.MULTIPART_OVERHEAD


@pytest.fixture(scope="module")
def limited(deployment_factory_module):
    dep = deployment_factory_module(IM_MAX_UPLOAD_BYTES=LIMIT)
    dep.start_server()
    return dep


@pytest.fixture(scope="module")
def guarded(limited):
    return limited.servers[0]


def leftover_files(dep) -> list[str]:
    """Files under the data folder's media and upload-temp folders."""
    found = []
    for folder in ("media", "upload-tmp"):
        for root, _, files in os.walk(Path(dep.data_dir) / folder):
            found.extend(os.path.join(root, f) for f in files)
    return found


def raw_exchange(server, head: bytes, chunks=(), timeout: float = 10) -> tuple[bytes, int]:
    """Send `head`, then the chunks for as long as the server has not answered;
    return (what the server sent until it closed, body bytes sent)."""
    host, port = server.http_address.rsplit(":", 1)
    sent = 0
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        conn.sendall(head)
        for chunk in chunks:
            if select.select([conn], [], [], 0)[0]:
                break  # the server has answered
            try:
                conn.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        answer = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                data = conn.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    return answer, sent


def upload_head(server, token: str, content_type: str, *, length: int | None = None,
                expect: bool = False) -> bytes:
    lines = [
        "POST /api/media/ HTTP/1.1",
        f"Host: {server.http_address}",
        f"Authorization: Token {token}",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked",
    ]
    if expect:
        lines.append("Expect: 100-continue")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_upload_handler_refuses_oversized_bodies_and_leaves_no_file(guarded, limited):
    alice = await make_user(guarded.base_url)
    at_limit = await helpers.aupload(guarded.base_url, alice.token, os.urandom(LIMIT), "ok.bin")
    assert at_limit.status == 201, at_limit.body
    kept = leftover_files(limited)

    # Content-Length over the limit plus framing: refused before parsing.
    big = await helpers.aupload(guarded.base_url, alice.token, os.urandom(3 * LIMIT), "big.bin")
    assert big.status == 413
    assert big.json() == {"detail": f"The file is larger than {LIMIT} bytes."}
    # One byte over, within the framing allowance: refused while the file streams to disk.
    over = await helpers.aupload(guarded.base_url, alice.token, os.urandom(LIMIT + 1), "o.bin")
    assert over.status == 413 and "detail" in over.json()
    assert leftover_files(limited) == kept


async def test_declared_oversized_body_is_refused_before_it_is_sent(guarded, limited):
    alice = await make_user(guarded.base_url)
    content_type, _ = helpers.multipart([("file", "x.bin", b"", "application/octet-stream")])
    for expect in (False, True):
        head = upload_head(guarded, alice.token, content_type, length=10 * 2**30, expect=expect)
        started = time.monotonic()
        answer, _ = await asyncio.to_thread(raw_exchange, guarded, head)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b"100 Continue" not in answer
        assert answer.endswith(f'{{"detail": "The file is larger than {LIMIT} bytes."}}'
                               .encode())
        assert time.monotonic() - started < 5


async def test_chunked_oversized_body_is_cut_off_while_streaming(guarded, limited):
    alice = await make_user(guarded.base_url)
    kept = leftover_files(limited)
    content_type, body = helpers.multipart(
        [("file", "x.bin", os.urandom(100 * LIMIT), "application/octet-stream")])
    head = upload_head(guarded, alice.token, content_type)
    step = 16 * 1024
    chunks = (b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
              for i in range(0, len(body), step))
    answer, sent = await asyncio.to_thread(raw_exchange, guarded, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    # The answer came long before the end: what was sent past the limit is what the
    # socket buffers took in meanwhile.
    assert sent < len(body) // 2
    assert leftover_files(limited) == kept


async def test_guarded_server_takes_uploads_chunked_too_and_answers_bad_multipart_in_json(
    guarded,
):
    alice = await make_user(guarded.base_url)
    ok = await helpers.aupload(guarded.base_url, alice.token, helpers.png(), "a.png")
    assert ok.status == 201 and ok.json()["kind"] == "image"
    garbage = await helpers.arequest(guarded.base_url, "POST", "/api/media/",
                                     body=b"\xff" * 1000, token=alice.token,
                                     content_type="multipart/form-data; boundary=zz")
    assert garbage.status == 400 and garbage.json()
    over = await helpers.aupload(guarded.base_url, alice.token, os.urandom(LIMIT + 1), "o.bin")
    assert over.status == 413

    content_type, body = helpers.multipart([("file", "c.pdf", helpers.PDF, "text/plain")])
    chunked = await helpers.arequest(guarded.base_url, "POST", "/api/media/",
                                     body=iter([body[:50], body[50:]]), token=alice.token,
                                     content_type=content_type,
                                     headers={"Transfer-Encoding": "chunked"})
    assert chunked.status == 201, chunked.body
    assert (chunked.json()["kind"], chunked.json()["size"]) == ("file", len(helpers.PDF))
