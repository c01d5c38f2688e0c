"""POST /api/media/ and GET /api/media/<id>/ on a real server: kinds, metadata, lying
names, serving headers, bad input (docs/protocol.md, REST)."""

from __future__ import annotations

import json

import pytest

from tests.media import helpers
from tests.media.helpers import arequest, aupload
from tests.support.clients import make_user

CSP = "default-src 'none'; sandbox"


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (helpers.png((40, 30)), "a.png",
         {"kind": "image", "mime": "image/png", "width": 40, "height": 30}),
        (helpers.jpeg((64, 48)), "b.jpg",
         {"kind": "image", "mime": "image/jpeg", "width": 64, "height": 48}),
        (helpers.gif((16, 8)), "c.gif",
         {"kind": "image", "mime": "image/gif", "width": 16, "height": 8}),
        (helpers.wav(1.5), "d.wav", {"kind": "audio", "mime": "audio/x-wav", "duration": 1.5}),
        (helpers.mp4(2.5), "e.mp4", {"kind": "video", "mime": "video/mp4", "duration": 2.5}),
        (helpers.webm(), "f.webm", {"kind": "video", "mime": "video/webm"}),
        (helpers.PDF, "g.pdf", {"kind": "file", "mime": "application/pdf"}),
    ],
    ids=["png", "jpeg", "gif", "wav", "mp4", "webm-no-duration", "pdf"],
)
async def test_upload_answers_what_the_bytes_are(server, content, name, expected):
    alice = await make_user(server.base_url)
    reply = await aupload(server.base_url, alice.token, content, name)
    assert reply.status == 201, reply.body
    body = reply.json()
    media_id = body["id"]
    assert len(media_id) >= 22
    assert body == {"id": media_id, "url": f"/api/media/{media_id}/", "size": len(content),
                    "name": name, **expected}
    got = await arequest(server.base_url, "GET", body["url"], token=alice.token)
    assert got.status == 200
    assert got.body == content
    assert got.headers["content-type"] == expected["mime"]
    assert got.headers["content-length"] == str(len(content))


async def test_a_png_named_pdf_is_an_image(server):
    alice = await make_user(server.base_url)
    reply = await aupload(server.base_url, alice.token, helpers.png(), "report.pdf",
                          part_type="application/pdf")
    assert reply.status == 201
    body = reply.json()
    assert (body["kind"], body["mime"], body["name"]) == ("image", "image/png", "report.pdf")
    got = await arequest(server.base_url, "GET", body["url"], token=alice.token)
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith("inline")


@pytest.mark.parametrize("content", [helpers.HTML, helpers.SVG], ids=["html", "svg"])
async def test_html_or_svg_named_png_is_a_file_served_as_attachment(server, content):
    alice = await make_user(server.base_url)
    reply = await aupload(server.base_url, alice.token, content, "cat.png",
                          part_type="image/png")
    assert reply.status == 201
    body = reply.json()
    assert (body["kind"], body["mime"]) == ("file", "application/octet-stream")
    assert "width" not in body
    got = await arequest(server.base_url, "GET", body["url"], token=alice.token,
                         headers={"Accept": "text/html"})
    assert got.status == 200 and got.body == content
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"] == 'attachment; filename="cat.png"'
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == CSP


@pytest.mark.parametrize(
    ("content", "disposition"),
    [(helpers.jpeg(), "inline"), (helpers.wav(), "inline"), (helpers.mp4(), "inline"),
     (helpers.PDF, "attachment"), (helpers.image_bytes("TIFF"), "attachment")],
    ids=["jpeg", "wav", "mp4", "pdf", "tiff"],
)
async def test_download_headers(server, content, disposition):
    alice = await make_user(server.base_url)
    body = await helpers.uploaded(server.base_url, alice.token, content, "naïve file.bin")
    got = await arequest(server.base_url, "GET", body["url"], token=alice.token,
                         headers={"Accept": "image/png"})  # an <img>'s Accept is no obstacle
    assert got.status == 200
    assert got.headers["content-type"] == body["mime"]
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == CSP
    assert got.headers["content-disposition"].startswith(disposition + ";")
    assert "filename*=utf-8''na%C3%AFve%20file.bin" in got.headers["content-disposition"]


@pytest.mark.parametrize(
    "content",
    [helpers.png()[:60], helpers.jpeg((200, 150))[:1500], b"GIF89a" + b"\x00" * 40,
     helpers.png_header_only(40000, 40000), helpers.png_header_only(8000, 8000)],
    ids=["truncated-png", "truncated-jpeg", "gif-header-only", "bomb", "over-pixel-limit"],
)
async def test_an_image_that_does_not_decode_is_refused(server, content):
    alice = await make_user(server.base_url)
    reply = await aupload(server.base_url, alice.token, content, "x.png")
    assert reply.status == 400
    assert list(reply.json()) == ["file"]


async def test_anonymous_upload_is_401(server):
    reply = await aupload(server.base_url, None, helpers.png(), "a.png")
    assert reply.status == 401
    assert reply.json() == {"detail": "Authentication credentials were not provided."}
    reply = await aupload(server.base_url, "0" * 64, helpers.png(), "a.png")
    assert reply.status == 401


async def test_bad_requests_are_4xx_json(server):
    alice = await make_user(server.base_url)
    base, token = server.base_url, alice.token

    missing = await aupload(base, token, helpers.png(), "a.png", field="photo")
    assert (missing.status, list(missing.json())) == (400, ["file"])
    empty = await aupload(base, token, b"", "a.png")
    assert (empty.status, list(empty.json())) == (400, ["file"])

    as_json = await arequest(base, "POST", "/api/media/", body=json.dumps({"file": "x"}).encode(),
                             content_type="application/json", token=token)
    assert as_json.status == 415 and "detail" in as_json.json()
    no_type = await arequest(base, "POST", "/api/media/", body=helpers.png(), token=token,
                             content_type="application/octet-stream")
    assert no_type.status == 415
    content_type, body = helpers.multipart([("file", "a.png", helpers.png(), "image/png"),
                                            ("file", "b.png", helpers.png(), "image/png")])
    two = await arequest(base, "POST", "/api/media/", body=body, content_type=content_type,
                         token=token)
    assert two.status == 400 and "detail" in two.json()

    # Malformed multipart: Daphne's Twisted request parses multipart forms itself and
    # answers a bare 400 before Django sees them; with media.body_limit's request (which
    # turns that parsing off) it is DRF's JSON 400, see test_limits.py.
    no_boundary = await arequest(base, "POST", "/api/media/", body=b"--x\r\n\r\n",
                                 content_type="multipart/form-data", token=token)
    assert no_boundary.status == 400
    garbage = await arequest(base, "POST", "/api/media/", body=b"\xff" * 1000,
                             content_type="multipart/form-data; boundary=zz", token=token)
    assert garbage.status == 400


@pytest.mark.parametrize(
    ("filename", "stored"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("C:\\Windows\\evil.png", "evil.png"),
        (b"a\x00b.png", "ab.png"),
        ("..", None),  # no name left: Django ignores the part, so no file was sent
        ("x" * 400 + ".png", "x" * 251 + ".png"),  # kept to 255 characters
        ("x" * 10_000 + ".png", None),  # over Django's 1 KiB of part headers: 400
    ],
    ids=["dots", "windows-path", "nul", "only-dots", "400-chars", "10k-chars"],
)
async def test_hostile_file_names(server, filename, stored):
    alice = await make_user(server.base_url)
    reply = await aupload(server.base_url, alice.token, helpers.png(), filename)
    if stored is None:
        assert reply.status == 400
        assert reply.json()
        return
    assert reply.status == 201, reply.body
    assert reply.json()["name"] == stored
    got = await arequest(server.base_url, "GET", reply.json()["url"], token=alice.token)
    assert got.status == 200 and got.body == helpers.png()


async def test_same_bytes_twice_are_two_files_with_unguessable_ids(server):
    alice = await make_user(server.base_url)
    first = await helpers.uploaded(server.base_url, alice.token, helpers.PDF, "a.pdf")
    second = await helpers.uploaded(server.base_url, alice.token, helpers.PDF, "a.pdf")
    assert first["id"] != second["id"]
    assert first["id"][:8] != second["id"][:8]
