"""Files written whole or not at all: the one write-then-rename of the lab.

Every file the lab keeps (models, sidecars, the MNIST cache, exported
drawings, a sandbox's reply) is written to a temporary name in the same
folder, flushed to disk, then renamed over its real name, so a reader never
sees half a file and a crash or a full disk never leaves a damaged one.

    with atomic_path(Path("models/x/model.h5")) as tmp:
        model.save(tmp)                # renamed to model.h5 only if this succeeds
    write_json(Path("meta.json"), {"key": "x"})

A full disk is named as such wherever it shows (``disk_full``): h5py says
"file write failed ... errno = 28" over several lines, SQLite "database or
disk is full" or only "disk I/O error"; the visitor gets one whole line,
``DiskFull``, saying where and about how much room the lab needs.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOW_FREE_BYTES = 2 * 2**20  # less free than this: an "I/O error" on writing is the disk being full
_FULL_WORDS = ("no space left on device", "errno = 28", "[errno 28]", "database or disk is full", "disk quota exceeded")


class DiskFull(OSError):
    """No room left where the lab writes; the message says where and how much, in one line."""

    def __init__(self, folder: Path, need_bytes: int) -> None:
        super().__init__(errno.ENOSPC, disk_full_message(folder, need_bytes))
        self.folder, self.need_bytes = Path(folder), need_bytes

    def __str__(self) -> str:
        return self.strerror


def disk_full_message(folder: Path, need_bytes: int) -> str:
    return f"the disk is full: the lab needs about {max(1, math.ceil(need_bytes / 1e6))} MB free in {folder}"


def free_bytes(folder: Path) -> int | None:
    """Free bytes on ``folder``'s file system (of its nearest existing parent), None if unknown."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def disk_full(exc: BaseException, folder: Path | None = None) -> bool:
    """Did ``exc`` (or what caused it) come from a full disk? A bare "disk
    I/O error" counts when ``folder``'s disk has almost no room left."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc).lower()
        if isinstance(exc, DiskFull) or getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) \
                or any(word in text for word in _FULL_WORDS) or getattr(exc, "sqlite_errorcode", None) == 13:
            return True
        if folder is not None and "disk i/o error" in text:
            free = free_bytes(folder)
            if free is not None and free < LOW_FREE_BYTES:
                return True
        exc = exc.__cause__ or exc.__context__ or getattr(exc, "orig", None)
    return False


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A fresh temporary path next to ``path`` (same folder, same suffix, so
    Keras picks the same format); renamed over ``path`` if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    os.unlink(tmp)  # Keras refuses to overwrite some formats without asking
    try:
        yield Path(tmp)
        fsync(Path(tmp))
        os.replace(tmp, path)
        fsync(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a rename never
    publishes data that a power cut could still lose."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems can't fsync a folder
        pass
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
