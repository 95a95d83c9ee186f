"""Files written whole or not at all: the one write-then-rename of the lab.

Every file the lab keeps (models, sidecars, the MNIST cache, exported
drawings, a sandbox's reply) is written to a temporary name in the same
folder, flushed to disk, then renamed over its real name, so a reader never
sees half a file and a crash or a full disk never leaves a damaged one.

    with atomic_path(Path("models/x/model.h5")) as tmp:
        model.save(tmp)                # renamed to model.h5 only if this succeeds
    write_json(Path("meta.json"), {"key": "x"})
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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
