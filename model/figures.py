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
               columns: int = 5, title: str | None = None) -> Figure:
    """Images in a grid, each titled "pred P / true T", green when right, red
    when wrong (the title's words carry the same news for those who can't
    tell the colours apart)."""
    rows = max(1, -(-len(images) // columns))
    fig = Figure(figsize=(1.6 * columns, 1.75 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, image, p, t in zip(axes.flat, images, predicted, true):
        ok = int(p) == int(t)
        ax.imshow(image, cmap="gray_r", interpolation="nearest")
        ax.set_title(f"pred {p} / true {t}" + ("" if ok else " ✗"), fontsize=9,
                     color=RIGHT if ok else WRONG, fontweight="normal" if ok else "bold")
    if title:
        fig.suptitle(title)
    return fig


def probability_bars(probs: np.ndarray, title: str = "Softmax probabilities",
                     true: int | None = None) -> Figure:
    """Bar chart of the 10 class probabilities; the predicted class is
    highlighted, and the true one, when given, is marked."""
    probs = np.asarray(probs, dtype=float)
    predicted = int(probs.argmax())
    fig = Figure(figsize=(4.2, 2.6), layout="constrained")
    ax = fig.subplots()
    colors = [NEUTRAL] * 10
    colors[predicted] = RIGHT if true is None or true == predicted else WRONG
    ax.bar(range(10), probs, color=colors)
    ax.set_xticks(range(10))
    ax.set_ylim(0, 1)
    ax.set_xlabel("digit")
    ax.set_ylabel("probability")
    ax.set_title(title, fontsize=10)
    if true is not None:
        ax.annotate("true", (true, min(0.95, probs[true] + 0.05)), ha="center", fontsize=8)
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
