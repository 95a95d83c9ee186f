"""The starter model, shipped with the repository: a fresh lab serves it at once.

    python -m model.lab.starter            # what is shipped, and whether it is still the recipe's
    python -m model.lab.starter --rebuild  # train it again (fast-cnn, float32, seed 0; ~30 s on 2 cores)

Why: a fresh public demo (Community Cloud wakes a sleeping app on its first
visit) used to train its starter (fast-cnn) before its first visitor could draw:
41 s on 2 cores without bfloat16, 17 s of them starting a process, importing
TensorFlow, loading MNIST, scoring and saving, whatever the network. Shipping
the run that this lab's own recipe trains (``model/lab/starter_run/``: the
model as .h5 and .keras without optimizer state, 0.4 MB, and its sidecar with
its config, metrics, history and versions) lets the first visitor draw as soon
as the page loads, and the demo's stronger model (``jobs.ensure_upgrade``)
start training at once instead of after the starter.

``seed(root)`` copies it into the work folder's registry as an ordinary kept
run, ``models/<key>/`` (files only, no TensorFlow: milliseconds), named by its
config's key like any run, so Evaluate, Inside the model and the rest treat it
as one the lab trained; its sidecar says ``"shipped": true``, so that the Train
page's estimates never take its training time (another machine's) for this
machine's pace (``model.training.estimate``). The test suite checks that the shipped files are the
fast-cnn preset's recipe (in float32) and read MNIST's test set as their sidecar
says; after a change of that recipe, ``--rebuild`` and commit the files.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from model.files import fsync, read_json
from model.lab import store
from model.training.config import PRESETS, TrainConfig

PRESET = "fast-cnn"
SHIPPED = Path(__file__).resolve().parent / "starter_run"
FILES = ("model.h5", "model.keras", "meta.json")  # meta.json last: a run is complete once it is there


def recipe() -> TrainConfig:
    """The shipped starter's recipe: the preset's, in float32 (it serves on any CPU)."""
    return dataclasses.replace(PRESETS[PRESET], precision="float32")


def shipped_meta() -> dict[str, Any] | None:
    """The shipped run's sidecar, or None when the checkout has none (or a broken one)."""
    meta = _sidecar(SHIPPED)
    return dict(meta) if meta is not None else None


@functools.lru_cache(maxsize=4)
def _sidecar(folder: Path) -> dict[str, Any] | None:
    """Read once a process: the demo asks on every page run until its upgrade is decided
    (``--rebuild`` writes the files from a process of its own)."""
    try:
        meta = read_json(folder / "meta.json")
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not all((folder / name).is_file() for name in FILES):
        return None
    return meta


def shipped_key() -> str | None:
    meta = shipped_meta()
    return meta.get("key") if meta else None


def seed(root: Path | None = None) -> str | None:
    """Keep the shipped run in ``root``'s registry (if it is not there yet)
    and return its key; None when there is none to ship. Whole or not at
    all: copied into a temporary folder, renamed once complete."""
    key = shipped_key()
    if key is None:
        return None
    if store.load_run_meta(key, root) is not None:
        return key
    final = store.run_dir(key, root)
    tmp = store.temp_run_dir(key, root)
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copyfile(SHIPPED / name, tmp / name)
            fsync(tmp / name)
        store.publish_run(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return key


def rebuild(out: Path = SHIPPED) -> dict[str, Any]:
    """Train ``recipe()`` with the lab's own training (``model.lab.runs``) and
    write its model (without optimizer state) and sidecar into ``out``."""
    import keras

    from model.lab.runs import train

    with tempfile.TemporaryDirectory(prefix="starter-") as work:
        result = train(recipe(), root=Path(work), make_current=False)
        model = keras.models.load_model(result.path.parent / "model.keras", compile=False)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("model.h5", "model.keras"):
            store.save_model(model, out / name)
        meta = {**result.meta, "shipped": True}  # its timings are another machine's: estimates leave it out
        store.write_json(out / "meta.json", meta)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="train it again and write model/lab/starter_run/")
    args = parser.parse_args(argv)
    meta = rebuild() if args.rebuild else shipped_meta()
    if meta is None:
        print(f"no shipped starter in {SHIPPED}: run python -m model.lab.starter --rebuild", file=sys.stderr)
        return 1
    same = meta.get("key") == recipe().key()
    print(f"{meta['description']}: {meta['metrics']['test_accuracy']:.2%} on MNIST's test set, trained in "
          f"{meta.get('train_seconds', 0):.0f} s with Keras {meta['versions']['keras']}, key {meta['key']}"
          + ("" if same else f" (the {PRESET} recipe changed since: rebuild it)"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
