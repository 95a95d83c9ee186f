"""Train a digit classifier, evaluate it on the test set, and keep it.

    python -m model train                        # the classic MLP, 3 epochs
    python -m model train --optimizer adam --epochs 5 --hidden-units 256,128
    python -m model train --architecture cnn --augment 0.5 --out cnn.h5
    python -m model train --preset strong-cnn --epochs 15
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.cli import FAILED, Parser, fail, sizes_argument, start_tensorflow
from model.lab import champion, store
from model.lab.runs import train
from model.training.config import DRAWINGS_WEIGHT, PRESETS, ConfigError, TrainConfig

OPTIONS = ("out", "current", "quiet", "verbose")  # the flags that are not TrainConfig fields


def _parse_optional_float(text: str) -> float | None:
    if text.strip().lower() in ("", "default", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'default', got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``TrainConfig`` field, named after it, defaulting to it."""
    parser = Parser(prog="python -m model train", description=__doc__.split("\n")[0])
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, tuple):
            parser.add_argument(flag, type=sizes_argument, default=default, metavar="N,N",
                                help=f"default {','.join(map(str, default))}")
        elif default is None:
            parser.add_argument(flag, type=_parse_optional_float, default=None,
                                help="default: the optimizer's Keras default")
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f"default {default}")
    parser.add_argument("--drawings", action="store_true",
                        help="add the saved drawings (their training part) to MNIST's training set, each "
                             f"repeated --drawings-weight times (default then {DRAWINGS_WEIGHT})")
    parser.add_argument("--out", type=Path, default=None,
                        help="also save the model here (default: only mnist_model.h5 in the work folder)")
    parser.add_argument("--current", action="store_true",
                        help="make it the current mnist_model.h5 even if it scores worse than the current one")
    parser.add_argument("--quiet", action="store_true", help="print only the final metrics")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log messages")
    return parser


def train_command(config: TrainConfig) -> str:
    """The ``python -m model train`` command line that trains ``config`` (only
    the flags that differ from the defaults): ``build_parser`` the other way round."""
    parts = ["python", "-m", "model", "train"]
    default = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        value, flag = getattr(config, f.name), "--" + f.name.replace("_", "-")
        if value == getattr(default, f.name):
            continue
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            parts += [flag, ",".join(map(str, value))]
        elif isinstance(value, float):
            parts += [flag, f"{value:.6g}"]
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


def _print_progress(p) -> None:
    if p.event == "epoch":
        logs = p.epoch_logs[-1]
        extra = "".join(f"  {k} {v:.4f}" for k, v in logs.items() if k.startswith("val_"))
        print(f"epoch {p.epoch}/{p.epochs}  loss {logs['loss']:.4f}  accuracy {logs['accuracy']:.4f}"
              f"{extra}  ({p.elapsed:.1f} s)", flush=True)


def parse_args(argv: Sequence[str] | None) -> dict[str, Any]:
    """Flags over a preset's values (``--preset``) over the defaults: every
    ``TrainConfig`` field, and the ``OPTIONS``."""
    parser = build_parser()
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="start from a preset; other flags override its values")
    args = parser.parse_args(argv)
    if args.preset:
        parser.set_defaults(**PRESETS[args.preset].to_dict())
        args = parser.parse_args(argv)
    args = vars(args)
    args.pop("preset")
    if args.pop("drawings") and not args["drawings_weight"]:  # --drawings alone: the default weight
        args["drawings_weight"] = DRAWINGS_WEIGHT
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out, force, quiet, verbose = (args.pop(flag) for flag in OPTIONS)
    try:
        config = TrainConfig(**args)
    except ConfigError as exc:
        return fail(exc)
    print(f"training {config.describe()}", flush=True)
    try:
        start_tensorflow(verbose=verbose)
        from model.training.callbacks import ProgressCallback

        result = train(config, callbacks=[] if quiet else [ProgressCallback(_print_progress, 5.0)], out=out,
                       make_current=False)
        outcome = champion.settle(result.meta["key"], force=force)
    except ConfigError as exc:  # e.g. no saved drawings to train with
        return fail(exc)
    except Exception as exc:  # one line, never a traceback; a full disk says so whole
        from model.files import DiskFull, disk_full, disk_full_message

        if isinstance(exc, DiskFull) or disk_full(exc):
            folder = (Path(out).parent if out else store.workdir() / store.RUNS).resolve()
            return fail(str(exc) if isinstance(exc, DiskFull) else disk_full_message(folder, 100 * 2**20), FAILED)
        return fail(f"training failed: {exc}", FAILED)
    m = result.metrics
    note = " (same settings as an earlier run: reused it)" if result.cached else ""
    print(f"test loss {m['test_loss']:.4f}  test accuracy {m['test_accuracy']:.4f}{note}")
    if "drawings" in result.meta:
        print(f"trained with {result.meta['drawings']['count']} saved drawings, each {config.drawings_weight} times")
    if outcome.made_current:
        print(f"saved {store.current_model_path()}")
    else:
        before = champion.accuracy(outcome.previous)
        print(f"kept as run {result.meta['key']}; the current model scores better "
              f"({before:.4f}: {outcome.previous.get('description', '?')}) and stays (--current replaces it anyway)")
    if out is not None:
        print(f"saved {result.path}")
    return 0

