"""Matplotlib figures of digits and predictions, for the pages and for reports.

Figures are made with ``matplotlib.figure.Figure``, not pyplot: nothing is
kept in pyplot's global registry, so a figure is freed once it is shown and
memory stays flat however often a page reruns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

RIGHT, WRONG, NEUTRAL = "#1a7f37", "#cf222e", "#57606a"


def digit_grid(images: np.ndarray, predicted: Sequence[int], true: Sequence[int],
               columns: int = 5, title: str | None = None, numbered: bool = False,
               other: Sequence[int] | None = None) -> Figure:
    """Images in a grid, each titled "pred P / true T", green when right, red
    when wrong (the title's words carry the same news for those who can't
    tell the colours apart); ``numbered``: "#1" ... before each title;
    ``other``: a second model's predictions, titled "A 7 · B 9 / true 9"."""
    rows = max(1, -(-len(images) // columns))
    fig = Figure(figsize=(2.3 * columns, 2.3 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for n, (ax, image, p, t) in enumerate(zip(axes.flat, images, predicted, true)):
        ok = int(p) == int(t)
        ax.imshow(image, cmap="gray_r", interpolation="nearest")
        said = f"pred {p}" if other is None else f"A {p} · B {other[n]}"
        ax.set_title((f"#{n + 1} " if numbered else "") + f"{said} / true {t}" + ("" if ok else " ✗"),
                     fontsize=11, color=RIGHT if ok else WRONG, fontweight="normal" if ok else "bold")
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def probability_bars(probs: np.ndarray, title: str = "Softmax probabilities",
                     true: int | None = None, image: np.ndarray | None = None) -> Figure:
    """Bar chart of the 10 class probabilities; the predicted class is
    highlighted, and the true one, when given, is marked; ``image``: the
    digit itself, drawn at the left."""
    probs = np.asarray(probs, dtype=float)
    predicted = int(probs.argmax())
    if image is None:
        fig = Figure(figsize=(4.2, 2.6), layout="constrained")
        ax = fig.subplots()
    else:
        fig = Figure(figsize=(5.6, 2.6), layout="constrained")
        picture, ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2.6]})
        picture.imshow(image, cmap="gray_r", interpolation="nearest")
        picture.set_axis_off()
    colors = [NEUTRAL] * 10
    colors[predicted] = RIGHT if true is None or true == predicted else WRONG
    ax.bar(range(10), probs, color=colors)
    ax.set_xticks(range(10))
    ax.set_ylim(0, 1.18)  # room above a bar at 1.0 for its "true" mark
    ax.set_yticks([0, 0.5, 1])
    ax.set_xlabel("digit")
    ax.set_ylabel("probability")
    ax.set_title(title, fontsize=11)
    if true is not None:
        ax.annotate("true", (true, probs[true] + 0.03), ha="center", va="bottom", fontsize=10)
    return fig


def confusion_matrix(counts: np.ndarray, title: str = "Confusion matrix (test set)") -> Figure:
    """Counts of true (rows) against predicted (columns) digits, numbers written in."""
    fig = Figure(figsize=(5.5, 4.8), layout="constrained")
    ax = fig.subplots()
    shown = np.log1p(counts)  # the diagonal would otherwise wash out every mistake
    im = ax.imshow(shown, cmap="Blues")
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                color="white" if shown[i, j] > shown.max() * 0.6 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="log(1 + count)", shrink=0.8)
    return fig


def enlarged(image: np.ndarray, scale: int = 8) -> np.ndarray:
    """A float image in [0, 1] as uint8 pixels, each a ``scale`` x ``scale``
    block: sharp pixels at any display size, and a PNG in well under a
    millisecond (a Matplotlib figure of it takes 40 ms)."""
    pixels = np.round(np.clip(np.asarray(image, dtype=np.float32), 0, 1) * 255).astype(np.uint8)
    return np.kron(pixels, np.ones((scale, scale), dtype=np.uint8))


def png_data_url(pixels: np.ndarray) -> str:
    """A uint8 image as a ``data:image/png`` URL."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
