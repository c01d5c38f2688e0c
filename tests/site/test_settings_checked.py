"""Bad settings stop start-up with one line that names them, never a late failure."""

from __future__ import annotations

import os
import tempfile

import pytest

from tests.site.processes import manage

pytestmark = [pytest.mark.embedded, pytest.mark.server]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IM_", "DATABASE_URL"))}
    env.update({"IM_DATA_DIR": tempfile.mkdtemp(prefix="im-settings-")}, **extra)
    return env


@pytest.mark.parametrize("value", ["off", "NORMAL", "full", "Extra"])
def test_sqlite_synchronous_takes_the_four_levels(value):
    result = manage(_env(IM_SQLITE_SYNCHRONOUS=value), "check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("value", ["FULL; DROP TABLE x", "2", "sometimes"])
def test_sqlite_synchronous_refuses_anything_else(value):
    result = manage(_env(IM_SQLITE_SYNCHRONOUS=value), "check")
    assert result.returncode != 0
    assert "IM_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA" in result.stderr


def test_the_outbound_bound_holds_two_sync_pages():
    result = manage(_env(IM_OUTBOUND_BYTES="1048576", IM_SYNC_MAX_BYTES="1048576"), "check")
    assert result.returncode != 0
    assert "IM_OUTBOUND_BYTES must be at least twice IM_SYNC_MAX_BYTES" in result.stderr


@pytest.mark.parametrize(("value", "message"), [
    ("-1", "IM_USERNAME_HOLD_DAYS must be at least 0"),
    ("36501", "IM_USERNAME_HOLD_DAYS must be at most 36500"),
    ("a month", "IM_USERNAME_HOLD_DAYS must be an integer"),
])
def test_the_username_hold_is_checked(value, message):
    result = manage(_env(IM_USERNAME_HOLD_DAYS=value), "check")
    assert result.returncode != 0
    assert message in result.stderr
    assert manage(_env(IM_USERNAME_HOLD_DAYS="0"), "check").returncode == 0
