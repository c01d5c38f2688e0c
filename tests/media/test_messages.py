"""image/video/audio/file messages over TCP and WebSocket: the write path looks the file
up, checks it, and every reader gets its url, mime, size, name and dimensions or
duration (docs/protocol.md, Sending)."""

from __future__ import annotations

import pytest

from tests.media import helpers
from tests.media.helpers import arequest, uploaded
from tests.support.clients import ahttp, connect, make_user

pytestmark = pytest.mark.embedded

KINDS = {
    "image": (helpers.png((40, 30)), "photo.png",
              {"mime": "image/png", "width": 40, "height": 30}),
    "video": (helpers.mp4(2.5), "clip.mp4", {"mime": "video/mp4", "duration": 2.5}),
    "audio": (helpers.wav(1.5), "voice.wav", {"mime": "audio/x-wav", "duration": 1.5}),
    "file": (helpers.PDF, "doc.pdf", {"mime": "application/pdf"}),
}


@pytest.mark.parametrize("transport", ["tcp", "ws"])
@pytest.mark.parametrize("kind", list(KINDS))
async def test_each_kind_end_to_end(server, kind, transport):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    content, name, extra = KINDS[kind]
    media = await uploaded(server.base_url, alice.token, content, name)
    sender, receiver = await connect(server, transport), await connect(server, transport)
    await sender.auth(alice.token)
    await receiver.auth(bob.token)

    await sender.send({"type": kind, "id": "k1", "to": bob.id,
                       "body": {"media": media["id"], "caption": "look", "url": "http://x"}})
    ack = await sender.expect("ack")
    got = await receiver.expect(kind)
    expected_body = {"media": media["id"], "caption": "look", "url": media["url"],
                     "size": len(content), "name": name, **extra}
    assert got == {"type": kind, "id": "k1", "channel": ack["channel"], "seq": ack["seq"],
                   "ts": ack["ts"], "from": alice.id, "to": bob.id, "body": expected_body}

    status, page = await ahttp(server.base_url, "GET",
                               f"/api/channels/{ack['channel']}/messages/", token=bob.token)
    assert status == 200 and page["messages"] == [got]
    download = await arequest(server.base_url, "GET", got["body"]["url"], token=bob.token)
    assert download.status == 200 and download.body == content
    assert download.headers["content-type"] == extra["mime"]


async def test_photo_and_pdf_to_a_group(server):
    """The issue's 'done when': both reach the group with their metadata, members
    download them, a stranger who guesses the id gets nothing."""
    owner, member, stranger = [await make_user(server.base_url) for _ in range(3)]
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "trip", "members": [member.id]}, token=owner.token)
    assert status == 201
    photo_bytes = helpers.jpeg((64, 48))
    photo = await uploaded(server.base_url, owner.token, photo_bytes, "beach.jpg")
    pdf = await uploaded(server.base_url, owner.token, helpers.PDF, "tickets.pdf")
    sender = await connect(server, "ws-msgpack")
    receiver = await connect(server, "tcp")
    await sender.auth(owner.token)
    await receiver.auth(member.token)
    await sender.send({"type": "image", "id": "p", "group": group["id"],
                       "body": {"media": photo["id"]}})
    await sender.send({"type": "file", "id": "d", "group": group["id"],
                       "body": {"media": pdf["id"], "caption": "tickets"}})
    assert [(await sender.expect("ack"))["id"] for _ in range(2)] == ["p", "d"]

    image = await receiver.expect("image")
    assert image["group"] == group["id"]
    assert image["body"] == {"media": photo["id"], "url": photo["url"], "mime": "image/jpeg",
                             "size": len(photo_bytes), "name": "beach.jpg", "width": 64,
                             "height": 48}
    document = await receiver.expect("file")
    assert document["body"]["caption"] == "tickets"
    assert document["body"]["name"] == "tickets.pdf"

    for media, content in ((photo, photo_bytes), (pdf, helpers.PDF)):
        got = await arequest(server.base_url, "GET", media["url"], token=member.token)
        assert got.status == 200 and got.body == content
        assert (await arequest(server.base_url, "GET", media["url"],
                               token=stranger.token)).status == 404


async def test_someone_elses_media_is_not_found_and_nothing_is_stored(server):
    alice, mallory, bob = [await make_user(server.base_url) for _ in range(3)]
    secret = await uploaded(server.base_url, alice.token, helpers.PDF, "secret.pdf")
    client = await connect(server, "ws")
    await client.auth(mallory.token)
    for kind in ("file", "image"):
        await client.send({"type": kind, "id": f"steal-{kind}", "to": bob.id,
                           "body": {"media": secret["id"]}})
        error = await client.expect("error")
        assert (error["code"], error["id"]) == ("not_found", f"steal-{kind}")
    await client.send({"type": "image", "id": "ghost", "to": bob.id,
                       "body": {"media": "AAAAAAAAAAAAAAAAAAAAAA"}})
    assert (await client.expect("error"))["code"] == "not_found"

    status, channels = await ahttp(server.base_url, "GET", "/api/channels/", token=bob.token)
    assert status == 200 and channels == []
    # No grant was made: bob still cannot fetch the file.
    assert (await arequest(server.base_url, "GET", secret["url"], token=bob.token)).status == 404


@pytest.mark.parametrize(
    ("frame", "content", "accepted"),
    [("image", helpers.PDF, False), ("audio", helpers.png(), False),
     ("video", helpers.wav(), False), ("image", helpers.HTML, False),
     ("file", helpers.png(), True)],  # a photo may be sent as a document
    ids=["image-with-pdf", "audio-with-image", "video-with-audio", "image-with-html",
         "file-with-image"],
)
async def test_frame_type_must_match_the_kind(server, frame, content, accepted):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    media = await uploaded(server.base_url, alice.token, content, "x.png")
    client = await connect(server, "tcp")
    await client.auth(alice.token)
    await client.send({"type": frame, "id": "t", "to": bob.id, "body": {"media": media["id"]}})
    reply = await client.recv()
    if accepted:
        assert reply["type"] == "ack"
        return
    assert (reply["type"], reply["code"], reply["id"]) == ("error", "invalid", "t")
    status, channels = await ahttp(server.base_url, "GET", "/api/channels/", token=alice.token)
    assert channels == []


async def test_retried_media_frame_is_acked_as_dup(server):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    media = await uploaded(server.base_url, alice.token, helpers.wav(), "v.wav")
    client = await connect(server, "ws")
    await client.auth(alice.token)
    frame = {"type": "audio", "id": "same", "to": bob.id, "body": {"media": media["id"]}}
    await client.send(frame)
    first = await client.expect("ack")
    await client.send(frame)
    assert await client.expect("ack") == {**first, "dup": True}
    assert (await arequest(server.base_url, "GET", media["url"], token=bob.token)).status == 200
