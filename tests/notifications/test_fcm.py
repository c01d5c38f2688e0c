"""FCM HTTP v1 against a loopback fake of its API (OAuth token endpoint included)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.notifications.fake_push import FakePush, wait_outbox
from tests.support.clients import ahttp, connect, make_user

pytestmark = pytest.mark.timeout(120)

TOKEN = {"access_token": "access-1", "expires_in": 3600, "token_type": "Bearer"}


@pytest.fixture(scope="module")
def fcm():
    fake = FakePush()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def fcm_server(deployment_factory_module, fcm, tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path_factory.mktemp("fcm") / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "im-test", "private_key_id": "k1",
        "private_key": pem, "client_email": "im@im-test.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": fcm.url("/token"),
    }))
    dep = deployment_factory_module(
        IM_PUSH_FCM_CREDENTIALS=str(path), IM_PUSH_FCM_URL=fcm.url(""),
        IM_PUSH_REDELIVER_S=1, IM_PUSH_RETRY_BASE_S=1, IM_PUSH_RETRY_MAX_S=1,
    )
    return dep.start_server()


async def _send(server, sender, to, text):
    client = await connect(server, "ws")
    await client.auth(sender.token, device="laptop")
    await client.send_text(text=text, to=to.id)
    await client.acks(1)
    await client.close()


def _answer(sends):
    def answer(request):
        if request.path == "/token":
            return 200, {"Content-Type": "application/json"}, 0, json.dumps(TOKEN).encode()
        return sends(request)
    return answer


async def test_fcm_message_with_a_service_account_token(fcm_server, fcm):
    fcm.answer = _answer(lambda r: (200, {}, 0, b'{"name": "projects/im-test/messages/1"}'))
    alice, bob = await make_user(fcm_server.base_url), await make_user(fcm_server.base_url)
    status, _ = await ahttp(fcm_server.base_url, "POST", "/api/devices/",
                            {"device": "android", "kind": "fcm", "target": "reg-token-1"},
                            token=bob.token)
    assert status == 201
    await _send(fcm_server, alice, bob, "hi on android")
    got = fcm.wait_for(lambda r: any(x.path.endswith(":send") for x in r))
    send = next(x for x in got if x.path.endswith(":send"))
    assert send.path == "/v1/projects/im-test/messages:send"
    assert send.headers["authorization"] == "Bearer access-1"
    message = send.json["message"]
    assert message["token"] == "reg-token-1"
    assert message["data"]["preview"] == "hi on android"
    assert message["data"]["from"] == str(alice.id)
    assert message["android"]["collapse_key"] == message["data"]["channel"]
    token_request = next(x for x in got if x.path == "/token")
    assert b"jwt-bearer" in token_request.body


async def test_fcm_unregistered_disables_and_invalid_argument_does_not(fcm_server, fcm):
    def sends(request):
        token = request.json["message"]["token"]
        if token == "gone-token":
            return 404, {}, 0, b'{"error": {"status": "NOT_FOUND", "details": '
        return 400, {}, 0, b'{"error": {"status": "INVALID_ARGUMENT"}}'
    fcm.answer = _answer(sends)
    alice, bob = await make_user(fcm_server.base_url), await make_user(fcm_server.base_url)
    for device, target in (("old", "gone-token"), ("new", "bad-token")):
        status, _ = await ahttp(fcm_server.base_url, "POST", "/api/devices/",
                                {"device": device, "kind": "fcm", "target": target},
                                token=bob.token)
        assert status == 201
    await _send(fcm_server, alice, bob, "hello")
    channel = f"p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
    wait_outbox(fcm_server.env, lambda rows: {
        (r["device"], r["state"]) for r in rows if r["channel"] == channel
    } == {("old", "disabled"), ("new", "failed")})
    status, devices = await ahttp(fcm_server.base_url, "GET", "/api/devices/", token=bob.token)
    assert {d["device"]: d["enabled"] for d in devices} == {"old": False, "new": True}
