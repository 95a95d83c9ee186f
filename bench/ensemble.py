"""An ensemble from scratch: train its members, combine them into one plain
Keras model (``model.training.ensemble.combine``), and score it on MNIST's test set
and on the reading sets no training sees (pen drawings, held-out drawing
styles, font digits; see ``bench.presets``).

    python -m bench.ensemble                                   # strong-cnn, seeds 0-3 (about 24 min)
    python -m bench.ensemble --member strong-cnn:0 --member strong-cnn:1 --member fast-cnn:7
    python -m bench.ensemble --member strong-cnn:0:20 --member strong-cnn:1:20 \
        --member strong-cnn:2:20 --member strong-cnn:3:20     # four longer members

A member is PRESET, PRESET:SEED (the preset with another seed) or
PRESET:SEED:EPOCHS (and another number of epochs). Reported:
each member's test accuracy and training seconds (from the start of its
training loop, as ``bench.presets`` counts), their total, and the combined
model's test accuracy and reading-set accuracies.

Goal (issue 14, goal 3; 2 CPU cores): the ensemble >= 99.75% test accuracy
with <= 1800 s of training for all its members together.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from bench.common import footer, header, table, verdict  # noqa: E402
from bench.presets import (  # noqa: E402
    TrainClock,
    accuracy_of,
    add_smoke_options,
    check_presets,
    describe_sets,
    mnist_data,
    preset_config,
    reading_scores,
    reading_sets,
    scores_text,
    smoke_note,
)
from model.serving.predict import check_classifier  # noqa: E402
from model.training.ensemble import combine  # noqa: E402
from model.training.fit import fit  # noqa: E402

ENSEMBLE_ACCURACY, ENSEMBLE_SECONDS = 0.9975, 1800.0  # goal 3
DEFAULT_MEMBERS = ["strong-cnn:0", "strong-cnn:1", "strong-cnn:2", "strong-cnn:3"]


Member = tuple[str, int | None, int | None]  # preset, seed, epochs (None: the preset's)


def parse_member(text: str) -> Member:
    """"PRESET", "PRESET:SEED" or "PRESET:SEED:EPOCHS" -> (preset, seed, epochs)."""
    name, *numbers = text.split(":")
    try:
        if len(numbers) > 2:
            raise ValueError
        seed, epochs = (int(n) if n else None for n in [*numbers, "", ""][:2])
    except ValueError:
        raise argparse.ArgumentTypeError(f"a member is PRESET, PRESET:SEED or PRESET:SEED:EPOCHS, "
                                         f"got {text!r}") from None
    return name, seed, epochs


def member_name(member: Member) -> str:
    return ":".join(str(part) for part in member if part is not None)


def check_plain_keras(model) -> None:
    """Raise unless ``model`` is one Keras model made of Keras' own layers
    (no Lambda, no custom or nested model) that classifies digits."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"the ensemble is a {type(model).__name__}, not a Keras model")
    foreign = [layer.name for layer in model.layers
               if not type(layer).__module__.startswith("keras.") or isinstance(layer, (keras.layers.Lambda,
                                                                                        keras.Model))]
    if foreign:
        raise TypeError(f"the ensemble has layers that aren't Keras' own: {', '.join(foreign)}")
    check_classifier(model)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--member", action="append", type=parse_member, metavar="PRESET[:SEED]",
                        help=f"a member, repeated (default {' '.join(DEFAULT_MEMBERS)})")
    parser.add_argument("--drawn", type=int, default=50, help="drawings a digit in each drawn set (default 50)")
    parser.add_argument("--fonts", type=int, default=5, help="renderings a digit in each font (default 5)")
    add_smoke_options(parser)
    args = parser.parse_args(argv)
    members = args.member or [parse_member(m) for m in DEFAULT_MEMBERS]
    if len(members) < 2:
        parser.error("an ensemble needs at least 2 members")
    check_presets(parser, [name for name, _, _ in members])
    note = smoke_note(args)
    header(f"ensemble of {len(members)}: {' + '.join(member_name(m) for m in members)}",
           f"(3) >= {ENSEMBLE_ACCURACY:.2%} test accuracy with <= {ENSEMBLE_SECONDS:g} s of training in all")
    train, test = mnist_data(args)
    sets = reading_sets(args.drawn, args.fonts)
    print(describe_sets(sets), flush=True)

    models, rows, seconds = [], [], []
    for i, (name, seed, epochs) in enumerate(members):
        config = preset_config(name, args, seed)
        if epochs is not None and args.epochs is None:
            config = dataclasses.replace(config, epochs=epochs)
        print(f"member {i + 1}: {name} seed {config.seed}: {config.describe()}", flush=True)
        clock = TrainClock()
        model, _ = fit(config, train, [clock])
        accuracy = accuracy_of(model, *test)
        print(f"  test accuracy {accuracy:.4f}, {clock.total:.1f} s of training", flush=True)
        models.append(model)
        seconds.append(clock.total)
        rows.append([f"{i + 1}: {name}:{config.seed}:{config.epochs}", f"{accuracy:.4f}", f"{clock.total:.1f}"])
    total = sum(seconds)

    ensemble = combine(models)
    check_plain_keras(ensemble)
    accuracy = accuracy_of(ensemble, *test)
    scores = reading_scores(ensemble, sets)
    rows.append(["ensemble", f"{accuracy:.4f}", f"{total:.1f}"])
    print(table(["member", "test acc", "train s"], rows))
    print(f"RESULT ensemble of {len(models)} ({ensemble.count_params():,} parameters, one plain Keras model): "
          f"test accuracy {accuracy:.4f}, {total:.1f} s of training in all; {scores_text(scores)}", flush=True)
    verdict(accuracy >= ENSEMBLE_ACCURACY and total <= ENSEMBLE_SECONDS,
            f"{note}goal 3, ensemble of {len(models)} >= {ENSEMBLE_ACCURACY:.2%} with <= {ENSEMBLE_SECONDS:g} s "
            f"of training: {accuracy:.2%} in {total:.0f} s")
    footer()


if __name__ == "__main__":
    main()
