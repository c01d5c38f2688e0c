"""Account commands of `python -m imclient`: subcommands that need no live
connection, and the same as `/` commands inside `chat`.

    block USER_ID | unblock USER_ID | blocks
    sessions | revoke-session SESSION_ID | logout-all
    change-password --new NEW        (the old one is --password)
    delete-account --yes             (confirmed by --password)
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from .client import Client
from .errors import IMError

COMMANDS = ("block", "unblock", "blocks", "sessions", "revoke-session", "logout-all",
            "change-password", "delete-account")


def add_account_commands(commands) -> None:
    for name, help_text in (("block", "block a user: their private messages are refused"),
                            ("unblock", "lift a block")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("user_id", type=int)
    commands.add_parser("blocks", help="list the users I blocked (JSON)")
    commands.add_parser("sessions", help="list my sessions (JSON lines)")
    revoke = commands.add_parser("revoke-session", help="sign one of my sessions out")
    revoke.add_argument("session_id", type=int)
    commands.add_parser("logout-all", help="sign every session of mine out")
    change = commands.add_parser(
        "change-password", help="change my password (the old one is --password); "
                                "signs every other session out")
    change.add_argument("--new", required=True, metavar="NEW_PASSWORD")
    delete = commands.add_parser(
        "delete-account", help="close my account for good (confirmed by --password)")
    delete.add_argument("--yes", action="store_true", required=True,
                        help="required: I mean it")


def check_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.command in ("change-password", "delete-account") and not args.password:
        parser.error(f"{args.command} needs --password")


async def run_account_command(client: Client, args: argparse.Namespace) -> int:
    """Run one account subcommand; print its answer as JSON where it has one."""
    command = args.command
    if command == "block":
        _print(await client.block(args.user_id))
    elif command == "unblock":
        await client.unblock(args.user_id)
    elif command == "blocks":
        _print(await client.blocks())
    elif command == "sessions":
        for session in await client.sessions():
            _print(session)
    elif command == "revoke-session":
        await client.revoke_session(args.session_id)
    elif command == "logout-all":
        await client.logout_all()
    elif command == "change-password":
        await client.change_password(args.password, args.new)
    elif command == "delete-account":
        await client.delete_account(args.password)
    return 0


async def chat_command(client: Client, line: str, say: Callable[[str], None]) -> bool:
    """A `/` command typed in chat: /block ID, /unblock ID, /sessions, /signout ID,
    /logout-all. True if `line` was one (done or refused), False otherwise."""
    words = line.split()
    if not words or not words[0].startswith("/"):
        return False
    name, rest = words[0], words[1:]
    try:
        if name in ("/block", "/unblock", "/signout") and len(rest) == 1 and rest[0].isdigit():
            target = int(rest[0])
            if name == "/block":
                await client.block(target)
                say(f"*** blocked user {target}")
            elif name == "/unblock":
                await client.unblock(target)
                say(f"*** unblocked user {target}")
            else:
                await client.revoke_session(target)
                say(f"*** signed session {target} out")
        elif name == "/sessions" and not rest:
            for s in await client.sessions():
                mark = " (this one)" if s.get("current") else ""
                say(f"*** session {s['id']}: {s['device'] or '-'}, last used "
                    f"{s['last_used']}{mark}")
        elif name == "/logout-all" and not rest:
            await client.logout_all()
            say("*** signed every session out")
        else:
            return False
    except IMError as error:
        say(f"*** {name} failed: {error}")
    return True


def _print(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False), flush=True)
