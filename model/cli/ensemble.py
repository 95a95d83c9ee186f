"""Kept runs averaged into one plain Keras model, kept as a run itself.

    python -m model ensemble KEY KEY [KEY ...] --out ens.keras
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from model.cli import FAILED, Parser, fail, start_tensorflow
from model.lab import champion, store
from model.lab.ensembles import EnsembleError, ensemble_runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="python -m model ensemble", description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="keys of kept runs (folders under models/)")
    parser.add_argument("--out", type=Path, default=None, help="also save the ensemble here (.h5 or .keras)")
    parser.add_argument("--no-current", action="store_true", help="keep it without making it the current model")
    parser.add_argument("--current", action="store_true",
                        help="make it the current model even if it scores worse than the current one")
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
        meta = ensemble_runs(keys, make_current=False)
        outcome = None if args.no_current else champion.settle(meta["key"], force=args.current)
        made_current = outcome is not None and outcome.made_current
        path = store.current_model_path() if made_current else store.run_model_path(meta["key"])
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
    if outcome is not None and outcome.worse:
        print(f"the current model scores better ({champion.accuracy(outcome.previous):.4f}: "
              f"{outcome.previous.get('description', '?')}) and stays (--current replaces it anyway)")
    return 0

