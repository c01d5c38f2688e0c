"""The SDK's and the CLI's account control (issue: block, unblock, sessions,
logout_all, change_password, closing the account) against a real server: what one
device does ends the others' sessions with LoggedOut, and the CLI's two-chat story."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest

from imclient import ApiError, AuthError, Client, LoggedOut, SendFailed
from tests.imclient.conftest import WAIT, users
from tests.imclient.test_cli import PASSWORD, ROOT, Proc, run

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]


async def device(server, account, name: str, transport: str = "tcp",
                 password: str = PASSWORD) -> Client:
    client = Client(server.base_url, transport=transport, device=name)
    await client.login(account.username, password)
    await client.connect(timeout=WAIT)
    return client


async def ended(client: Client) -> None:
    """The session ends with LoggedOut (after whatever messages were still queued)."""

    async def drain() -> None:
        async for _ in client.messages():
            pass

    with pytest.raises(LoggedOut):
        await asyncio.wait_for(drain(), WAIT)
    assert client.status.state == "ended" and client.status.reason == "logout"


async def test_sdk_blocks_sessions_password_and_closing(sdk_server):
    alice, bob = await users(sdk_server, 2)
    phone = await device(sdk_server, bob, "phone")
    laptop = await device(sdk_server, bob, "laptop", "ws")
    tablet = await device(sdk_server, bob, "tablet")
    her = await device(sdk_server, alice, "hers")
    try:
        assert (await phone.block(alice.id))["user_id"] == alice.id
        assert [b["user_id"] for b in await laptop.blocks()] == [alice.id]
        with pytest.raises(SendFailed) as refused:
            await her.send_text(to=bob.id, text="hi")
        assert refused.value.code == "forbidden"
        await phone.unblock(alice.id)
        assert (await her.send_text(to=bob.id, text="hi")).seq == 1
        with pytest.raises(ApiError) as missing:
            await phone.unblock(alice.id)
        assert missing.value.status == 404

        listed = {s["device"]: s for s in await phone.sessions()}
        assert {"phone", "laptop", "tablet"} <= set(listed)
        assert listed["phone"]["current"] and not listed["laptop"]["current"]
        await phone.revoke_session(listed["laptop"]["id"])
        await ended(laptop)

        await phone.change_password(PASSWORD, "a brand new secret 7")
        await ended(tablet)
        assert (await phone.send_text(to=alice.id, text="still on")).seq == 2
        with pytest.raises(AuthError):
            await Client(sdk_server.base_url).login(bob.username, PASSWORD)

        other = await device(sdk_server, bob, "other", password="a brand new secret 7")
        await other.delete_account("a brand new secret 7")
        await ended(other)
        await ended(phone)
        with pytest.raises(AuthError):
            await Client(sdk_server.base_url).login(bob.username, "a brand new secret 7")
    finally:
        for client in (phone, laptop, tablet, her):
            await client.close()


async def test_sdk_logout_all_ends_every_device_and_the_caller(sdk_server):
    (carol,) = await users(sdk_server, 1)
    first, second = await device(sdk_server, carol, "one"), await device(sdk_server, carol,
                                                                          "two", "ws")
    try:
        await first.logout_all()
        await ended(second)
        await ended(first)
    finally:
        await first.close()
        await second.close()


async def test_two_chats_block_sign_out_change_password_and_delete(sdk_server):
    alice, bob = await users(sdk_server, 2)
    her = await Proc.start(sdk_server, alice, "--device", "hers", "chat", "--to", str(bob.id))
    phone = await Proc.start(sdk_server, bob, "--device", "phone", "chat", "--to", str(alice.id))
    laptop = await Proc.start(sdk_server, bob, "--device", "laptop", "--transport", "ws",
                              "chat", "--to", str(alice.id))
    for proc in (her, phone, laptop):
        await proc.expect(r"^\*\*\* chat with")

    # bob blocks alice: her next private message is refused.
    await phone.type(f"/block {alice.id}")
    await phone.expect(rf"^\*\*\* blocked user {alice.id}$")
    await her.type("let me in")
    await her.expect(r"^\*\*\* not sent \(.*forbidden.*\): let me in$")

    # bob signs his laptop out from the phone: it drops at once.
    await phone.type("/sessions")
    line = (await phone.expect(r"^\*\*\* session \d+: laptop,"))[0]
    session_id = re.match(r"^\*\*\* session (\d+):", line).group(1)
    await phone.type(f"/signout {session_id}")
    await laptop.expect(r"^\*\*\* session ended: logout")
    assert await laptop.finish() == 3

    # bob changes his password from a third device: the phone drops.
    code, _, err = await run(sdk_server, bob, "change-password", "--new", "another secret 99")
    assert code == 0, err
    await phone.expect(r"^\*\*\* session ended: logout")
    assert await phone.finish() == 3

    # bob deletes his account: he can no longer log in (or so send).
    code, _, err = await run_as(sdk_server, bob, "another secret 99", "delete-account", "--yes")
    assert code == 0, err
    code, out, err = await run_as(sdk_server, bob, "another secret 99", "send", "--to",
                                  str(alice.id), "back?")
    assert code == 1 and any("login refused" in line for line in err) and not out
    assert await her.finish() == 0


async def test_cli_account_subcommands_print_json(sdk_server):
    alice, bob = await users(sdk_server, 2)
    code, out, err = await run(sdk_server, alice, "block", str(bob.id))
    assert code == 0, err
    assert json.loads(out[0])["user_id"] == bob.id
    code, out, _ = await run(sdk_server, alice, "blocks")
    assert [b["user_id"] for b in json.loads(out[0])] == [bob.id]
    code, out, _ = await run(sdk_server, alice, "--device", "cli-1", "sessions")
    sessions = [json.loads(line) for line in out]
    assert [s["device"] for s in sessions if s["current"]] == ["cli-1"]
    code, _, err = await run(sdk_server, alice, "unblock", str(bob.id))
    assert code == 0, err
    code, _, err = await run(sdk_server, alice, "unblock", str(bob.id))
    assert code == 1 and any("404" in line for line in err)
    code, _, err = await run(sdk_server, alice, "logout-all")
    assert code == 0, err
    code, _, err = await run(sdk_server, alice, "delete-account")
    assert code == 2  # --yes is required


async def run_as(server, account, password: str, *args: str):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "imclient", "--server", server.base_url,
        "--username", account.username, "--password", password, *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    return (proc.returncode, out.decode().splitlines(), err.decode().splitlines())


