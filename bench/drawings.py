"""Training with saved drawings: does a few hundred drawings of a handwriting
style the model never saw teach it that style, without costing MNIST? And
which drawings weight (times each drawing is repeated) should be the default?

    python -m bench.drawings                      # 40 drawings a digit saved, weights 0,1,3,10,30
    python -m bench.drawings --per-digit 30 --weights 0,10

The style: ``model.data.strokes``' digit templates drawn with a thin pen (6-9 px
on the 280 px canvas, against 10-28 by default), leaning hard to the left
(slant 0.45-0.7 the other way, against +-0.35) and narrow (aspect 0.6-0.8).
Those drawings are saved through ``model.lab.drawings`` into a fresh work
folder's database (their held-out fifth is never trained on), then the
``fast-cnn`` preset is trained through ``model.lab.runs.train`` with each
weight, exactly as the Train page and ``python -m model train --drawings``
do. Scored: 500 other drawings of the style (another seed, never saved),
the saved held-out part, and MNIST's 10,000 test images.

Goal: the default weight lifts the style from its "before" accuracy by at
least 5 points and costs MNIST at most 0.3 points.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from bench.common import footer, header, table, temp_dir, verdict  # noqa: E402
from model.data.strokes import CANVAS, digit_strokes, render  # noqa: E402
from model.training.config import DRAWINGS_WEIGHT, PRESETS  # noqa: E402

TEST_PER_DIGIT = 50


def as_mnist(canvases) -> np.ndarray:
    """The Draw path's 28x28 of each canvas, as uint8 images (MNIST's type)."""
    from model.data.preprocess import canvas_to_mnist

    return np.stack([np.rint(canvas_to_mnist(c) * 255).astype(np.uint8) for c in canvases])


def style_digits(per_digit: int, seed: int, glyphs: dict | None = None,
                 warp: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Canvas images (RGBA) of the held-out style, and their digits; ``glyphs``
    (digit -> strokes in a unit box, as ``model.data.strokes.TEMPLATES``)
    replaces some digits' shapes; ``warp``: each drawing's shape bent by a
    smooth random displacement of about this size (in the digit's height),
    as one writer's digits differ from the next."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for digit in range(10):
        for _ in range(per_digit):
            slant, aspect = -rng.uniform(0.45, 0.7), rng.uniform(0.6, 0.8)
            if warp:  # per axis, two waves: frequencies, phases, amplitudes
                waves = rng.normal(0, 1, (2, 2, 2)) * 2 * math.pi, rng.uniform(0, 2 * math.pi, (2, 2)), \
                    rng.normal(0, warp, (2, 2))
            scale, angle = rng.uniform(0.6, 0.95), math.radians(rng.uniform(-8, 8))
            cos, sin = math.cos(angle), math.sin(angle)
            strokes = []
            shape = ([[(x * CANVAS, y * CANVAS) for x, y in stroke] for stroke in glyphs[digit]]
                     if glyphs and digit in glyphs else digit_strokes(digit))  # upright, centred, canvas pixels
            for stroke in shape:
                points = []
                for x, y in stroke:
                    x, y = (x / CANVAS - 0.5) * aspect, y / CANVAS - 0.5
                    x, y = x + rng.normal(0, 0.01), y + rng.normal(0, 0.01)
                    if warp:
                        (f, phase, amp), (u, v) = waves, (x, y)
                        x += sum(amp[0, k] * math.sin(f[0, k, 0] * u + f[0, k, 1] * v + phase[0, k]) for k in range(2))
                        y += sum(amp[1, k] * math.sin(f[1, k, 0] * u + f[1, k, 1] * v + phase[1, k]) for k in range(2))
                    x = x - slant * y
                    x, y = cos * x - sin * y, sin * x + cos * y
                    points.append(((0.5 + scale * x) * CANVAS, (0.5 + scale * y) * CANVAS))
                strokes.append(points)
            images.append(render(strokes, rng.uniform(6, 9)))
            labels.append(digit)
    return np.stack(images), np.array(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-digit", type=int, default=40, help="drawings of each digit saved (default 40)")
    parser.add_argument("--weights", default="0,1,3,10,30", help="drawings weights to train with (0: without)")
    args = parser.parse_args()
    weights = [int(w) for w in args.weights.split(",")]
    header("training with saved drawings of an unseen style (fast-cnn)",
           "the default weight: style +5 points or more, MNIST -0.3 points at most")

    from model.data.mnist import load_mnist
    from model.data.preprocess import canvas_to_mnist
    from model.lab import drawings
    from model.lab.runs import train
    from model.logs import quiet_tensorflow
    from model.serving.evaluate import evaluate

    quiet_tensorflow()
    load_mnist()
    canvases, labels = style_digits(args.per_digit, seed=1)
    test_canvases, test_labels = style_digits(TEST_PER_DIGIT, seed=2)
    test_x = as_mnist(test_canvases)
    rows, results = [], {}
    with temp_dir("drawings") as root:
        os.environ["MNIST_LAB_DIR"] = str(root)
        os.environ.pop("MNIST_LAB_DATABASE_URL", None)
        added, _ = drawings.save_many([drawings.make_row(canvas_to_mnist(c), int(y), canvas=c, source="import")
                                       for c, y in zip(canvases, labels)], root)
        c = drawings.counts(root)
        held = drawings.collection("held_out", root)
        print(f"saved {added} drawings: {c.n - c.held_out.sum()} to train with, {c.held_out.sum()} held out; "
              f"{len(test_x)} more of the style to score", flush=True)
        for weight in weights:
            config = PRESETS["fast-cnn"] if weight == 0 else \
                dataclasses.replace(PRESETS["fast-cnn"], drawings_weight=weight)
            started = time.perf_counter()
            result = train(config, root=root, make_current=False)
            seconds = time.perf_counter() - started
            style = evaluate(result.model, test_x, test_labels).accuracy
            held_acc = evaluate(result.model, held.x, held.y).accuracy
            mnist = result.metrics["test_accuracy"]
            results[weight] = (style, held_acc, mnist)
            rows.append([weight or "0 (MNIST only)", f"{style:.2%}", f"{held_acc:.2%}", f"{mnist:.2%}",
                         f"{seconds:.0f} s"])
            print(f"weight {weight}: style {style:.4f}  held-out saved {held_acc:.4f}  MNIST {mnist:.4f}  "
                  f"({seconds:.0f} s)", flush=True)
    print()
    print(table(["weight", f"style ({len(test_x)} new)", f"held out ({len(held)})", "MNIST test", "wall"], rows))
    footer()
    if 0 in results and DRAWINGS_WEIGHT in results:
        (s0, _, m0), (s1, _, m1) = results[0], results[DRAWINGS_WEIGHT]
        verdict(s1 - s0 >= 0.05 and m0 - m1 <= 0.003,
                f"default weight {DRAWINGS_WEIGHT}: style {s0:.2%} -> {s1:.2%}, MNIST {m0:.2%} -> {m1:.2%}")


if __name__ == "__main__":
    main()
