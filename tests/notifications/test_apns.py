"""APNs over HTTP/2 with a provider token, against a loopback fake of its API."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.notifications.fake_h2 import FakeH2
from tests.notifications.fake_push import wait_outbox
from tests.support.clients import ahttp, connect, make_user

pytestmark = pytest.mark.timeout(120)

KEY = ec.generate_private_key(ec.SECP256R1())


def _b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.fixture(scope="module")
def apns():
    fake = FakeH2()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def apns_server(deployment_factory_module, apns, tmp_path_factory):
    path = tmp_path_factory.mktemp("apns") / "AuthKey_K1.p8"
    path.write_bytes(KEY.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    dep = deployment_factory_module(
        IM_PUSH_APNS_KEY=str(path), IM_PUSH_APNS_KEY_ID="K1", IM_PUSH_APNS_TEAM_ID="TEAM1",
        IM_PUSH_APNS_TOPIC="org.example.im", IM_PUSH_APNS_URL=apns.url(),
        IM_PUSH_REDELIVER_S=1,
    )
    return dep.start_server()


async def _send(server, sender, to, text):
    client = await connect(server, "ws")
    await client.auth(sender.token, device="laptop")
    await client.send_text(text=text, to=to.id)
    await client.acks(1)
    await client.close()


async def test_an_alert_with_a_valid_provider_token(apns_server, apns):
    apns.answer = lambda r: (200, {})
    alice, bob = await make_user(apns_server.base_url), await make_user(apns_server.base_url)
    status, _ = await ahttp(apns_server.base_url, "POST", "/api/devices/",
                            {"device": "iphone", "kind": "apns", "target": "a1b2c3"},
                            token=bob.token)
    assert status == 201
    await _send(apns_server, alice, bob, "hi on the phone")
    got = apns.wait_for(lambda r: len(r) >= 1)[0]
    assert got.path == "/3/device/a1b2c3"
    assert got.headers["apns-topic"] == "org.example.im"
    assert got.headers["apns-push-type"] == "alert"
    body = json.loads(got.body)
    assert body["aps"]["alert"]["body"] == "hi on the phone"
    assert body["im"]["from"] == alice.id
    assert got.headers["apns-collapse-id"] == body["im"]["channel"]
    # The bearer token is an ES256 JWT signed with the .p8 key.
    header, claims, signature = got.headers["authorization"].removeprefix("bearer ").split(".")
    assert json.loads(_b64d(header)) == {"alg": "ES256", "kid": "K1"}
    assert json.loads(_b64d(claims))["iss"] == "TEAM1"
    raw = _b64d(signature)
    KEY.public_key().verify(
        encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
        f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))


async def test_unregistered_disables_and_bad_device_token_does_not(apns_server, apns):
    apns.answer = lambda r: ((410, {"reason": "Unregistered"}) if r.path.endswith("/old")
                             else (400, {"reason": "BadDeviceToken"}))
    alice, bob = await make_user(apns_server.base_url), await make_user(apns_server.base_url)
    for device, target in (("old-phone", "old"), ("new-phone", "new")):
        status, _ = await ahttp(apns_server.base_url, "POST", "/api/devices/",
                                {"device": device, "kind": "apns", "target": target},
                                token=bob.token)
        assert status == 201
    await _send(apns_server, alice, bob, "hello")
    channel = f"p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
    wait_outbox(apns_server.env, lambda rows: {
        (r["device"], r["state"]) for r in rows if r["channel"] == channel
    } == {("old-phone", "disabled"), ("new-phone", "failed")})
