"""Every model the lab has: trained runs and uploaded files, side by side.

Runs live in ``models/<key>/`` (see ``model.store``). An uploaded file is
checked (safe, a digit classifier), evaluated on the test set, re-saved by us
in both formats and kept as a run ``upload-<hash>``; the uploaded bytes are
never served or loaded again.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from model import store
from model.evaluate import test_metrics
from model.predict import InvalidModelError, load_classifier

MODEL_SUFFIXES = (".h5", ".keras")


def import_model(data: bytes, filename: str, max_bytes: int, root: Path | None = None) -> dict[str, Any]:
    """Check, evaluate and keep an uploaded model; returns its run's meta.
    Raises ``InvalidModelError`` with a message for the user."""
    suffix = Path(filename).suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise InvalidModelError(f"{filename}: expected a .h5 or .keras model file")
    if len(data) > max_bytes:
        raise InvalidModelError(f"{filename} is {len(data) / 2**20:.1f} MiB; the limit is "
                                f"{max_bytes / 2**20:.0f} MiB")
    key = "upload-" + hashlib.sha256(data).hexdigest()[:12]
    existing = store.load_run_meta(key, root)
    if existing is not None:
        return existing
    folder = store.run_dir(key, root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder.parent, prefix=".upload.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        model = load_classifier(tmp, max_bytes=max_bytes)
    finally:
        os.unlink(tmp)
    meta = {
        "key": key,
        "description": f"uploaded {Path(filename).name}",
        "config": None,
        "metrics": test_metrics(model),
        "history": {},
        "parameters": int(model.count_params()),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    store.save_run(model, meta, root)
    return meta


def label(meta: dict[str, Any]) -> str:
    """One line naming a run: what it is and how good."""
    accuracy = meta.get("metrics", {}).get("test_accuracy")
    score = f"{accuracy:.2%}" if isinstance(accuracy, (int, float)) else "unscored"
    return f"{meta.get('description', meta.get('key', '?'))} · {score} · {meta.get('key', '')}"


def disagreements(probs_a: np.ndarray, probs_b: np.ndarray) -> np.ndarray:
    """Indices where two models predict different digits."""
    return np.flatnonzero(probs_a.argmax(axis=1) != probs_b.argmax(axis=1))
