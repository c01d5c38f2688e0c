"""Who may fetch a file: its uploader, members of a channel it was sent to, anyone
signed in for a current avatar, and the holder of a fresh signed link. Everyone else
gets the same 404 as for an id that does not exist."""

from __future__ import annotations

import time
from unittest import mock

from django.core import signing

from media.links import SALT
from tests.media import helpers
from tests.media.helpers import arequest, uploaded
from tests.support.clients import ahttp, connect, make_user


async def fetch(server, path: str, token: str | None = None) -> helpers.Reply:
    return await arequest(server.base_url, "GET", path, token=token)


async def send_media(server, sender, media: dict, *, kind: str = "file", to=None, group=None):
    client = await connect(server, "tcp")
    await client.auth(sender.token)
    frame = {"type": kind, "id": f"m-{media['id'][:8]}", "body": {"media": media["id"]}}
    frame.update({"to": to} if to is not None else {"group": group})
    await client.send(frame)
    reply = await client.expect("ack")
    await client.close()
    return reply


async def test_uploader_and_private_recipient_only(server):
    alice, bob, eve = [await make_user(server.base_url) for _ in range(3)]
    media = await uploaded(server.base_url, alice.token, helpers.PDF, "a.pdf")
    url = media["url"]

    assert (await fetch(server, url, alice.token)).status == 200
    not_yet = await fetch(server, url, bob.token)
    assert not_yet.status == 404
    unknown = await fetch(server, "/api/media/AAAAAAAAAAAAAAAAAAAAAA/", bob.token)
    # Someone else's file and no file at all look the same.
    assert not_yet.json() == unknown.json() == {"detail": "Not found."}
    assert (await fetch(server, url)).status == 401

    await send_media(server, alice, media, to=bob.id)
    got = await fetch(server, url, bob.token)
    assert got.status == 200 and got.body == helpers.PDF
    assert (await fetch(server, url, eve.token)).status == 404


async def test_group_members_but_not_outsiders(server):
    owner, member, outsider = [await make_user(server.base_url) for _ in range(3)]
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "g", "members": [member.id]}, token=owner.token)
    assert status == 201
    media = await uploaded(server.base_url, owner.token, helpers.png(), "p.png")
    await send_media(server, owner, media, kind="image", group=group["id"])

    assert (await fetch(server, media["url"], member.token)).status == 200
    assert (await fetch(server, media["url"], outsider.token)).status == 404
    # Leaving the group ends access.
    status, _ = await ahttp(server.base_url, "POST", f"/api/groups/{group['id']}/leave/",
                            token=member.token)
    assert status in (200, 204)
    assert (await fetch(server, media["url"], member.token)).status == 404


async def test_signed_link_works_without_a_token_until_it_expires(server):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    content = helpers.jpeg()
    media = await uploaded(server.base_url, alice.token, content, "j.jpg")
    other = await uploaded(server.base_url, alice.token, helpers.PDF, "o.pdf")

    link = await fetch(server, f"{media['url']}link/", alice.token)
    assert link.status == 200
    url = link.json()["url"]
    assert url.startswith(media["url"] + "?sig=")
    got = await fetch(server, url)  # no Authorization header, as from <img src>
    assert got.status == 200 and got.body == content
    assert got.headers["content-type"] == "image/jpeg"

    signature = url.split("?", 1)[1]
    assert (await fetch(server, f"{other['url']}?{signature}")).status == 403  # other file
    assert (await fetch(server, url[:-3] + "AAA")).status == 403  # tampered
    # Someone without access gets no link.
    assert (await fetch(server, f"{media['url']}link/", bob.token)).status == 404

    # A link signed (with the server's key) six minutes ago has expired.
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 360):
        old = signing.TimestampSigner(key=server.secret_key, salt=f"{SALT}:{media['id']}").sign(
            str(alice.id))
    expired = await fetch(server, f"{media['url']}?sig={old}")
    assert expired.status == 403
    assert expired.json() == {"detail": "Invalid or expired link."}


async def test_avatar_is_an_own_image_and_visible_to_signed_in_users(server):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    photo = await uploaded(server.base_url, alice.token, helpers.png((32, 32)), "me.png")
    pdf = await uploaded(server.base_url, alice.token, helpers.PDF, "cv.pdf")
    bobs = await uploaded(server.base_url, bob.token, helpers.png(), "bob.png")

    for bad in (pdf["id"], bobs["id"], "no-such-media"):
        status, body = await ahttp(server.base_url, "PATCH", "/api/users/me/",
                                   {"avatar": bad}, token=alice.token)
        assert status == 400 and list(body) == ["avatar"], body
    assert (await fetch(server, photo["url"], bob.token)).status == 404

    status, me = await ahttp(server.base_url, "PATCH", "/api/users/me/",
                             {"avatar": photo["id"]}, token=alice.token)
    assert status == 200 and me["avatar"] == photo["url"]
    status, profile = await ahttp(server.base_url, "GET", f"/api/users/{alice.id}/",
                                  token=bob.token)
    assert status == 200 and profile["avatar"] == photo["url"]
    got = await fetch(server, profile["avatar"], bob.token)
    assert got.status == 200 and got.headers["content-type"] == "image/png"
    assert (await fetch(server, profile["avatar"])).status == 401  # still signed-in users only

    status, me = await ahttp(server.base_url, "PATCH", "/api/users/me/", {"avatar": ""},
                             token=alice.token)
    assert status == 200 and me["avatar"] == ""
    assert (await fetch(server, photo["url"], bob.token)).status == 404
