"""The app's training path against a bare Keras script of the same model.

    python -m bench.train_overhead              # 3 repeats (about 2.5 minutes on 2 cores)
    python -m bench.train_overhead --repeats 5

Goal: the app's path costs at most 5% more than a bare script doing the same job
(ratio of medians <= 1.05).

The app's path is ``model.lab.runs.train(TrainConfig())`` with a ``ProgressCallback``
whose report function does the UI's work (progress text, chart rows, a Vega-Lite
spec serialized), in a fresh temporary work folder each time (so nothing is
reused), including evaluation on the test set, saving .h5/.keras/meta and
making the run current. It is timed against two bare scripts of the same model
and settings (MLP 784-128-128-10, SGD 0.01, batch 32, 3 epochs):

  (a) plain defaults: ``model.compile("sgd", "categorical_crossentropy",
      metrics=["accuracy"]); model.fit(x, y, batch_size=32, epochs=3, verbose=0)``
  (b) the app's compile settings: ``steps_per_execution=20, jit_compile=True``.

Every timing covers the whole job: load MNIST (from the local cache), prepare
the arrays, build, compile, fit and score the test set; the app also saves.
The three run in the same process, order rotated each repeat, after a short
untimed warm-up; medians are reported, with each run's test accuracy to show
they are the same model. Comparison (b) isolates the app's own overhead and is
the one the verdict is on; (a) shows what the app's compile settings buy.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from bench import common

GOAL = 1.05


def ui_like_report(counter: dict):
    """A report function doing what the Train page's does per report: format
    the progress text and rebuild both charts' data and specs."""

    def chart(x, series, x_title, title):
        rows = [{x_title: xi, "metric": name, "value": v}
                for name, values in series.items() for xi, v in zip(x, values)]
        return json.dumps({"title": title, "height": 260, "data": {"values": rows},
                           "mark": {"type": "line", "point": len(x) < 30},
                           "encoding": {"x": {"field": x_title, "type": "quantitative"},
                                        "y": {"field": "value", "type": "quantitative"},
                                        "color": {"field": "metric", "type": "nominal"}}})

    def report(p) -> None:
        t = time.perf_counter()
        text = (f"Epoch {min(p.epoch + 1, p.epochs)}/{p.epochs} · step {p.step:,}/"
                f"{p.total_steps:,} · {p.elapsed:.1f} s · {p.fraction:.0%}")
        size = len(text)
        if p.batch_steps:
            size += len(chart(p.batch_steps, {"loss": p.batch_loss, "accuracy": p.batch_accuracy},
                              "step", "Training batches (live)"))
        if p.epoch_logs:
            epochs = list(range(1, len(p.epoch_logs) + 1))
            size += len(chart(epochs, {k: [e[k] for e in p.epoch_logs] for k in p.epoch_logs[0]},
                              "epoch", "Per epoch"))
        counter["calls"] += 1
        counter["bytes"] += size
        counter["seconds"] += time.perf_counter() - t

    return report


def run_app() -> dict:
    from model.lab.runs import train
    from model.training.callbacks import ProgressCallback
    from model.training.config import TrainConfig

    counter = {"calls": 0, "bytes": 0, "seconds": 0.0}
    with common.temp_dir("train-app") as root:
        os.environ["MNIST_LAB_DIR"] = str(root)
        try:
            t0 = time.perf_counter()
            result = train(TrainConfig(), callbacks=[ProgressCallback(ui_like_report(counter))], root=root)
            total = time.perf_counter() - t0
        finally:
            os.environ.pop("MNIST_LAB_DIR", None)
        assert not result.cached and result.path.exists() and (root / "models" / result.meta["key"] /
                                                                 "model.keras").exists()
    return {"total": total, "fit": result.meta["train_seconds"], "rest": total - result.meta["train_seconds"],
            "accuracy": result.metrics["test_accuracy"], "reports": counter["calls"],
            "report_seconds": counter["seconds"]}


def run_bare(same_compile: bool) -> dict:
    """A bare script: load, prepare, build, compile, fit, score. Nothing saved."""
    import keras

    from model.data.mnist import load_mnist

    t0 = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = load_mnist()
    x = x_train.reshape(-1, 784).astype("float32") / 255
    y = keras.utils.to_categorical(y_train, 10)
    t_fit = time.perf_counter()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    extra = {"steps_per_execution": 20, "jit_compile": True} if same_compile else {}
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"], **extra)
    model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    t_eval = time.perf_counter()
    _, accuracy = model.evaluate(x_test.reshape(-1, 784).astype("float32") / 255,
                                 keras.utils.to_categorical(y_test, 10), batch_size=1000, verbose=0)
    t_end = time.perf_counter()
    return {"total": t_end - t0, "fit": t_eval - t_fit, "rest": (t_fit - t0) + (t_end - t_eval),
            "accuracy": float(accuracy)}


def warm_up() -> None:
    """Pay TensorFlow's and XLA's one-time start-up before any timed run."""
    import keras

    x = np.zeros((640, 784), np.float32)
    y = keras.utils.to_categorical(np.arange(640) % 10, 10)
    for extra in ({}, {"steps_per_execution": 20, "jit_compile": True}):
        m = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
        m.compile("sgd", "categorical_crossentropy", metrics=["accuracy"], **extra)
        m.fit(x, y, batch_size=32, epochs=1, verbose=0)
        m.evaluate(x, y, batch_size=320, verbose=0)


VARIANTS = {
    "app": ("app: train() + ProgressCallback + save + make current", run_app),
    "bare_a": ("bare (a): plain compile defaults", lambda: run_bare(False)),
    "bare_b": ("bare (b): steps_per_execution=20, jit_compile=True", lambda: run_bare(True)),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant (default 3)")
    args = parser.parse_args(argv)

    common.header("train_overhead: the app's training path vs a bare model.fit script",
                  f"app / bare (same compile settings) <= {GOAL} (medians of {args.repeats})")
    from model.logs import quiet_tensorflow

    quiet_tensorflow()
    warm_up()
    names = list(VARIANTS)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for i in range(args.repeats):
        order = names[i % 3:] + names[:i % 3]  # rotate, so no variant always goes first
        for name in order:
            r = VARIANTS[name][1]()
            runs[name].append(r)
            print(f"  repeat {i + 1} {name:7s} total {r['total']:6.2f} s  fit {r['fit']:6.2f} s  "
                  f"accuracy {r['accuracy']:.4f}  [{common.load_short()}]", flush=True)

    med = {n: {k: common.median([r[k] for r in runs[n]]) for k in ("total", "fit", "rest", "accuracy")}
           for n in names}
    print()
    print(common.table(
        ["variant", "total s (median)", "fit s", "load+eval(+save) s", "test accuracy", "runs (total s)"],
        [[VARIANTS[n][0], f"{med[n]['total']:.2f}", f"{med[n]['fit']:.2f}", f"{med[n]['rest']:.2f}",
          f"{med[n]['accuracy']:.4f}", " ".join(f"{r['total']:.2f}" for r in runs[n])] for n in names]))
    app = runs["app"]
    print(f"app's progress reports: {common.median([r['reports'] for r in app]):.0f} a run, "
          f"{common.median([r['report_seconds'] for r in app]) * 1000:.0f} ms in the report function")
    ratio_a = med["app"]["total"] / med["bare_a"]["total"]
    ratio_b = med["app"]["total"] / med["bare_b"]["total"]
    print(f"ratio app / bare (a) plain defaults:       {ratio_a:.3f}   (fit only: "
          f"{med['app']['fit'] / med['bare_a']['fit']:.3f})")
    print(f"ratio app / bare (b) same compile settings: {ratio_b:.3f}   (fit only: "
          f"{med['app']['fit'] / med['bare_b']['fit']:.3f})")
    common.footer()
    common.verdict(ratio_b <= GOAL,
                   f"app / bare with the same compile settings = {ratio_b:.3f} (goal <= {GOAL}); "
                   f"app / plain-defaults bare = {ratio_a:.3f}; accuracies "
                   + ", ".join(f"{n} {med[n]['accuracy']:.4f}" for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
