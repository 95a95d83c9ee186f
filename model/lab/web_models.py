"""The lab's models as files for the visitor's browser: each model file's web
export (``model.serving.web``), written once into the app's static folder,
which Streamlit serves at ``/app/static/`` (``enableStaticServing``).

    from model.lab.web_models import web_model
    web = web_model(chosen.model, chosen.path)    # WebModel(url="models/3f2a….tflite", input_shape=[1, 784], …)

A file is named by the hash of the model file it was made from (and of
``EXPORT_VERSION``), so its URL changes whenever its content would: a browser
may cache it for good (Streamlit's static handler sends no Cache-Control and
answers no conditional request; a new name is the only way to say "changed").
The name is known before converting, so a conversion happens once per model
file, even across server restarts and processes: a file already there is
used as it is. Written whole or not at all (``model.files.atomic_path``):
two sessions converting the same model at once both rename a complete file
over the same name. The folder keeps at most ``MAX_FILES`` files; the oldest
(by last use) go first, never one used within ``KEEP_S`` seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from model.files import atomic_path
from model.serving.web import to_web_tflite, web_input_shape

EXPORT_VERSION = "web-tflite-1"  # change when the export changes: every model gets a new file name
STATIC_DIR = Path(__file__).resolve().parents[2] / "static"  # next to dashboard.py: Streamlit serves it
FOLDER = "models"  # under the static folder; .gitignore'd
MAX_FILES = 40
KEEP_S = 3600.0
_HASH_CHARS = 24

_lock = threading.Lock()
_known: dict[tuple[str, int, int], WebModel] = {}  # (path, mtime_ns, size) -> its export, this process
_converting: dict[str, threading.Lock] = {}


@dataclass(frozen=True)
class WebModel:
    url: str  # the file's URL under the static folder's: "models/<hash>.tflite"
    input_shape: list[int]  # the browser's input tensor, [1, 784] or [1, 28, 28(, 1)]
    size_bytes: int
    path: Path


def source_hash(path: Path) -> str:
    """The file name stem of ``path``'s web export: its bytes' and the export's version's hash."""
    digest = hashlib.sha256(EXPORT_VERSION.encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:_HASH_CHARS]


def cached(path: Path, static_dir: Path | None = None) -> WebModel | None:
    """The web export of the model file at ``path`` if this process has made
    or found it already (no hashing, no converting), else None."""
    static_dir = Path(static_dir or STATIC_DIR)
    try:
        known = _known.get(_key(path))
    except OSError:
        return None
    if known is not None and known.path.parent.parent == static_dir and known.path.exists():
        return known
    return None


def _key(path: Path) -> tuple[str, int, int]:
    stat = os.stat(path)
    return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size


def web_model(model, path: Path, static_dir: Path | None = None) -> WebModel:
    """The web export of ``model`` (loaded from the file at ``path``): converted
    and written into ``<static_dir>/models/`` unless it is there already.
    Raises ``model.serving.export.ExportError`` if the model does not
    convert, ``OSError`` if the folder can't be written (a read-only app)."""
    static_dir = Path(static_dir or STATIC_DIR)
    known = cached(path, static_dir)
    if known is not None:
        return known
    key = _key(path)
    name = source_hash(Path(path)) + ".tflite"
    target = static_dir / FOLDER / name
    with _lock:
        converting = _converting.setdefault(name, threading.Lock())
    with converting:  # one conversion per file in this process; others wait for it
        if not target.exists():
            data = to_web_tflite(model)
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
            _prune(target.parent, keep=target)
        else:
            with contextlib.suppress(OSError):
                os.utime(target)  # used now: the last to be pruned
    web = WebModel(f"{FOLDER}/{name}", web_input_shape(model), target.stat().st_size, target)
    _known[key] = web
    return web


def _prune(folder: Path, keep: Path) -> None:
    """Remove the least recently used exports beyond ``MAX_FILES`` (none used within ``KEEP_S``)."""
    now = time.time()
    files = []
    for entry in folder.glob("[!.]*.tflite"):  # not a file being written (.name.tmp.tflite)
        with contextlib.suppress(OSError):
            files.append((entry.stat().st_mtime, entry))
    files.sort(reverse=True)
    for mtime, entry in files[MAX_FILES:]:
        if entry != keep and now - mtime > KEEP_S:
            with contextlib.suppress(OSError):
                entry.unlink()
