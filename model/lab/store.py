"""Files on disk: atomic writes, the model registry, and the "current" model.

Layout, under the work folder (``MNIST_LAB_DIR``, default the current folder)::

    .current -> models/<key>                   which kept run is the current model
    mnist_model.h5 -> .current/model.h5        the current model (the seed's file name and format)
    mnist_model.json -> .current/meta.json     its sidecar: config, metrics, history, timing, versions
    models/<key>/         every trained model, by its config's key:
        model.h5, model.keras, meta.json (written last: a run without it is incomplete)
    models/.tmp-<key>-<pid>/  a run being written (by process pid), renamed to
                          models/<key> only when complete; ``remove_leftovers``
                          removes those whose process is gone
    models/lab.db         the lab's database (``model.lab.db``): background jobs

Every file is written to a temporary name in the same folder, flushed to disk,
then renamed, so a reader never sees half a file and a crash never corrupts a
saved model. The current model and its sidecar switch together: one symlink
(``.current``) is replaced atomically, and ``current_run`` reads both through
it once resolved. (A plain ``mnist_model.h5`` file put there by hand is still
read, with its sidecar if there is one.)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from model import settings
from model.files import DiskFull, atomic_path, disk_full, fsync, read_json, write_json
from model.lab.limits import demo_mode

CURRENT_MODEL = "mnist_model.h5"
CURRENT_META = "mnist_model.json"
RUNS = "models"
CURRENT_LINK = ".current"
USED = ".used"  # touched when a session opens a run: the disk quota evicts the least recently used
TEMP_PREFIX = ".tmp-"  # models/.tmp-<key>-<pid>: a run being written


def workdir() -> Path:
    return Path(settings.text("MNIST_LAB_DIR") or ".")


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


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def save_model(model, path: Path) -> None:
    """``model.save`` to ``path`` atomically; the format follows the suffix."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def copy_file(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between threads and processes (``filelock``; the OS
    drops it when its process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path, thread_local=False, is_singleton=False):
        yield


def training_lock_path(root: Path | None = None) -> Path:
    return (root or workdir()) / RUNS / ".training.lock"


def training_busy(root: Path | None = None) -> bool:
    """True while some process holds the training lock (one training at a time)."""
    return _locked(training_lock_path(root))


def temp_run_dir(key: str, root: Path | None = None) -> Path:
    """Where this process writes run ``key`` until it is complete."""
    return (root or workdir()) / RUNS / f"{TEMP_PREFIX}{key}-{os.getpid()}"


def save_run(model, meta: dict[str, Any], root: Path | None = None, folder: Path | None = None) -> Path:
    """Keep a trained model in the registry, whole or not at all: .h5, .keras,
    then its meta, into a temporary folder (``folder``: the one its training
    logs are in already) that is renamed to ``models/<key>`` once complete. On
    any failure the temporary folder goes; a full disk raises ``DiskFull``."""
    final = run_dir(meta["key"], root)
    tmp = folder or temp_run_dir(meta["key"], root)
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        save_model(model, tmp / "model.h5")
        save_model(model, tmp / "model.keras")
        write_json(tmp / "meta.json", meta)
        publish_run(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, DiskFull) and disk_full(exc, final.parent):
            raise DiskFull(final.parent.resolve(), run_bytes(model)) from exc
        raise
    return final


def publish_run(tmp: Path, final: Path) -> Path:
    """Rename the complete run folder ``tmp`` to ``final`` (``models/<key>``),
    unless another process kept the same run meanwhile (then ``tmp`` goes)."""
    if (final / "meta.json").exists():  # kept meanwhile by another process: the same run by its key
        shutil.rmtree(tmp, ignore_errors=True)
        return final
    if final.exists():  # an incomplete folder an older crash left
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync(final.parent)
    return final


def run_bytes(model) -> int:
    """About the room a kept run of ``model`` takes: its weights in two files,
    with an optimizer's state, and a little for the rest."""
    try:
        params = int(model.count_params())
    except (AttributeError, ValueError):  # not built: the generic estimate
        return 100 * 2**20
    return params * 4 * 6 + 2**20


def remove_leftovers(root: Path | None = None) -> list[str]:
    """Remove what a crash or a kill left under ``models/``: temporary run
    folders whose process is gone, and run folders without their meta that
    no training holds (an older version wrote those in place). Returns their names."""
    runs = (root or workdir()) / RUNS
    link = (root or workdir()) / CURRENT_LINK
    current_keys = {Path(os.readlink(link)).name} if link.is_symlink() else set()
    removed = []
    for folder in sorted(runs.iterdir()) if runs.is_dir() else []:
        if not folder.is_dir():
            continue
        if folder.name.startswith(TEMP_PREFIX):
            pid = folder.name.rsplit("-", 1)[-1]
            if pid.isdigit() and _pid_alive(int(pid)):
                continue
        elif (folder.name.startswith(".") or (folder / "meta.json").exists() or _locked(folder.with_suffix(".lock"))
              or folder.name in current_keys):  # the current model, even with its sidecar lost, stays
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _locked(path: Path) -> bool:
    """True while some process holds the file lock at ``path``."""
    if not path.exists():
        return False
    try:
        with FileLock(path, timeout=0, thread_local=False, is_singleton=False):
            return False
    except Timeout:
        return True


def load_run_meta(key: str, root: Path | None = None) -> dict[str, Any] | None:
    """The meta of a complete run, or None if there is none."""
    path = run_dir(key, root) / "meta.json"
    try:
        return read_json(path)
    except (FileNotFoundError, ValueError):
        return None


def list_runs(root: Path | None = None, session: str | None = None) -> list[dict[str, Any]]:
    """Every complete run, newest first. With ``session``, runs that another
    session owns (its private uploads in the public demo) are left out."""
    runs = []
    for meta_path in ((root or workdir()) / RUNS).glob("*/meta.json"):
        if meta_path.parent.name.startswith("."):  # a run being written
            continue
        with contextlib.suppress(OSError, ValueError):
            runs.append(read_json(meta_path))
    if session is not None:
        runs = [m for m in runs if m.get("owner") in (None, session)]
    return sorted(runs, key=lambda m: m.get("finished_at", ""), reverse=True)


def make_current(key: str, root: Path | None = None) -> Path:
    """Make kept run ``key`` the current model: one atomic switch of the
    ``.current`` link, so its model and sidecar change together."""
    root = root or workdir()
    if load_run_meta(key, root) is None:
        raise FileNotFoundError(f"no complete run {key}")
    _replace_link(root / CURRENT_LINK, os.path.join(RUNS, key))
    for name, target in ((CURRENT_MODEL, "model.h5"), (CURRENT_META, "meta.json")):
        link, points_to = root / name, os.path.join(CURRENT_LINK, target)
        if not (link.is_symlink() and os.readlink(link) == points_to):
            _replace_link(link, points_to)
    return current_model_path(root)


def _replace_link(link: Path, target: str) -> None:
    tmp = link.with_name(f"{link.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)
    fsync(link.parent)


@dataclass(frozen=True)
class Current:
    path: Path  # the model file
    meta: dict[str, Any] | None  # its sidecar; None if missing or damaged
    key: str | None  # the kept run it is, if it is one


def current_run(root: Path | None = None) -> Current | None:
    """The current model and its sidecar, read as one (None: no model yet)."""
    root = root or workdir()
    link = root / CURRENT_LINK
    if link.is_symlink():
        folder = (root / os.readlink(link)).resolve()  # resolved once: both files from one run
        if (folder / "model.h5").is_file():
            return Current(folder / "model.h5", load_run_meta(folder.name, root), folder.name)
    path = current_model_path(root)
    if path.is_file() and not path.is_symlink():  # put there by hand
        try:
            meta = read_json(sidecar_path(path))
        except (OSError, ValueError):
            meta = None
        return Current(path, meta, None)
    return None


def current_meta(root: Path | None = None) -> dict[str, Any] | None:
    current = current_run(root)
    return current.meta if current else None


def pinned_model() -> Current | None:
    """The owner's model file that the public demo shows every visitor
    (``MNIST_LAB_DEMO_MODEL``), in demo mode; None otherwise."""
    value = settings.text("MNIST_LAB_DEMO_MODEL")
    if not (value and demo_mode()):
        return None
    path = Path(value)
    try:
        meta = read_json(sidecar_path(path))
    except (OSError, ValueError):
        meta = {"description": f"the demo model ({path.name})"}
    return Current(path, meta, None)


def default_model(root: Path | None = None) -> Current | None:
    """What a session sees unless it chose another model: the pinned demo
    model, else the current one."""
    return pinned_model() or current_run(root)


def pinned_keys(root: Path | None = None) -> set[str]:
    current = current_run(root)
    return {current.key} if current and current.key else set()


def touch_run(key: str, root: Path | None = None) -> None:
    """Note that a session uses run ``key`` (for the disk quota's eviction order)."""
    with contextlib.suppress(OSError):
        (run_dir(key, root) / USED).touch()


def discard_incomplete_run(key: str, root: Path | None = None) -> None:
    """Remove a run folder that a stopped training left without its meta."""
    folder = run_dir(key, root)
    if folder.is_dir() and not (folder / "meta.json").exists():
        shutil.rmtree(folder, ignore_errors=True)


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def _last_used(folder: Path) -> float:
    times = [p.stat().st_mtime for p in (folder / USED, folder / "meta.json", folder) if p.exists()]
    return max(times)


def enforce_quota(max_bytes: int, protected: set[str], root: Path | None = None) -> list[str]:
    """Evict the least recently used runs until all runs fit in ``max_bytes``;
    never a run in ``protected`` (the demo model, a running job's). Returns
    the evicted keys."""
    runs = [f for f in ((root or workdir()) / RUNS).iterdir() if f.is_dir() and not f.name.startswith(".")] \
        if ((root or workdir()) / RUNS).is_dir() else []
    sizes = {f: _folder_bytes(f) for f in runs}
    total = sum(sizes.values())
    evicted = []
    for folder in sorted(runs, key=_last_used):
        if total <= max_bytes:
            break
        if folder.name in protected:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        total -= sizes[folder]
        evicted.append(folder.name)
    return evicted


# --- kept models as a visitor manages them (model.lab.models) -------------------------


def kept_run_bytes(key: str, root: Path | None = None) -> int:
    """The disk space kept run ``key`` takes (its model files, logs and meta)."""
    folder = run_dir(key, root)
    return _folder_bytes(folder) if folder.is_dir() else 0


def delete_run(key: str, root: Path | None = None) -> None:
    """Remove kept run ``key`` for good (its folder; the caller checks it is
    neither current nor in use). Its meta goes first, so a reader that races
    the removal sees an incomplete run, never half a model."""
    folder = run_dir(key, root)
    with contextlib.suppress(FileNotFoundError):
        (folder / "meta.json").unlink()
    shutil.rmtree(folder, ignore_errors=True)
