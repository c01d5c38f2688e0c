"""What makes two usernames the same name, and which names are refused as look-alikes."""

from __future__ import annotations

import unicodedata


def canonical_username(name: str) -> str:
    """The form usernames are compared in: NFKC, case-folded, NFKC again (folding can
    undo a composition). "Alice", "ALICE" and "ａｌｉｃｅ" are one name; so are "Émile"
    and "émile" on every database, SQLite included."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
