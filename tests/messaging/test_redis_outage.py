"""Redis going away does not lose or block what the database can still do."""

from __future__ import annotations

import asyncio

from tests.support.clients import ahttp, connect, make_user
from tests.support.servers import Deployment, RedisServer


async def test_sends_are_stored_and_acked_while_redis_is_down():
    redis_server = RedisServer()
    dep = Deployment.create(redis_url=redis_server.url(0))
    try:
        server = dep.start_server()
        alice, bob = await make_user(server.base_url), await make_user(server.base_url)
        sender = await connect(server, "tcp")
        await sender.auth(alice.token)
        await sender.send_text(to=bob.id, text="before", client_id="b")
        assert (await sender.expect("ack"))["seq"] == 1

        await asyncio.to_thread(redis_server.stop)
        await sender.send_text(to=bob.id, text="during", client_id="d")
        ack = await sender.expect("ack")  # the database is the source of truth
        assert ack["seq"] == 2
        late = await connect(server, "ws")
        await late.send({"type": "auth", "id": "a", "token": bob.token, "device": "x"})
        error = await late.expect("error")  # cannot register the connection: said so
        assert (error["code"], error["id"]) == ("internal", "a")
        status, page = await ahttp(server.base_url, "GET",
                                   f"/api/channels/{ack['channel']}/messages/",
                                   token=bob.token)
        assert status == 200
        assert [m["body"]["text"] for m in page["messages"]] == ["before", "during"]
        status, health = await ahttp(server.base_url, "GET", "/api/health/")
        assert status == 503 and health["checks"] == {"database": True, "redis": False}
    finally:
        dep.close()
        redis_server.stop()
