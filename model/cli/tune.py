"""The command line of the hyperparameter search (the search itself is
``model.training.tune``): flags to a ``SearchSpace``, progress as trials finish, the
results table with the best trial marked, and the command that trains it.

    python -m model tune --trials 5 --epochs 2                  # MLPs and CNNs
    python -m model tune --trials 8 --epochs 1 --architectures mlp --subset 10000
    python -m model tune --trials 10 --optimizers adam --learning-rate 3e-4,3e-3 --batch-sizes 64,128

Bad input is one line ``error: ...`` on stderr (``model.cli``), exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.cli import (
    FAILED,
    Parser,
    fail,
    float_range,
    positive_int,
    sizes_argument,
    start_tensorflow,
    words,
)
from model.cli.train import train_command
from model.cli.trials import results_frame
from model.lab.tuning import search
from model.training.config import PRESETS, TRAIN_SIZE, ConfigError, TrainConfig
from model.training.tune import (
    MIN_IMAGES,
    OBJECTIVE,
    SearchSpace,
    check_space,
    config_from_values,
    decode_layers,
    encode_layers,
)


def layer_choices(text: str) -> tuple[tuple[int, ...], ...]:
    """An argparse ``type``: choices of layer sizes, "128,256,128-64"."""
    try:
        return tuple(decode_layers(w) for w in words(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected layer sizes like 128,256,128-64 (commas between choices, dashes between layers), "
            f"got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    d = SearchSpace()
    p = Parser(prog="python -m model tune",
               description="Search hyperparameters with KerasTuner on MNIST's training set (never the test "
                           "set); print every trial and the best config, ready for python -m model train.")
    p.add_argument("--trials", type=positive_int, default=5, help="how many trials (default 5)")
    p.add_argument("--epochs", type=positive_int, default=2, help="epochs a trial (default 2)")
    p.add_argument("--architectures", type=words, default=d.architectures, metavar="A,B",
                   help=f"default {','.join(d.architectures)}")
    p.add_argument("--hidden-units", type=layer_choices, default=d.hidden_units, metavar="128,128-64",
                   help=f"choices of hidden layers, default {','.join(map(encode_layers, d.hidden_units))}")
    p.add_argument("--conv-filters", type=layer_choices, default=d.conv_filters, metavar="32-64,16-32",
                   help=f"choices of conv blocks (CNN), default {','.join(map(encode_layers, d.conv_filters))}")
    p.add_argument("--optimizers", type=words, default=d.optimizers, metavar="A,B",
                   help=f"default {','.join(d.optimizers)}")
    p.add_argument("--learning-rate", type=float_range, default=d.learning_rate, metavar="MIN,MAX",
                   help=f"range, sampled on a log scale (default {d.learning_rate[0]:g},{d.learning_rate[1]:g})")
    p.add_argument("--dropout", type=float_range, default=d.dropout, metavar="MIN,MAX",
                   help=f"range (default {d.dropout[0]:g},{d.dropout[1]:g})")
    p.add_argument("--batch-sizes", type=sizes_argument, default=d.batch_sizes, metavar="N,N",
                   help=f"default {','.join(map(str, d.batch_sizes))}")
    p.add_argument("--subset", type=positive_int, default=None, metavar="N",
                   help="search on the first N training images only (faster)")
    p.add_argument("--validation-split", type=float, default=0.1,
                   help="part of the training images that scores the trials (default 0.1)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="classic",
                   help="the config whose other settings every trial keeps (default classic)")
    p.add_argument("--seed", type=int, default=0, help="seed of the trial choices (default 0)")
    p.add_argument("--dir", type=Path, default=None,
                   help="keep the trials here (default models/.tuning/<hash of the search>)")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of reusing finished trials")
    p.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log messages")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        space = SearchSpace(architectures=args.architectures, hidden_units=args.hidden_units,
                            conv_filters=args.conv_filters, optimizers=args.optimizers,
                            learning_rate=args.learning_rate, dropout=args.dropout,
                            batch_sizes=args.batch_sizes)
        base = dataclasses.replace(PRESETS[args.preset], epochs=args.epochs)  # TrainConfig checks the epochs
        check_space(space, base)
        if not 0 < args.validation_split < 0.5:
            raise ConfigError(f"validation split must be in (0, 0.5), got {args.validation_split}")
        if args.subset is not None and not MIN_IMAGES <= args.subset <= TRAIN_SIZE:
            raise ConfigError(f"subset must be {MIN_IMAGES} to {TRAIN_SIZE} images, got {args.subset}")
    except ConfigError as exc:
        return fail(exc)

    try:
        start_tensorflow(verbose=args.verbose)
        from model.data.mnist import load_mnist

        data = load_mnist()[0]
        if args.subset is not None:
            data = (data[0][:args.subset], data[1][:args.subset])
        print(f"searching {args.trials} trials of {args.epochs} epochs on {len(data[0])} images "
              f"({args.validation_split:.0%} held out to score them)", flush=True)
        result = search(space, args.trials, args.epochs, base=base, data=data, directory=args.dir,
                        seed=args.seed, validation_split=args.validation_split, overwrite=args.overwrite,
                        progress=lambda row: print(trial_line(row, base), flush=True))
    except ConfigError as exc:
        return fail(exc)
    except Exception as exc:  # one line, never a traceback
        return fail(f"the search failed: {exc}", FAILED)
    print()
    print(format_table(result.table, best=result.best_trial))
    print()
    print(f"best: trial {result.best_trial}, val_accuracy {result.best_val_accuracy:.4f}: "
          f"{result.best_config.describe()}")
    print(json.dumps(result.best_config.to_dict(), sort_keys=True))
    print(f"train it on all the data: {train_command(result.best_config)}")
    print(f"trials kept in {result.directory}")
    return 0


def format_table(table: Sequence[dict[str, Any]], best: str | None = None) -> str:
    """The trials (``model.cli.trials.results_frame``) as aligned text, the best one marked with ``*``."""
    if not table:
        return "(no trials)"
    formats = {"learning_rate": "{:.2e}".format, OBJECTIVE: "{:.4f}".format, "seconds": "{:.1f}".format,
               "momentum": "{:.3g}".format, "dropout": "{:.3g}".format}
    frame = results_frame(table, best)
    return frame.to_string(index=False, na_rep="-", formatters={c: f for c, f in formats.items() if c in frame})


def trial_line(row: dict[str, Any], base: TrainConfig) -> str:
    """One finished trial, as the search reports it."""
    if row["status"] != "COMPLETED":
        return f"trial {row['trial']}: {row['status'].lower()}"
    return (f"trial {row['trial']}: {config_from_values(row, base).describe()}, dropout {row['dropout'] or 0:.2f}"
            f"  {OBJECTIVE} {row[OBJECTIVE]:.4f}  ({row['seconds']:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
