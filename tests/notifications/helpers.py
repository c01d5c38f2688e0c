from __future__ import annotations

import hashlib
import hmac

from tests.support.clients import Account, ahttp

SECRET = "s3cret-for-the-tests-0123456789"


async def register(server, account: Account, url: str, device: str = "phone",
                   kind: str = "webhook") -> dict:
    status, body = await ahttp(server.base_url, "POST", "/api/devices/",
                               {"device": device, "kind": kind, "target": url,
                                "secret": SECRET}, token=account.token)
    assert status == 201, body
    return body


def signed(received, secret: str = SECRET) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers.get("x-im-signature", ""), expected)
