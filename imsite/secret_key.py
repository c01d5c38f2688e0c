"""SECRET_KEY when the environment gives none: generated once, kept in the data folder.

The key signs media links and admin sessions, so it must be secret (a file that only
its owner may read) and stable (the same on every start, and for every process that
shares the folder: imserver, manage.py, Celery workers). Processes that start at once
on an empty folder must agree on one key: each writes a complete candidate to a private
temporary file and hard-links it into place. link() fails when the name exists, so the
first link wins, nobody ever sees a half-written file, and everyone reads the winner.

No imports of Django settings here: this runs while settings are being built.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

FILE_NAME = "secret_key"
# Django's own deployment check (security.W009) asks for at least this many characters.
MIN_LENGTH = 50


def load_or_create(data_dir: Path) -> tuple[str, Path]:
    """The key kept in data_dir (made on first use) and the file it is kept in."""
    path = data_dir / FILE_NAME
    try:
        key = _read(path)
        if key is None:
            _create(path)
            key = _read(path)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set and {path} cannot be read or created "
            f"({exc.strerror or exc}); set SECRET_KEY or make IM_DATA_DIR writable"
        ) from None
    if key is None or len(key) < MIN_LENGTH:
        raise ImproperlyConfigured(
            f"{path} does not hold a usable key (fewer than {MIN_LENGTH} characters); "
            "delete it to have a new one generated, or set SECRET_KEY"
        )
    return key, path


def _read(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, encoding="ascii") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode) or mode & 0o077:
            raise ImproperlyConfigured(
                f"{path} must be a regular file that only its owner can read "
                f"(mode 600, it is {stat.filemode(mode)}); fix it or set SECRET_KEY"
            )
        return file.read().strip()


def _create(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp makes the file with mode 0600, readable by its owner only.
    fd, candidate = tempfile.mkstemp(dir=path.parent, prefix=f".{FILE_NAME}.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(get_random_secret_key() + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(candidate, path)
        except FileExistsError:
            return  # another process got there first: its key is the key
        _fsync_directory(path.parent)
    finally:
        os.unlink(candidate)


def _fsync_directory(directory: Path) -> None:
    """So that the new name survives a power loss, and the key with it."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
