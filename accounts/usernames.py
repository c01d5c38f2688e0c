"""What makes two usernames the same name, and which names are refused as look-alikes."""

from __future__ import annotations

import unicodedata

from confusable_homoglyphs import categories

# NFKC is applied before a username is stored, so its length (at most 150) is counted
# after it; case folding then turns one character into at most three ("ΐ").
CANONICAL_MAX = 3 * 150

# Scripts a name may combine (Unicode TS #39, "Highly Restrictive"): Japanese, Chinese
# and Korean names mix Han with their own scripts and with Latin; any other mix (Latin
# with Cyrillic, Greek with Latin, ...) is how look-alikes such as "аlice", with a
# Cyrillic "а", are made.
_NEUTRAL = {"COMMON", "INHERITED"}  # digits, "@.+-_", combining marks
_ALLOWED_MIXES = [
    {"LATIN", "HAN", "HIRAGANA", "KATAKANA"},
    {"LATIN", "HAN", "BOPOMOFO"},
    {"LATIN", "HAN", "HANGUL"},
]
MIXED_SCRIPTS = "Use letters of one script only ({scripts} are mixed)."


def canonical_username(name: str) -> str:
    """The form usernames are compared in: NFKC, case-folded, NFKC again (folding can
    undo a composition). "Alice", "ALICE" and "ａｌｉｃｅ" are one name; so are "Émile"
    and "émile" on every database, SQLite included."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def username_scripts(name: str) -> set[str]:
    """The scripts of the letters in `name` (Unicode's Scripts data)."""
    return {categories.alias(char) for char in name} - _NEUTRAL


def mixed_scripts_error(name: str) -> str | None:
    """Why `name` is refused as a mix of scripts, or None if it is not."""
    scripts = username_scripts(name)
    if len(scripts) <= 1 or any(scripts <= allowed for allowed in _ALLOWED_MIXES):
        return None
    return MIXED_SCRIPTS.format(scripts=" and ".join(sorted(s.title() for s in scripts)))
