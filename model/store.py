"""Files on disk: atomic writes, the model registry, and the "current" model.

Layout, under the work folder (``MNIST_LAB_DIR``, default the current folder)::

    mnist_model.h5        the current model (the seed's file name and format)
    mnist_model.json      its sidecar: config, metrics, history, timing, versions
    models/<key>/         every trained model, by its config's key:
        model.h5, model.keras, meta.json (written last: a run without it is incomplete)

Every file is written to a temporary name in the same folder, then renamed,
so a reader never sees half a file and a crash never corrupts a saved model.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CURRENT_MODEL = "mnist_model.h5"
CURRENT_META = "mnist_model.json"
RUNS = "models"


def workdir() -> Path:
    return Path(os.environ.get("MNIST_LAB_DIR") or ".")


def current_model_path(root: Path | None = None) -> Path:
    return (root or workdir()) / CURRENT_MODEL


def sidecar_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def run_dir(key: str, root: Path | None = None) -> Path:
    return (root or workdir()) / RUNS / key


def run_model_path(key: str, root: Path | None = None) -> Path:
    """A kept run's model in the seed's format, the file made current."""
    return run_dir(key, root) / "model.h5"


def file_version(path: Path) -> tuple[int, int]:
    """Changes whenever the file is replaced: a cache key for what was loaded from it."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@contextlib.contextmanager
def _temporary_sibling(path: Path) -> Iterator[Path]:
    """A fresh temporary path next to ``path`` (same folder, same suffix, so
    Keras picks the same format); renamed over ``path`` if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    os.unlink(tmp)  # Keras refuses to overwrite some formats without asking
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_json(path: Path, obj: Any) -> None:
    with _temporary_sibling(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def save_model(model, path: Path) -> None:
    """``model.save`` to ``path`` atomically; the format follows the suffix.
    Only Keras' own layers are written (``architectures.with_keras_layers``)."""
    from model.architectures import with_keras_layers

    with _temporary_sibling(path) as tmp:
        with_keras_layers(model).save(tmp)


def copy_file(src: Path, dst: Path) -> None:
    with _temporary_sibling(dst) as tmp:
        shutil.copyfile(src, tmp)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between threads and processes (flock on ``path``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def training_lock_path(root: Path | None = None) -> Path:
    return (root or workdir()) / RUNS / ".training.lock"


def training_busy(root: Path | None = None) -> bool:
    """True while some process holds the training lock (one training at a time)."""
    path = training_lock_path(root)
    if not path.exists():
        return False
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def save_run(model, meta: dict[str, Any], root: Path | None = None) -> Path:
    """Keep a trained model in the registry: .h5, .keras, then its meta."""
    from model.architectures import with_keras_layers

    model = with_keras_layers(model)  # once for both files (save_model would copy it for each)
    folder = run_dir(meta["key"], root)
    save_model(model, run_model_path(meta["key"], root))
    save_model(model, folder / "model.keras")
    write_json(folder / "meta.json", meta)
    return folder


def load_run_meta(key: str, root: Path | None = None) -> dict[str, Any] | None:
    """The meta of a complete run, or None if there is none."""
    path = run_dir(key, root) / "meta.json"
    try:
        return read_json(path)
    except (FileNotFoundError, ValueError):
        return None


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """Every complete run, newest first."""
    runs = []
    for meta_path in ((root or workdir()) / RUNS).glob("*/meta.json"):
        with contextlib.suppress(OSError, ValueError):
            runs.append(read_json(meta_path))
    return sorted(runs, key=lambda m: m.get("finished_at", ""), reverse=True)


def make_current(key: str, root: Path | None = None) -> Path:
    """Copy a run's model and meta to ``mnist_model.h5`` and its sidecar."""
    folder = run_dir(key, root)
    target = current_model_path(root)
    with file_lock(target.with_suffix(".lock")):
        copy_file(run_model_path(key, root), target)
        copy_file(folder / "meta.json", sidecar_path(target))
    return target


def current_meta(root: Path | None = None) -> dict[str, Any] | None:
    try:
        return read_json(sidecar_path(current_model_path(root)))
    except (FileNotFoundError, ValueError):
        return None
