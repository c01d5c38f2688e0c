"""REST of section 10: registrations and channel mute, against a real server."""

from __future__ import annotations

import pytest

from tests.support.clients import ahttp, make_user


@pytest.fixture(scope="module")
def plain(deployment_factory_module):
    """Private targets refused, as deployed."""
    return deployment_factory_module().start_server()


async def test_register_list_replace_and_delete(plain):
    bob, eve = await make_user(plain.base_url), await make_user(plain.base_url)
    status, made = await ahttp(plain.base_url, "POST", "/api/devices/",
                               {"device": "phone", "kind": "fcm", "target": "tok-1"},
                               token=bob.token)
    assert status == 201 and len(made["secret"]) >= 32
    assert set(made) == {"id", "device", "kind", "enabled", "created", "secret"}
    status, again = await ahttp(plain.base_url, "POST", "/api/devices/",
                                {"device": "phone", "kind": "apns", "target": "tok-2",
                                 "secret": "x" * 20}, token=bob.token)
    assert status == 201 and again["id"] == made["id"] and "secret" not in again
    status, listed = await ahttp(plain.base_url, "GET", "/api/devices/", token=bob.token)
    assert status == 200 and [(d["id"], d["kind"], d["enabled"]) for d in listed] == [
        (made["id"], "apns", True)]
    assert "secret" not in listed[0]
    status, _ = await ahttp(plain.base_url, "DELETE", f"/api/devices/{made['id']}/",
                            token=eve.token)
    assert status == 404
    status, _ = await ahttp(plain.base_url, "DELETE", f"/api/devices/{made['id']}/",
                            token=bob.token)
    assert status == 204
    status, listed = await ahttp(plain.base_url, "GET", "/api/devices/", token=bob.token)
    assert listed == []


@pytest.mark.parametrize("body", [
    {"device": "phone", "kind": "webhook", "target": "http://127.0.0.1:9/hook"},
    {"device": "phone", "kind": "webhook", "target": "http://10.1.2.3/hook"},
    {"device": "phone", "kind": "webhook", "target": "http://[::1]/hook"},
    {"device": "phone", "kind": "webhook", "target": "ftp://example.com/x"},
    {"device": "phone", "kind": "webhook", "target": {"url": "x"}},
    {"device": "phone", "kind": "webpush", "target": {"endpoint": "https://192.168.1.1/x",
                                                     "keys": {"p256dh": "a", "auth": "b"}}},
    {"device": "phone", "kind": "webpush", "target": {"endpoint": "https://example.com/x"}},
    {"device": "phone", "kind": "fcm", "target": ""},
    {"device": "phone", "kind": "pigeon", "target": "x"},
    {"device": "bad name!", "kind": "fcm", "target": "x"},
    {"device": "phone", "kind": "fcm", "target": "x", "secret": "short"},
    {"device": "phone", "kind": "fcm"},
])
async def test_bad_registrations_are_400(plain, body):
    bob = await make_user(plain.base_url)
    status, answer = await ahttp(plain.base_url, "POST", "/api/devices/", body, token=bob.token)
    assert status == 400 and isinstance(answer, dict)


async def test_mute_needs_membership(plain):
    alice = await make_user(plain.base_url)
    bob = await make_user(plain.base_url)
    eve = await make_user(plain.base_url)
    channel = f"p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
    path = f"/api/channels/{channel}/settings/"
    status, _ = await ahttp(plain.base_url, "PATCH", path, {"muted": True}, token=eve.token)
    assert status == 403
    status, _ = await ahttp(plain.base_url, "PATCH", "/api/channels/nonsense/settings/",
                            {"muted": True}, token=bob.token)
    assert status == 403
    status, _ = await ahttp(plain.base_url, "PATCH", path, {"muted": "perhaps"}, token=bob.token)
    assert status == 400
    status, body = await ahttp(plain.base_url, "PATCH", path, {"muted": False}, token=bob.token)
    assert (status, body) == (200, {"channel": channel, "muted": False})
    status, _ = await ahttp(plain.base_url, "GET", "/api/devices/")
    assert status == 401


async def test_registrations_per_user_are_bounded(deployment_factory_module):
    server = deployment_factory_module(IM_PUSH_MAX_DEVICES=2).start_server()
    bob = await make_user(server.base_url)

    async def register(device: str) -> tuple[int, object]:
        return await ahttp(server.base_url, "POST", "/api/devices/",
                           {"device": device, "kind": "fcm", "target": f"tok-{device}"},
                           token=bob.token)

    assert (await register("one"))[0] == 201
    made = await register("two")
    assert made[0] == 201
    status, body = await register("three")
    assert status == 400 and "device" in body, body
    assert (await register("two"))[0] == 201  # replacing one is not one more
    status, _ = await ahttp(server.base_url, "DELETE", f"/api/devices/{made[1]['id']}/",
                            token=bob.token)
    assert status == 204
    assert (await register("three"))[0] == 201
