"""Reading handwriting through the Draw page: MNIST's own test digits drawn
onto the canvas and read as the Draw page reads a drawing
(``model.data.preprocess.canvas_to_mnist``), against the same digits read
directly; then the same digits with the pen varied, the lab's synthetic
drawings, and two independent checks.

    python -m bench.reading                         # trains classic, fast-cnn, strong-cnn (preset epochs)
    python -m bench.reading --model classic --model fast-cnn --model strong-cnn:4   # strong-cnn 4 epochs
    python -m bench.reading --model classic=/tmp/rd/classic.h5 --model fast-cnn=/tmp/rd/fast.h5 \\
        --model strong-cnn=/tmp/rd/strong.h5        # saved models (python -m model train --out ...)
    python -m bench.reading --n 500 --pen-n 250     # quicker

The sets, each a 280x280 RGBA canvas as the Draw page returns it (light ink
on opaque black), the digit anywhere on it, fully inside:
  (a) "mnist": MNIST's first ``--n`` test digits, each 28x28 image scaled
      smoothly (bilinear or bicubic, at random) to 120-260 px (the digit's
      20-px box: 86-186 px); "direct" is the same digits read as 28x28 images.
  (b) the first ``--pen-n`` of them with the pen varied at the canvas's scale
      (in MNIST pixels, one being 4.3-9.3 canvas px): "thinner" (grey erosion
      by a disc of radius 0.3-0.6), "thicker" (dilation, 0.5-1.0), "blurred"
      (Gaussian, sigma 0.5-1.0), "turned" (up to 15 degrees either way).
  (c) the lab's synthetic pen drawings: "drawn" (``model.data.strokes.drawn_digits``)
      and its held-out styles "thin pen", "thick pen", "steep slant".
  checks, reported and never tuned on: "sklearn" (scikit-learn's
  ``load_digits``: 1,797 digits of 8x8 pixels in 17 levels, from other writers,
  scaled to 90-190 px) and "fonts" (``model.data.fonts.font_digits``).

Every set is read with each of ``canvas_to_mnist``'s variants (stroke-width
and slant normalisation on or off; "Draw page" marks its defaults). Also
printed: how far set (a) comes out from the original 28x28 images (mean
absolute difference, centre of mass; MNIST centres it at (14.0, 14.0)).

Goal: read the Draw page's way, set (a) within 0.2 point of the same digits
read directly for a CNN, within 1 point for the classic MLP.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import itertools
import math
import os
import time
from collections.abc import Callable, Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402

from bench.common import footer, header, table, verdict  # noqa: E402

CANVAS = 280
MNIST_SIDES = (120, 260)  # the 28x28 image's side on the canvas, px
SKLEARN_SIDES = (90, 190)  # the 8x8 image's side: its digit as large as MNIST's 20-px box
TOLERANCE = {"cnn": 0.002, "mlp": 0.01}  # the goal: set (a) vs direct
SEED = 2026
Pen = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def _disc(radius: float) -> np.ndarray:
    r = math.floor(radius)
    ys, xs = np.mgrid[-r:r + 1, -r:r + 1]
    return ys ** 2 + xs ** 2 <= radius ** 2


# A pen variation of a digit scaled onto the canvas: (image 0..255 float, canvas px a source pixel, rng).
PENS: dict[str, Pen] = {
    "thinner": lambda a, k, rng: ndimage.grey_erosion(a, footprint=_disc(rng.uniform(0.3, 0.6) * k)),
    "thicker": lambda a, k, rng: ndimage.grey_dilation(a, footprint=_disc(rng.uniform(0.5, 1.0) * k)),
    "blurred": lambda a, k, rng: ndimage.gaussian_filter(a, rng.uniform(0.5, 1.0) * k),
    "turned": lambda a, k, rng: np.asarray(Image.fromarray(a).rotate(
        rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR, expand=True)),
}


def on_canvas(image: np.ndarray, sides: tuple[int, int], rng: np.random.Generator, pen: Pen | None = None) -> np.ndarray:
    """A gray image (light ink on black, 0..255) scaled smoothly so its
    height is a random side in ``sides``, its pen varied by ``pen``, placed
    anywhere on a black RGBA canvas, fully inside."""
    h, w = image.shape
    side = int(rng.integers(sides[0], sides[1] + 1))
    resample = Image.Resampling.BILINEAR if rng.random() < 0.5 else Image.Resampling.BICUBIC
    padded = np.pad(np.asarray(image, np.float32), 1)  # the ink fades out at the image's own edges
    k = side / h
    big = Image.fromarray(padded).resize((round((w + 2) * k), round((h + 2) * k)), resample)
    a = np.clip(np.asarray(big, np.float32), 0, 255)
    if pen is not None:
        a = np.clip(pen(a, k, rng), 0, 255)
    ink = a >= 0.5
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    a = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    top, left = (int(rng.integers(0, CANVAS - n + 1)) for n in a.shape)
    gray = np.zeros((CANVAS, CANVAS), np.uint8)
    gray[top:top + a.shape[0], left:left + a.shape[1]] = np.rint(a).astype(np.uint8)
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])


@dataclasses.dataclass
class ReadingSet:
    name: str
    group: str  # "a", "b", "c" or "check"
    labels: np.ndarray
    canvases: Callable[[], Iterator[np.ndarray]]  # made one at a time: 2,000 canvases are 630 MB


def mnist_test(n: int) -> tuple[np.ndarray, np.ndarray]:
    from model.data.mnist import load_mnist

    _, (x, y) = load_mnist()
    return x[:n], y[:n].astype(np.int64)


def reading_sets(n: int, pen_n: int, drawn: int, fonts: int, seed: int = SEED) -> list[ReadingSet]:
    from sklearn.datasets import load_digits

    from model.data.fonts import font_digits
    from model.data.strokes import drawn_digits, held_out_drawn

    x, y = mnist_test(n)

    def mnist(count: int, pen: str | None, stream: int) -> Callable[[], Iterator[np.ndarray]]:
        def make() -> Iterator[np.ndarray]:
            rng = np.random.default_rng((seed, stream))
            return (on_canvas(d, MNIST_SIDES, rng, PENS.get(pen)) for d in x[:count])
        return make

    def given(images: np.ndarray) -> Callable[[], Iterator[np.ndarray]]:
        return lambda: iter(images)

    digits = load_digits()
    sk = digits.images * (255 / 16)

    def sklearn() -> Iterator[np.ndarray]:
        rng = np.random.default_rng((seed, 99))
        return (on_canvas(d, SKLEARN_SIDES, rng) for d in sk)

    sets = [ReadingSet("mnist", "a", y, mnist(n, None, 0))]
    sets += [ReadingSet(pen, "b", y[:pen_n], mnist(pen_n, pen, i + 1)) for i, pen in enumerate(PENS)]
    synthetic = {"drawn": drawn_digits(per_digit=drawn, seed=seed), **held_out_drawn(per_digit=drawn, seed=seed)}
    sets += [ReadingSet(name, "c", labels, given(images)) for name, (images, labels) in synthetic.items()]
    font_images, font_labels = font_digits(per_font_digit=fonts, seed=seed)
    sets += [ReadingSet("sklearn", "check", digits.target.astype(np.int64), sklearn),
             ReadingSet("fonts", "check", font_labels, given(font_images))]
    return sets


# --- the readings ----------------------------------------------------------------------


def variants() -> dict[str, dict[str, bool]]:
    """``canvas_to_mnist``'s keyword variants by name, its defaults marked "(Draw page)"."""
    from model.data.preprocess import canvas_to_mnist

    defaults = {k: p.default for k, p in inspect.signature(canvas_to_mnist).parameters.items()
                if k in ("normalize_width", "normalize_slant")}
    out = {}
    for width, slant in itertools.product((True, False), repeat=2):
        kw = {"normalize_width": width, "normalize_slant": slant}
        name = {(True, True): "width+slant", (True, False): "width only", (False, True): "slant only",
                (False, False): "neither"}[width, slant]
        out[name + (" (Draw page)" if kw == defaults else "")] = kw
    return out


def read_all(sets: list[ReadingSet], kinds: dict[str, dict[str, bool]]) -> tuple[dict, dict]:
    """{variant: {set: model inputs (N, 28, 28)}}, and seconds per set."""
    from model.data.preprocess import canvas_to_mnist

    out: dict[str, dict[str, np.ndarray]] = {v: {} for v in kinds}
    seconds = {}
    for s in sets:
        started = time.perf_counter()
        images: dict[str, list[np.ndarray]] = {v: [] for v in kinds}
        for canvas in s.canvases():
            for v, kw in kinds.items():
                images[v].append(canvas_to_mnist(canvas, **kw))
        for v in kinds:
            out[v][s.name] = np.stack(images[v])
        seconds[s.name] = time.perf_counter() - started
        print(f"  read {s.name} ({s.group}): {len(s.labels)} canvases x {len(kinds)} variants in "
              f"{seconds[s.name]:.0f} s", flush=True)
    return out, seconds


def faithfulness(read: np.ndarray, original: np.ndarray) -> str:
    """How far digits read from the canvas are from their 28x28 originals."""
    ys, xs = np.indices(read.shape[1:])
    mass = read.sum(axis=(1, 2))
    cy, cx = (read * ys).sum(axis=(1, 2)) / mass, (read * xs).sum(axis=(1, 2)) / mass
    return (f"mean |difference| {np.abs(read - original).mean():.4f}, centre of mass ({cy.mean():.2f}, "
            f"{cx.mean():.2f}), ink {np.median(mass / original.sum(axis=(1, 2))):.3f}x the original's")


# --- the models -------------------------------------------------------------------------


def get_model(spec: str):
    """``NAME=PATH`` (a saved classifier) or ``PRESET[:EPOCHS]`` (trained here)."""
    if "=" in spec:
        from model.serving.predict import load_classifier

        name, path = spec.split("=", 1)
        return name, load_classifier(path, own=True), f"loaded from {path}"
    from model.data.mnist import load_mnist
    from model.logs import quiet_tensorflow
    from model.training.config import PRESETS
    from model.training.fit import fit

    quiet_tensorflow()
    name, _, epochs = spec.partition(":")
    config = PRESETS[name] if not epochs else dataclasses.replace(PRESETS[name], epochs=int(epochs))
    started = time.perf_counter()
    model, _ = fit(config, load_mnist()[0])
    return name, model, f"trained here: {config.describe()} ({time.perf_counter() - started:.0f} s)"


def kind(model) -> str:
    return "cnn" if any("conv" in layer.__class__.__name__.lower() for layer in model.layers) else "mlp"


def accuracy(model, x: np.ndarray, y: np.ndarray, batch: int = 1000) -> float:
    from model.serving.predict import predict_batch

    probs = np.concatenate([predict_batch(model, x[i:i + batch]) for i in range(0, len(x), batch)])
    return float((probs.argmax(axis=1) == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", metavar="SPEC",
                        help="NAME=PATH (a saved model) or PRESET[:EPOCHS] (trained here); repeatable "
                             "(default: classic, fast-cnn, strong-cnn)")
    parser.add_argument("--n", type=int, default=2000, help="MNIST test digits in set (a) (default 2000)")
    parser.add_argument("--pen-n", type=int, default=1000, help="of them, in each set (b) (default 1000)")
    parser.add_argument("--drawn", type=int, default=50, help="drawings a digit in each set (c) (default 50)")
    parser.add_argument("--fonts", type=int, default=5, help="renderings a digit in each font (default 5)")
    args = parser.parse_args()
    header("reading MNIST's own digits, and others, through the Draw page's canvas_to_mnist",
           "set (a) read within 0.2 point of reading its digits directly (CNNs), 1 point (classic MLP)")

    kinds = variants()
    sets = reading_sets(args.n, min(args.pen_n, args.n), args.drawn, args.fonts)
    print("sets: " + ", ".join(f"{s.name} ({s.group}) {len(s.labels)}" for s in sets), flush=True)
    read, _ = read_all(sets, kinds)
    x, y = mnist_test(args.n)
    direct = x.astype(np.float32) / 255
    for v in kinds:
        print(f"set (a) read {v}: {faithfulness(read[v]['mnist'], direct)}")

    results = {}
    for spec in args.model or ["classic", "fast-cnn", "strong-cnn"]:
        name, model, how = get_model(spec)
        print(f"\n{name}: {how}", flush=True)
        d = accuracy(model, direct, y)
        rows = [["direct (28x28)", f"{100 * d:.2f}", *("" for _ in sets[1:])]]
        scores = {}
        for v in kinds:
            scores[v] = {s.name: accuracy(model, read[v][s.name], s.labels) for s in sets}
            rows.append([v, *(f"{100 * a:.2f}" for a in scores[v].values())])
        print(table(["reading", *(f"{s.name} ({s.group})" for s in sets)], rows), flush=True)
        results[name] = (kind(model), d, scores)
    print()
    footer()
    page = next(v for v in kinds if v.endswith("(Draw page)"))
    for name, (k, d, scores) in results.items():
        a = scores[page]["mnist"]
        verdict(d - a <= TOLERANCE[k], f"{name} ({k}): MNIST test digits read from the canvas {a:.2%}, "
                f"directly {d:.2%}: {100 * (a - d):+.2f} points (at least -{100 * TOLERANCE[k]:g})")


if __name__ == "__main__":
    main()
