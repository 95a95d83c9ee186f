"""Matplotlib figures of digits and predictions, for the pages and for reports.

Figures are made with ``matplotlib.figure.Figure``, not pyplot: nothing is
kept in pyplot's global registry, so a figure is freed once it is shown and
memory stays flat however often a page reruns.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from model.insight.attribution import integrated_gradients
from model.insight.cam import conv_layers, grad_cam
from model.insight.layers import feature_maps, layer_outputs
from model.insight.pictures import heat_map, mosaic
from model.serving.predict import predict_proba

RIGHT, WRONG, NEUTRAL = "#1a7f37", "#cf222e", "#57606a"


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


def report_figure(model, image: np.ndarray, label: int | None = None):
    """One Matplotlib figure: the image, its attribution (and Grad-CAM for a
    CNN), the probabilities, and every layer's output."""
    probs = predict_proba(model, image)
    digit = int(probs.argmax())
    outputs = layer_outputs(model, image)
    cnn = bool(conv_layers(model))
    rows = 1 + len(outputs)
    fig = Figure(figsize=(10, 2.4 * rows), layout="constrained")
    top = fig.add_gridspec(rows, 4)
    panels = [("input", image, "gray"), ("integrated gradients", heat_map(image, integrated_gradients(model, image)),
                                         None)]
    if cnn:
        panels.append(("Grad-CAM", heat_map(image, grad_cam(model, image), signed=False), None))
    for i, (title, picture, cmap) in enumerate(panels):
        ax = fig.add_subplot(top[0, i])
        ax.imshow(picture, cmap=cmap, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    ax = fig.add_subplot(top[0, len(panels):])
    ax.bar(range(10), probs, color=["#1a7f37" if d == digit else "#57606a" for d in range(10)])
    ax.set_xticks(range(10))
    ax.set_ylim(0, 1)
    ax.set_title(f"predicted {digit}" + ("" if label is None else f", true {label}"), fontsize=9)
    for row, (name, out) in enumerate(outputs.items(), start=1):
        ax = fig.add_subplot(top[row, :])
        if out.ndim == 3:
            ax.imshow(mosaic(feature_maps(out), columns=32, scale=2, signed=False), interpolation="nearest")
            ax.set_axis_off()
        else:
            ax.bar(range(out.size), out.ravel(), width=1.0, color="#57606a")
            ax.set_xlim(-0.5, out.size - 0.5)
        ax.set_title(f"{name} {tuple(out.shape)}", fontsize=9, loc="left")
    return fig
