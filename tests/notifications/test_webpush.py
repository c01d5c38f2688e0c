"""Web Push against a loopback fake push service that decrypts what it gets."""

from __future__ import annotations

import base64
import json

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from notifications.providers.webpush import topic_of
from tests.notifications.fake_push import FakePush, wait_outbox
from tests.support.clients import ahttp, connect, make_user

pytestmark = pytest.mark.timeout(120)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def service():
    fake = FakePush()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def webpush_server(deployment_factory_module, tmp_path_factory):
    path = tmp_path_factory.mktemp("vapid") / "vapid.pem"
    vapid = Vapid02()
    vapid.generate_keys()
    vapid.save_key(str(path))
    dep = deployment_factory_module(
        IM_PUSH_VAPID_PRIVATE_KEY=str(path), IM_PUSH_VAPID_SUBJECT="mailto:ops@example.com",
        IM_PUSH_ALLOW_PRIVATE=1, IM_PUSH_REDELIVER_S=1,
    )
    return dep.start_server()


def _browser_subscription(endpoint: str):
    """What a browser's PushSubscription holds, and the keys to read it with."""
    key = ec.generate_private_key(ec.SECP256R1())
    auth = b"0123456789abcdef"
    public = key.public_key().public_bytes(serialization.Encoding.X962,
                                           serialization.PublicFormat.UncompressedPoint)
    keys = {"p256dh": b64url(public), "auth": b64url(auth)}
    return {"endpoint": endpoint, "keys": keys}, key, auth


async def _send(server, sender, to, text):
    client = await connect(server, "ws")
    await client.auth(sender.token, device="laptop")
    await client.send_text(text=text, to=to.id)
    await client.acks(1)
    await client.close()


async def test_an_encrypted_vapid_signed_push(webpush_server, service):
    service.answer = lambda r: (201, {}, 0)
    alice, bob = await make_user(webpush_server.base_url), await make_user(webpush_server.base_url)
    subscription, key, auth = _browser_subscription(service.url("/push/abc"))
    status, _ = await ahttp(webpush_server.base_url, "POST", "/api/devices/",
                            {"device": "browser", "kind": "webpush", "target": subscription},
                            token=bob.token)
    assert status == 201
    await _send(webpush_server, alice, bob, "hi in the browser")
    got = service.wait_for(lambda r: len(r) >= 1)[0]
    assert got.path == "/push/abc"
    assert got.headers["content-encoding"] == "aes128gcm" and int(got.headers["ttl"]) > 0
    scheme, _, params = got.headers["authorization"].partition(" ")
    assert scheme == "vapid" and "t=" in params and "k=" in params
    payload = json.loads(http_ece.decrypt(got.body, private_key=key, auth_secret=auth,
                                          version="aes128gcm"))
    assert payload["preview"] == "hi in the browser" and payload["from"] == alice.id
    # The channel's Topic: the push service keeps only its latest undelivered message.
    topic = got.headers["topic"]
    assert len(topic) == 32 and topic.replace("-", "").replace("_", "").isalnum()
    assert topic == topic_of(payload["channel"])


async def test_a_gone_subscription_is_disabled(webpush_server, service):
    service.answer = lambda r: (410, {}, 0)
    alice, bob = await make_user(webpush_server.base_url), await make_user(webpush_server.base_url)
    subscription, _, _ = _browser_subscription(service.url("/push/old"))
    await ahttp(webpush_server.base_url, "POST", "/api/devices/",
                {"device": "browser", "kind": "webpush", "target": subscription}, token=bob.token)
    await _send(webpush_server, alice, bob, "anyone?")
    channel = f"p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
    wait_outbox(webpush_server.env, lambda rows: [
        r["state"] for r in rows if r["channel"] == channel] == ["disabled"])
    status, devices = await ahttp(webpush_server.base_url, "GET", "/api/devices/",
                                  token=bob.token)
    assert [d["enabled"] for d in devices] == [False]
