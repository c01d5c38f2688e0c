"""Channel names: `p:<a>:<b>` for two users (a <= b) and `g:<id>` for a group.

Only the canonical spelling is accepted, so a channel has exactly one name and
names can be compared, stored and used as keys as plain strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_CHANNEL_CHARS = 64
MAX_ID = 2**63 - 1  # ids are signed 64-bit database keys

# Explicit [0-9]: `\d` and int() also accept non-ASCII digits such as "٣".
_NUMBER = r"([1-9][0-9]*)"
_PRIVATE = re.compile(rf"p:{_NUMBER}:{_NUMBER}")
_GROUP = re.compile(rf"g:{_NUMBER}")


@dataclass(frozen=True, slots=True)
class ChannelName:
    kind: Literal["p", "g"]
    a: int | None
    b: int | None
    group: int | None
    name: str

    def __str__(self) -> str:
        return self.name


def _check_id(value: object, what: str) -> int:
    if type(value) is not int or not 1 <= value <= MAX_ID:
        raise ValueError(f"{what} must be an int in 1..2**63-1")
    return value


def p_channel(a: int, b: int) -> str:
    """The channel of the private conversation between users `a` and `b` (in any order)."""
    a = _check_id(a, "user id")
    b = _check_id(b, "user id")
    return f"p:{min(a, b)}:{max(a, b)}"


def g_channel(group_id: int) -> str:
    return f"g:{_check_id(group_id, 'group id')}"


def parse_channel(name: object) -> ChannelName:
    """Parse a canonical channel name; raise ValueError for anything else."""
    if type(name) is not str or len(name) > MAX_CHANNEL_CHARS:
        raise ValueError("not a channel name")
    if match := _PRIVATE.fullmatch(name):
        a, b = int(match[1]), int(match[2])
        if a > b or b > MAX_ID:
            raise ValueError("not a canonical channel name")
        return ChannelName(kind="p", a=a, b=b, group=None, name=name)
    if match := _GROUP.fullmatch(name):
        group = int(match[1])
        if group > MAX_ID:
            raise ValueError("not a canonical channel name")
        return ChannelName(kind="g", a=None, b=None, group=group, name=name)
    raise ValueError("not a channel name")
