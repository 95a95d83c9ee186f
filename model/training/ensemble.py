"""Ensembles: kept models combined into one that averages their probabilities.

    python -m model.ensemble RUN RUN [RUN ...]           # keep the ensemble as a run, make it current
    python -m model.ensemble RUN RUN --out ensemble.h5   # also save it there
    python -m model.ensemble RUN RUN --no-current        # keep it without making it current

From Python::

    from model.ensemble import combine, ensemble_runs
    model = combine([model_a, model_b])        # one plain Keras model
    meta = ensemble_runs(["<key>", "<key>"])   # kept as run ensemble-<hash>, scored on the test set

The ensemble is ONE ordinary Keras functional model: a single input (28, 28, 1),
each member's own layers copied into the graph (renamed ``m<i>_<name>``, with
their weights) after a ``Reshape`` to that member's input shape, and a
``keras.layers.Average`` of the members' probabilities. No custom layer, no
``Lambda``, no nested model: it loads with ``model.predict.load_classifier``,
exports to ``.keras``, ``.h5`` and TFLite (``model.export.export_model``), and
every page sees its layers (the first member's first layer, the last member's
penultimate layer and last convolution).
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model import store
from model.cli import FAILED, Parser, fail, start_tensorflow
from model.predict import InvalidModelError

INPUT_SHAPE = (28, 28, 1)
PREFIX = "ensemble-"


class EnsembleError(ValueError):
    """The runs can't be combined (too few, missing, unusable); the message says why."""


def ensemble_key(keys: Sequence[str], owner: str | None = None) -> str:
    """The run key of the ensemble of ``keys`` (any order; one private run per owner)."""
    text = ",".join(sorted(set(keys)))
    if owner is not None:
        text += "\0owner\0" + owner
    return PREFIX + store.short_hash(text)


def combine(models: Sequence[Any]):
    """One Keras model whose output is the average of ``models``' outputs
    (each a digit classifier: input (784,), (28, 28) or (28, 28, 1), 10
    probabilities). The members are not changed: their layers are copied,
    weights included. Raises ``EnsembleError`` for fewer than 2 models."""
    import keras

    from model.architectures import with_keras_layers
    from model.predict import check_classifier

    models = list(models)
    if len(models) < 2:
        raise EnsembleError(f"an ensemble needs at least 2 models, got {len(models)}")
    image = keras.Input(shape=INPUT_SHAPE, name="image")
    outputs = []
    for i, member in enumerate(models):
        try:
            check_classifier(member)
        except InvalidModelError as exc:
            raise EnsembleError(f"model {i + 1} can't be a member: {exc}") from None
        member = with_keras_layers(member)
        shape = tuple(member.input_shape[1:])
        x = image if shape == INPUT_SHAPE else keras.layers.Reshape(shape, name=f"m{i}_reshape")(image)
        outputs.append(_copy_graph(member, x, prefix=f"m{i}_"))
    probabilities = keras.layers.Average(name="average")(outputs)
    return keras.Model(image, probabilities, name=f"ensemble_of_{len(models)}")


def _copy_graph(model, x, prefix: str):
    """``model``'s graph applied to the symbolic tensor ``x`` with copies of
    its layers (named ``prefix + name``, same weights); the output tensor."""
    copies: dict[int, Any] = {}

    def copy_of(layer):
        def call(*args, **kwargs):
            new = copies.get(id(layer))
            if new is None:
                config = layer.get_config()
                config["name"] = prefix + layer.name
                new = copies[id(layer)] = type(layer).from_config(config)
                out = new(*args, **kwargs)  # builds it
                new.set_weights(layer.get_weights())
                return out
            return new(*args, **kwargs)  # a layer the member calls twice stays shared
        return call

    if hasattr(model, "_run_through_graph"):  # Functional (Keras 3's own traversal of the graph)
        return model._run_through_graph(x, operation_fn=copy_of)
    for layer in model.layers:  # Sequential: a chain (its layers exclude the InputLayer)
        x = copy_of(layer)(x)
    return x


def load_member(key: str, root: Path | None = None):
    """Kept run ``key``'s model, checked (``load_classifier``). Raises EnsembleError."""
    from model.predict import load_classifier

    if store.load_run_meta(key, root) is None:
        raise EnsembleError(f"no kept run {key}")
    folder = store.run_dir(key, root)
    path = folder / "model.keras"
    if not path.is_file():
        path = store.run_model_path(key, root)
    try:
        return load_classifier(path, name=f"run {key}", own=True)
    except InvalidModelError as exc:
        raise EnsembleError(str(exc)) from None


def ensemble_runs(keys: Sequence[str], root: Path | None = None, make_current: bool = True,
                  owner: str | None = None, test_data=None) -> dict[str, Any]:
    """Combine kept runs ``keys`` (at least 2 different ones), score the
    ensemble on MNIST's test set (``test_data``: another (images, labels)),
    and keep it as the run ``ensemble-<hash of the sorted keys>``; made the
    current model when ``make_current``. ``owner`` (the public demo's
    session) makes it a private run. Combining the same runs again returns
    the kept run. Returns its meta; raises ``EnsembleError``."""
    from model.evaluate import test_metrics
    from model.train import versions

    keys = list(dict.fromkeys(keys))  # in the given order, each once
    if len(keys) < 2:
        raise EnsembleError(f"an ensemble needs at least 2 different kept runs, got {len(keys)}")
    metas = {}
    for key in keys:
        meta = store.load_run_meta(key, root)
        if meta is None:
            raise EnsembleError(f"no kept run {key}")
        metas[key] = meta
    key = ensemble_key(keys, owner)
    folder = store.run_dir(key, root)
    with store.file_lock(folder.with_suffix(".lock")):
        meta = store.load_run_meta(key, root)
        if meta is None:
            model = combine([load_member(k, root) for k in keys])
            described = " + ".join(metas[k].get("description", k) for k in keys)
            meta = {
                "key": key,
                "description": f"ensemble of {len(keys)}: {described}",
                "config": None,
                "metrics": test_metrics(model, test_data),
                "history": {},
                "parameters": int(model.count_params()),
                "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "members": keys,
                "versions": versions(),
            }
            if owner is not None:
                meta["owner"] = owner
            store.save_run(model, meta, root)
    if make_current:
        store.make_current(key, root)
    return meta


# --- command line -----------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="python -m model.ensemble", description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="keys of kept runs (folders under models/)")
    parser.add_argument("--out", type=Path, default=None, help="also save the ensemble here (.h5 or .keras)")
    parser.add_argument("--no-current", action="store_true", help="keep it without making it the current model")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log messages")
    args = parser.parse_args(argv)
    keys = list(dict.fromkeys(args.runs))
    if len(keys) < 2:
        return fail(f"an ensemble needs at least 2 different kept runs, got {len(keys)}")
    missing = [k for k in keys if store.load_run_meta(k) is None]
    if missing:
        return fail(f"no kept run {missing[0]} (kept runs are the folders under {store.run_dir('', None)})")
    if args.out is not None and args.out.suffix.lower() not in (".h5", ".keras"):
        return fail(f"--out must end in .h5 or .keras, got {args.out.name}")
    try:
        start_tensorflow(verbose=args.verbose)
        meta = ensemble_runs(keys, make_current=not args.no_current)
        path = store.run_model_path(meta["key"])
        if args.out is not None:
            import keras

            model = keras.models.load_model(store.run_dir(meta["key"]) / "model.keras", compile=False)
            store.save_model(model, args.out)
            store.write_json(store.sidecar_path(args.out), meta)
            path = args.out
    except EnsembleError as exc:
        return fail(exc, FAILED)
    except Exception as exc:  # one line, never a traceback
        return fail(f"the ensemble failed: {exc}", FAILED)
    m = meta["metrics"]
    print(f"{meta['description']}")
    print(f"test loss {m['test_loss']:.4f}  test accuracy {m['test_accuracy']:.4f}")
    print(f"kept as run {meta['key']}; saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
