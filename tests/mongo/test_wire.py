"""An imserver with IM_MONGODB_URL keeps its messages in MongoDB: they are there, in
the shape the store reads, and nowhere else the server could read them from."""

from __future__ import annotations

import secrets

import pymongo
import pytest

from tests.support.clients import ahttp, connect, make_user

pytestmark = pytest.mark.mongo


async def test_a_server_on_mongodb_stores_and_serves_its_messages_there(make_deployment,
                                                                        mongo_server):
    url = mongo_server.url(f"im_{secrets.token_hex(6)}")
    dep = make_deployment(IM_MONGODB_URL=url)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    client = await connect(server, "tcp")
    await client.auth(alice.token)
    for i in range(3):
        await client.send_text(to=bob.id, text=f"hi {i}", client_id=f"c{i}")
    acks = await client.acks(3)
    channel = acks[0]["channel"]
    db = pymongo.MongoClient(url).get_default_database()
    stored = list(db.messages.find({"channel": channel}).sort("seq", 1))
    assert [(m["seq"], m["client_id"], m["body"]) for m in stored] == [
        (a["seq"], f"c{i}", {"text": f"hi {i}"}) for i, a in enumerate(acks)]
    assert db.channels.find_one({"_id": channel})["seq"] == acks[-1]["seq"]
    status, listed = await ahttp(server.base_url, "GET", "/api/channels/", token=bob.token)
    assert status == 200
    assert [(c["channel"], c["last_seq"], c["unread"]) for c in listed] == [
        (channel, acks[-1]["seq"], 3)]
