"""What a visitor chose on the pages (the Train settings, the model picked,
each page's controls), kept on the server under the visitor's anonymous id
(the cookie ``app_pages.session`` sets), so that a reload finds them again.
Never in the URL: a shared link must not carry one visitor's state.

    models/.choices/<visitor id>.json      {"widget key": value, ...}

Values are plain JSON (numbers, strings, booleans, None, lists); at most
``MAX_KEYS`` keys and ``MAX_BYTES`` bytes a visitor, and the oldest files
beyond ``MAX_VISITORS`` go.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

from model.files import read_json, write_json
from model.lab import store

FOLDER = ".choices"
MAX_KEYS = 200
MAX_BYTES = 32_000
MAX_VISITORS = 1_000
_VISITOR = re.compile(r"[0-9a-f]{32}")


def _path(visitor: str, root: Path | None = None) -> Path | None:
    if not _VISITOR.fullmatch(visitor or ""):
        return None
    return (root or store.workdir()) / store.RUNS / FOLDER / f"{visitor}.json"


def _plain(value: Any) -> Any:
    """``value`` as JSON keeps it (tuples as lists), or a ValueError."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # a NumPy scalar
        return _plain(value.item())
    raise ValueError(f"not kept: {type(value).__name__}")


def plain(choices: dict[str, Any]) -> dict[str, Any]:
    """The choices that can be kept, as JSON keeps them."""
    out = {}
    for key, value in sorted(choices.items())[:MAX_KEYS]:
        with contextlib.suppress(ValueError):
            out[str(key)] = _plain(value)
    return out


def load(visitor: str, root: Path | None = None) -> dict[str, Any]:
    """The visitor's kept choices ({} when none, or unreadable)."""
    path = _path(visitor, root)
    if path is None:
        return {}
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(visitor: str, choices: dict[str, Any], root: Path | None = None) -> None:
    """Keep ``choices`` for ``visitor`` (replacing the earlier ones)."""
    path = _path(visitor, root)
    data = plain(choices)
    if path is None or len(json.dumps(data)) > MAX_BYTES:
        return
    with contextlib.suppress(OSError):
        write_json(path, data)
        _prune(path.parent)


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    for old in files[:max(0, len(files) - MAX_VISITORS)]:
        with contextlib.suppress(OSError):
            old.unlink()
