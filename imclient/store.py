"""Optional local state in one small SQLite file: the last seq the application has
taken from `messages()` per channel (per user), and the client's device name.

A restarted application resumes each channel after its stored seq instead of
re-reading history. Writes are tiny autocommitted upserts in WAL mode.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS position (
    user_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (user_id, channel)
);
CREATE TABLE IF NOT EXISTS meta (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
"""


class StateStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def get_meta(self, scope: str, key: str) -> str | None:
        row = self._db.execute(
            "SELECT value FROM meta WHERE scope = ? AND key = ?", (scope, key)
        ).fetchone()
        return row[0] if row else None

    def set_meta(self, scope: str, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (scope, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
            (scope, key, value),
        )

    def initialized(self, user_id: int) -> bool:
        """Whether this file already follows `user_id` (its positions are complete)."""
        return self.get_meta(str(user_id), "initialized") == "1"

    def mark_initialized(self, user_id: int) -> None:
        self.set_meta(str(user_id), "initialized", "1")

    def positions(self, user_id: int) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT channel, seq FROM position WHERE user_id = ?", (user_id,)
        ).fetchall()
        return dict(rows)

    def save(self, user_id: int, channel: str, seq: int) -> None:
        """Record that every seq <= `seq` of `channel` was handed to the application."""
        self._db.execute(
            "INSERT INTO position (user_id, channel, seq) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id, channel) DO UPDATE SET seq = max(seq, excluded.seq)",
            (user_id, channel, seq),
        )

    def save_many(self, user_id: int, positions: dict[str, int]) -> None:
        self._db.execute("BEGIN")
        try:
            for channel, seq in positions.items():
                self.save(user_id, channel, seq)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
