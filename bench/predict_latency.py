"""Canvas image -> probabilities latency, as the Draw page computes it.

    python -m bench.predict_latency                       # trains both models (about 1.5 minutes on 2 cores)
    python -m bench.predict_latency --model mnist_model.h5 --cnn-model cnn.h5 --n 5000

Goal: p50 <= 5 ms for the default MLP and <= 15 ms for a small CNN, from a
280x280 RGBA drawing to the 10 probabilities, preprocessing included.

Each of ``--n`` (default 1,000) synthetic pen drawings (``model.data.strokes``: every
digit, white ink 10-28 px wide on black, RGBA, as the canvas returns them)
goes through ``canvas_to_mnist`` then ``predict_proba`` (the app's path)
and, for ``--predict-n`` of them (default 300), through ``canvas_to_mnist`` then
``model.serving.predict`` (Keras' batch API), in the same run. Models are loaded with
``load_classifier`` from the saved .h5 file, as the app loads them: the default
MLP trained with ``train()`` in a temporary folder (or ``--model``), and
``TrainConfig(architecture="cnn", epochs=1, optimizer="adam")`` (or ``--cnn-model``);
accuracy is not the point (it is trained with ``fit()`` on 6,000 images). Last,
how ``predict_batch`` grows with the batch.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench import common

GOALS_MS = {"MLP": 5.0, "CNN": 15.0}
BATCHES = (1, 8, 64, 512)


def drawings(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` synthetic pen drawings of the ten digits, as the canvas returns them."""
    from model.data.strokes import drawn_digits

    images, _ = drawn_digits(per_digit=-(-n // 10), seed=seed)
    return list(images[np.random.default_rng(seed).permutation(len(images))[:n]])


def model_file(given: str | None, config, root: Path, train_size: int | None = None) -> Path:
    """``given``, else ``config`` trained into ``root``: with ``train()`` on the
    full data, or with ``fit()`` on the first ``train_size`` images (quicker;
    saved as .h5 the way ``train()`` saves)."""
    if given:
        return Path(given)
    t = time.perf_counter()
    if train_size is None:
        result = common.train_into(root, config)
        path, note = result.path, f"test accuracy {result.metrics['test_accuracy']:.4f}"
    else:
        from model.data.mnist import load_mnist
        from model.lab import store
        from model.training.fit import fit

        (x_train, y_train), _ = load_mnist()
        model, history = fit(config, (x_train[:train_size], y_train[:train_size]))
        path = root / "model.h5"
        store.save_model(model, path)
        note = f"on {train_size:,} images, training accuracy {history['accuracy'][-1]:.4f}"
    print(f"trained {config.describe()} in {time.perf_counter() - t:.1f} s ({note})", flush=True)
    return path


def measure(name: str, model, images: list[np.ndarray], predict_n: int) -> dict:
    from model.data.preprocess import canvas_to_mnist
    from model.serving.predict import predict_batch, predict_proba

    shape = model.input_shape[1:]
    for image in images[:20]:  # warm-up: first calls build the call graph
        predict_proba(model, canvas_to_mnist(image))
        if predict_n:
            model.predict(canvas_to_mnist(image).reshape(1, *shape), verbose=0)

    total, prep, infer, digits = [], [], [], []
    for image in images:
        t0 = time.perf_counter()
        x = canvas_to_mnist(image)
        t1 = time.perf_counter()
        probs = predict_proba(model, x)
        t2 = time.perf_counter()
        total.append(t2 - t0), prep.append(t1 - t0), infer.append(t2 - t1), digits.append(int(probs.argmax()))

    result = {"p50": common.percentile(total, 50), "p95": common.percentile(total, 95)}
    keras_total, keras_digits = [], []
    for image in images[:predict_n]:
        t0 = time.perf_counter()
        probs = model.predict(canvas_to_mnist(image).reshape(1, *shape), verbose=0)[0]
        keras_total.append(time.perf_counter() - t0)
        keras_digits.append(int(probs.argmax()))
    agree = np.mean(np.array(keras_digits) == np.array(digits[:predict_n])) if predict_n else np.nan

    print(f"\n{name} ({model.count_params():,} parameters, input {shape}):")
    print("  " + common.latency_line("canvas -> probabilities, predict_proba (app)", total))
    print("  " + common.latency_line("  of which canvas_to_mnist", prep))
    print("  " + common.latency_line("  of which predict_proba", infer))
    if predict_n:
        print("  " + common.latency_line("canvas -> probabilities, model.serving.predict", keras_total))
        print(f"  model.serving.predict / predict_proba (p50): "
              f"{common.percentile(keras_total, 50) / common.percentile(total, 50):.1f}x; same digit in "
              f"{agree:.1%} of {predict_n}")
    print(f"  digits read: {np.bincount(digits, minlength=10).tolist()}")

    batch = np.stack([canvas_to_mnist(im) for im in (images * (1 + 512 // len(images)))[:max(BATCHES)]])
    rows = []
    for n in BATCHES:
        predict_batch(model, batch[:n])  # warm-up for this shape
        times, started = [], time.perf_counter()
        while len(times) < 5 or (time.perf_counter() - started < 1.0 and len(times) < 200):
            t0 = time.perf_counter()
            predict_batch(model, batch[:n])
            times.append(time.perf_counter() - t0)
        p50 = common.percentile(times, 50)
        rows.append([n, len(times), common.ms(p50), common.ms(common.percentile(times, 95)),
                     f"{p50 / n * 1000:.3f} ms", f"{n / p50:,.0f}"])
    print("  predict_batch (preprocessed images):")
    print("    " + common.table(["batch", "calls", "p50 a call", "p95 a call", "p50 an image", "images/s"],
                                rows).replace("\n", "\n    "))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="an MLP .h5/.keras to use instead of training the default one")
    parser.add_argument("--cnn-model", help="a CNN .h5/.keras to use instead of training a small one")
    parser.add_argument("--n", type=int, default=1000, help="drawings timed through predict_proba (default 1000)")
    parser.add_argument("--predict-n", type=int, default=300,
                        help="of those, drawings also timed through model.serving.predict (default 300)")
    args = parser.parse_args(argv)
    common.header("predict_latency: 280x280 RGBA drawing -> 10 probabilities",
                  f"p50 <= {GOALS_MS['MLP']:g} ms (MLP), <= {GOALS_MS['CNN']:g} ms (CNN), preprocessing included")

    from model.logs import quiet_tensorflow
    from model.serving.predict import load_classifier
    from model.training.config import TrainConfig

    quiet_tensorflow()
    images = drawings(args.n)
    results = {}
    with common.temp_dir("predict") as tmp:
        models = {"MLP": model_file(args.model, TrainConfig(), tmp / "mlp"),
                  "CNN": model_file(args.cnn_model, TrainConfig(architecture="cnn", epochs=1, optimizer="adam"),
                                    tmp / "cnn", train_size=6000)}
        print(f"timing on: {common.load_text()}", flush=True)
        for name, path in models.items():
            model = load_classifier(path)
            results[name] = measure(f"{name} from {path.name}", model, images, min(args.predict_n, args.n))
    print()
    common.footer()
    ok = all(results[n]["p50"] * 1000 <= GOALS_MS[n] for n in results)
    common.verdict(ok, "; ".join(f"{n} p50 {results[n]['p50'] * 1000:.2f} ms (goal <= {GOALS_MS[n]:g}), "
                                 f"p95 {results[n]['p95'] * 1000:.2f} ms" for n in results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
