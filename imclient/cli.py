"""`python -m imclient`: send, listen and chat from a terminal.

    python -m imclient --server URL --username U --password P send --to 7 "hello"
    python -m imclient --server URL --username U --password P listen --count 10
    python -m imclient --server URL --username U --password P chat --group 3
    python -m imclient --server URL --username U --password P block 7
    (and unblock, blocks, sessions, revoke-session, logout-all, change-password,
    delete-account: imclient/cli_account.py)

Exit status: 0 done, 1 error, 2 bad usage, 3 the server ended the session
(kicked, logged out, replaced), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from typing import TextIO

from improto.channels import g_channel, p_channel
from improto.frames import ack as ack_frame
from improto.vocabulary import EMOJI, REVISION_TYPES, TEXT

from . import cli_account
from .client import Client
from .conversation import Edited, ReadEvent, Recalled, TypingEvent
from .errors import ApiError, IMError, SessionEnded
from .models import Message, Status

EXIT_ERROR = 1
EXIT_ENDED = 3
_NEWEST = 2**63 - 1


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m imclient",
        description="Command-line client of the IM server.",
        epilog="Options may also come from IMCLIENT_SERVER, IMCLIENT_USERNAME, "
               "IMCLIENT_PASSWORD and IMCLIENT_TOKEN.",
    )
    parser.add_argument("--server", default=env("IMCLIENT_SERVER"),
                        help="base URL of the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--username", default=env("IMCLIENT_USERNAME"))
    parser.add_argument("--password", default=env("IMCLIENT_PASSWORD"))
    parser.add_argument("--token", default=env("IMCLIENT_TOKEN"),
                        help="use this token instead of logging in")
    parser.add_argument("--transport", choices=["tcp", "ws"], default="tcp")
    parser.add_argument("--device", help="device name (default: a new one per run)")
    parser.add_argument("--address", help="connect here instead of asking GET /api/gateway/ "
                                          "(host:port for tcp, ws://host:port/ws/ for ws)")
    parser.add_argument("--state", help="SQLite file that remembers the last seen messages")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for a connection or an ack (default 30)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    send = commands.add_parser("send", help="send one message, print the ack as JSON")
    _target(send)
    send.add_argument("--type", choices=[TEXT, EMOJI], default=TEXT)
    send.add_argument("text", help="the text (or the emoji with --type emoji)")

    listen = commands.add_parser("listen", help="print incoming messages as JSON lines")
    listen.add_argument("--count", type=int, help="exit after this many messages")
    listen.add_argument("--include-own", action="store_true",
                        help="also print messages sent by this client")

    chat = commands.add_parser("chat", help="interactive chat with a user or a group")
    _target(chat)
    chat.add_argument("--history", type=int, default=20,
                      help="messages of history to show on open (default 20)")
    cli_account.add_account_commands(commands)
    return parser


def _target(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--to", type=int, metavar="USER_ID")
    group.add_argument("--group", type=int, metavar="GROUP_ID")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.server:
        parser.error("--server is required")
    if not args.token and not (args.username and args.password):
        parser.error("give --username and --password, or --token")
    cli_account.check_usage(parser, args)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace) -> int:
    status_out = sys.stdout if args.command == "chat" else sys.stderr
    printer = StatusPrinter(status_out)
    client = Client(args.server, transport=args.transport, device=args.device,
                    token=args.token, state_path=args.state, on_status=printer)
    try:
        if not args.token:
            await client.login(args.username, args.password)
        if args.command in cli_account.COMMANDS:
            return await cli_account.run_account_command(client, args)
        await client.connect(args.address, timeout=args.timeout)
        if args.command == "send":
            return await _send(client, args)
        if args.command == "listen":
            return await _listen(client, args)
        return await Chat(client, args, sys.stdout).run()
    except SessionEnded as ended:
        print(f"error: {ended}", file=sys.stderr)
        return EXIT_ENDED
    except (IMError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        printer.quiet = True
        await client.close()


async def _send(client: Client, args: argparse.Namespace) -> int:
    body = {"text": args.text} if args.type == TEXT else {"emoji": args.text}
    stored = await client.send(type=args.type, body=body, to=args.to, group=args.group,
                               timeout=args.timeout)
    ack = ack_frame(id=stored.id, channel=stored.channel, seq=stored.seq, ts=stored.ts,
                    dup=stored.dup)
    print(json.dumps(ack), flush=True)
    return 0


async def _listen(client: Client, args: argparse.Namespace) -> int:
    print(f"*** listening as user {client.user_id} ({client.transport})", file=sys.stderr,
          flush=True)
    if args.count is not None and args.count <= 0:
        return 0
    seen = 0
    async for message in client.messages(include_own=args.include_own):
        print(json.dumps(message.to_dict(), ensure_ascii=False), flush=True)
        seen += 1
        if args.count is not None and seen >= args.count:
            break
    return 0


class StatusPrinter:
    """Turns link status changes into `*** ...` lines a person can read."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.quiet = False
        self._was_online = False
        self._down = False

    def __call__(self, status: Status) -> None:
        if self.quiet:
            return
        line = None
        if status.state == "online":
            line = ("*** link restored; caught up" if self._was_online
                    else f"*** connected ({status.address})")
            self._was_online, self._down = True, False
        elif status.state == "offline":
            retry = f"retrying in {status.retry_in:.1f}s" if status.retry_in else "retrying now"
            if self._was_online and not self._down:
                line = f"*** link lost ({status.reason}); {retry}"
            else:
                line = f"*** still offline ({status.reason}); {retry}"
            self._down = True
        elif status.state == "ended":
            line = f"*** session ended: {status.reason}"
        if line:
            print(line, file=self.out, flush=True)


class Chat:
    """A line-based chat: history on open, incoming messages as they come, one
    line typed = one message sent."""

    def __init__(self, client: Client, args: argparse.Namespace, out: TextIO) -> None:
        self.client = client
        self.out = out
        self.history = args.history
        self.to, self.group = args.to, args.group
        if args.to is not None:
            self.channel = p_channel(client.user_id, args.to)
        else:
            self.channel = g_channel(args.group)
        self.shown = 0  # the highest seq printed
        self.names: dict[int, str] = {}
        self.sending: set[asyncio.Task] = set()
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.ended = False
        self.read_marker: asyncio.Task | None = None
        self.last_sent: int | None = None  # seq of my last message here

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    async def run(self) -> int:
        title = (await self.name(self.to)) if self.to is not None else f"group {self.group}"
        self.say(f"*** chat with {title} ({self.channel}); type a message and press Enter, "
                 "/quit or Ctrl-D to leave (/edit text or /recall: your last message; /typing)")
        try:
            older = await self.client.history(self.channel, before=_NEWEST, limit=self.history)
        except ApiError as error:
            raise IMError(f"cannot open {self.channel}: {error.body}") from None
        for message in older:
            await self.show(message)
        stream = asyncio.create_task(self.receive())
        notices = asyncio.create_task(self.notices())
        try:
            await self.type_lines()
            if self.sending:
                await asyncio.wait(self.sending)
        finally:
            background = [stream, notices, *([self.read_marker] if self.read_marker else [])]
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        if self.ended:
            return EXIT_ENDED
        self.say("*** bye")
        return 0

    async def receive(self) -> None:
        try:
            async for message in self.client.messages(include_own=True):
                if message.channel == self.channel:
                    await self.show(message)
        except SessionEnded:
            # The status printer has said why; stop reading what the person types.
            self.ended = True
            self.lines.put_nowait(None)

    async def notices(self) -> None:
        """Typing, the peer's read marks, edits and recalls, as `***` lines."""
        async for event in self.client.events():
            if event.channel != self.channel:
                continue
            if isinstance(event, TypingEvent):
                self.say(f"*** {await self.name(event.user)} is typing")
            elif isinstance(event, ReadEvent) and event.user != self.client.user_id:
                self.say(f"*** {await self.name(event.user)} has read up to #{event.seq}")
            elif isinstance(event, Edited):
                self.say(f"*** #{event.target} edited by {await self.name(event.by)}: "
                         f"{event.body.get('text', '')}")
            elif isinstance(event, Recalled):
                self.say(f"*** #{event.target} recalled by {await self.name(event.by)}")

    def mark_read(self) -> None:
        """Mark what is shown as read, one frame at a time (the latest seq wins)."""
        if self.read_marker is not None and not self.read_marker.done():
            return

        async def mark() -> None:
            while (seq := self.shown) > self.client.read_positions.get(self.channel, 0):
                try:
                    await self.client.mark_read(self.channel, seq)
                except IMError:
                    return

        self.read_marker = asyncio.create_task(mark())

    async def type_lines(self) -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(target=_read_stdin, args=(loop, self.lines), daemon=True).start()
        while (line := await self.lines.get()) is not None:
            text = line.strip()
            if text == "/quit":
                return
            if not text or await cli_account.chat_command(self.client, text, self.say):
                continue
            if text == "/typing":
                await self.client.typing(self.channel)
                continue
            if text == "/recall" or text.startswith("/edit "):
                task = asyncio.create_task(self.revise(text))
                self.sending.add(task)
                task.add_done_callback(self.sending.discard)
                continue
            if not self.client.online:
                self.say("*** offline: the message goes out when the link returns")
            task = asyncio.create_task(self.send(text))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)

    async def send(self, text: str) -> None:
        try:
            sent = await self.client.send_text(text=text, to=self.to, group=self.group)
            self.last_sent = sent.seq
        except IMError as error:
            self.say(f"*** not sent ({error}): {text}")

    async def revise(self, command: str) -> None:
        """`/edit new text` or `/recall`: my last message in this chat."""
        verb, _, text = command.partition(" ")
        if self.last_sent is None or (verb == "/edit" and not text.strip()):
            self.say("*** nothing to change: /edit and /recall act on your last message")
            return
        try:
            if verb == "/edit":
                await self.client.edit(self.channel, self.last_sent, text.strip())
            else:
                await self.client.recall(self.channel, self.last_sent)
        except IMError as error:
            self.say(f"*** {verb[1:]} refused ({error})")

    async def show(self, message: Message) -> None:
        if message.seq <= self.shown:
            return
        self.shown = message.seq
        self.mark_read()
        if message.type in REVISION_TYPES:
            return  # told as a notice (events)
        when = time.strftime("%H:%M:%S", time.localtime(message.ts / 1000))
        self.say(f"[{when}] {await self.name(message.sender)}: {_content(message)}")

    async def name(self, user_id: int) -> str:
        if user_id not in self.names:
            try:
                profile = await self.client.user(user_id)
                self.names[user_id] = profile.get("username") or str(user_id)
            except IMError:
                return f"user {user_id}"
        return self.names[user_id]


def _content(message: Message) -> str:
    body = message.body
    if message.recalled is not None:
        return "(recalled)"
    if message.type == TEXT:
        return str(body.get("text", ""))
    if message.type == EMOJI:
        return str(body.get("emoji", ""))
    caption = f" {body['caption']}" if body.get("caption") else ""
    return f"[{message.type}{caption}] {body.get('url', '')}".rstrip()


def _read_stdin(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is gone: nothing to tell
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)
