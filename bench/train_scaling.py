"""How the default MLP's training time grows with epochs and batch size.

    python -m bench.train_scaling                           # 3 x 3 grid (about 1.5 minutes on 2 cores)
    python -m bench.train_scaling --epochs 1,2,3,5 --batches 32,64,128,256,512 --repeats 3

Goal: the classic recipe (batch 32, 3 epochs) fits in <= 10 s, as the README
says ("about ten seconds on two CPU cores"). The rest is information: how the
time splits into a fixed cost and a cost per epoch, for each batch size.

``model.training.fit.fit`` (build, compile with the app's settings, fit; no saving)
on the full 60,000 training images, for every (epochs, batch size) pair, after
an untimed warm-up; with ``--repeats`` > 1 the median. Each model's test
accuracy is shown too (untimed). Per batch size, a least-squares line
seconds = fixed + per_epoch x epochs splits the fixed cost (building,
tracing, XLA compiling) from the per-epoch cost. ``--compare-jit`` runs the
grid again with ``jit_compile=False`` (patched in for that run only).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench import common

GOAL_DEFAULT_S = 10.0


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=ints, default=[1, 2, 3], help="epoch counts (default 1,2,3)")
    parser.add_argument("--batches", type=ints, default=[32, 128, 512], help="batch sizes (default 32,128,512)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each pair, median (default 1)")
    parser.add_argument("--compare-jit", action="store_true",
                        help="also run the grid with jit_compile=False, to show what XLA costs and saves")
    args = parser.parse_args(argv)
    common.header("train_scaling: default MLP training time vs epochs and batch size (model.training.fit.fit)",
                  f"batch 32, 3 epochs in <= {GOAL_DEFAULT_S:g} s")

    from model.data.mnist import load_mnist
    from model.logs import quiet_tensorflow
    from model.training.config import TrainConfig
    from model.training.fit import fit

    quiet_tensorflow()
    train_data, test_data = load_mnist()
    fit(TrainConfig(epochs=1), (train_data[0][:640], train_data[1][:640]))  # warm-up: TF and XLA start-up

    seconds, accuracy = run_grid(args, train_data, test_data)
    if args.compare_jit:
        from unittest import mock

        import model.training.architectures

        print("\nthe same grid with jit_compile=False (steps_per_execution unchanged; NOT the app's setting):")
        with mock.patch.object(model.training.architectures, "compile_model", compile_without_xla):
            plain, _ = run_grid(args, train_data, test_data)
        print("\nratio app (XLA) / without XLA:")
        print(common.table(["batch"] + [f"{e} ep" for e in args.epochs],
                           [[b] + [f"{seconds[b, e] / plain[b, e]:.2f}" for e in args.epochs]
                            for b in args.batches]))
    common.footer()
    default = seconds.get((32, 3))
    if default is None:
        common.verdict(True, "batch 32 x 3 epochs is not in the grid: nothing to check")
    else:
        common.verdict(default <= GOAL_DEFAULT_S, f"batch 32, 3 epochs: {default:.2f} s (goal <= {GOAL_DEFAULT_S:g})")
    return 0


def compile_without_xla(model, config, steps_per_epoch: int) -> None:
    """model.training.architectures.compile_model with jit_compile=False (for --compare-jit)."""
    from model.training.architectures import STEPS_PER_EXECUTION, build_optimizer

    model.compile(optimizer=build_optimizer(config, steps_per_epoch), loss="categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EXECUTION, jit_compile=False)


def run_grid(args, train_data, test_data):
    """Time ``fit`` for every (batch, epochs) pair; print the table."""
    from model.training.config import TrainConfig
    from model.training.fit import fit, test_metrics

    seconds: dict[tuple[int, int], float] = {}
    accuracy: dict[tuple[int, int], float] = {}
    for batch in args.batches:
        for epochs in args.epochs:
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                model, _ = fit(TrainConfig(epochs=epochs, batch_size=batch), train_data)
                times.append(time.perf_counter() - t0)
            seconds[batch, epochs] = common.median(times)
            accuracy[batch, epochs] = test_metrics(model, test_data)["test_accuracy"]
            print(f"  batch {batch:4d}  epochs {epochs}  {seconds[batch, epochs]:6.2f} s  "
                  f"test accuracy {accuracy[batch, epochs]:.4f}  [{common.load_short()}]", flush=True)

    print("\nseconds (test accuracy) by batch size and epochs:")
    rows = []
    for batch in args.batches:
        row = [batch] + [f"{seconds[batch, e]:.2f} ({accuracy[batch, e]:.3f})" for e in args.epochs]
        if len(args.epochs) > 1:
            per_epoch, fixed = np.polyfit(args.epochs, [seconds[batch, e] for e in args.epochs], 1)
            steps = -(-len(train_data[0]) // batch)
            row += [f"{fixed:.2f}", f"{per_epoch:.2f}", f"{per_epoch / steps * 1e6:.0f}"]
        rows.append(row)
    extra = ["fixed s", "s / epoch", "us / step"] if len(args.epochs) > 1 else []
    print(common.table(["batch"] + [f"{e} epoch{'s' if e > 1 else ''}" for e in args.epochs] + extra, rows))
    return seconds, accuracy


if __name__ == "__main__":
    raise SystemExit(main())
