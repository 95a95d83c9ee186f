"""Every model the lab has: trained runs and uploaded files, side by side.

Runs live in ``models/<key>/`` (see ``model.lab.store``). An uploaded file is
checked (safe, a digit classifier, bounded sizes), evaluated on the test set,
re-saved by us in both formats and kept as a run ``upload-<hash>``, all in a
child process under memory and time limits (``model.lab.sandbox``); the uploaded
bytes are never served or loaded again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from model.lab import sandbox, store
from model.serving.contract import InvalidModelError
from model.serving.predict import load_classifier

MODEL_SUFFIXES = (".h5", ".keras")


def import_model(data: bytes, filename: str, max_bytes: int, root: Path | None = None,
                 owner: str | None = None, memory_limit: int = sandbox.MEMORY_LIMIT,
                 time_limit: float = sandbox.TIME_LIMIT) -> dict[str, Any]:
    """Check, evaluate and keep an uploaded model; returns its run's meta
    (with ``meta["owner"]`` when ``owner`` is given). Everything that reads
    the uploaded bytes runs in a child process under ``memory_limit`` and
    ``time_limit`` (``model.lab.sandbox``); this process never loads them with Keras.
    Raises ``InvalidModelError`` with a one-line message naming ``filename``."""
    filename = Path(filename).name or "the uploaded file"
    suffix = Path(filename).suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise InvalidModelError(f"{filename}: expected a .h5 or .keras model file")
    if not data:
        raise InvalidModelError(f"{filename} is empty")
    if len(data) > max_bytes:
        raise InvalidModelError(f"{filename} is {len(data) / 2**20:.1f} MiB; the limit is "
                                f"{max_bytes / 2**20:.0f} MiB")
    digest = hashlib.sha256(data)
    if owner is not None:  # the same file from two owners: two private runs
        digest.update(b"\0owner\0" + owner.encode())
    key = "upload-" + digest.hexdigest()[:12]
    existing = store.load_run_meta(key, root)
    if existing is not None:
        return existing
    folder = store.run_dir(key, root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder.parent, prefix=".upload.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        kwargs = {"path": tmp, "filename": filename, "key": key, "max_bytes": max_bytes,
                  "root": None if root is None else str(root), "owner": owner}
        outcome = sandbox.run("model.lab.registry:keep_upload", kwargs, filename, memory_limit, time_limit)
    except InvalidModelError as exc:
        raise InvalidModelError(str(exc).replace(tmp, filename).replace(Path(tmp).name, filename)) from None
    finally:
        os.unlink(tmp)
    return outcome.value


EVALUATION_BYTES = 128 * 2**20  # activations of one evaluation batch, within the sandbox's memory


def keep_upload(path: str, filename: str, key: str, max_bytes: int, root: str | None = None,
                owner: str | None = None) -> dict[str, Any]:
    """In the sandbox: load and check the file at ``path`` (called ``filename``),
    score it on the test set in batches whose activations fit
    ``EVALUATION_BYTES``, keep it as the run ``key``; its meta."""
    from model.data.mnist import load_mnist
    from model.serving.evaluate import evaluate
    from model.serving.untrusted import check_file
    from model.training.fit import run_meta

    summary = check_file(path, filename)
    test_images, test_labels = load_mnist()[1]  # first: out of memory later is the model's doing
    model = load_classifier(path, max_bytes=max_bytes, name=filename)
    batch = max(1, min(2000, EVALUATION_BYTES // (4 * 3 * max(summary.peak_activation, 784))))
    result = evaluate(model, test_images, test_labels, batch_size=batch)
    meta = run_meta(key, f"uploaded {filename}", model, result.scores())
    if owner is not None:
        meta["owner"] = owner
    store.save_run(model, meta, None if root is None else Path(root))
    return meta

