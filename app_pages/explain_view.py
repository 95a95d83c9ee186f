"""Why the model reads what it reads: the attribution heat map of an image,
for the Draw page (every stroke), the Inside page and the Evaluate page.

On the Draw page this reruns with every stroke, so it stays cheap: the
attributions are one batched, traced gradient call (p50 1.3 ms for the MLP,
6.9 ms for the fast CNN, heat map included: see bench/explain.py), and
the heat map is a 28x28 PNG (about a kilobyte) that
the browser scales up with sharp pixels, inline in HTML: no Matplotlib, no
media file, and the page's st.image count is unchanged."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages.session import kept
from model.data.preprocess import scale_images
from model.insight import pictures
from model.insight.attribution import integrated_gradients
from model.insight.cam import conv_layers, grad_cam

LAST_DRAWING = "last_drawing"  # session state: the last preprocessed drawing (28x28 floats)
IG, CAM = "Integrated gradients", "Grad-CAM"


def picture_html(pixels: np.ndarray, label: str, caption: str = "", width: int = 224) -> str:
    """A small uint8 image (grey or RGB) shown ``width`` pixels wide with
    sharp pixels; ``label`` is its alt text."""
    img = (f'<img src="{pictures.png_data_url(pixels)}" alt="{label}" width="{width}" '
           f'style="image-rendering:pixelated;display:block">')
    text = f'<figcaption style="font-size:0.8rem;color:#57606a">{caption}</figcaption>' if caption else ""
    return f'<figure style="margin:0">{img}{text}</figure>'


def attribution_html(model, image: np.ndarray, target: int, method: str = IG, width: int = 224,
                     caption: str | None = None) -> str:
    """The image with its attribution to ``target`` over it: red for, blue against (Grad-CAM: red only)."""
    if method == CAM:
        attribution = grad_cam(model, image, target)
        default = f"Grad-CAM for {target} (HiResCAM, first convolutions): where the network found evidence for it"
        nothing = f"Grad-CAM finds no evidence for {target} anywhere in this image: nothing to show."
    else:
        attribution = integrated_gradients(model, image, target)
        default = f"Why {target}: red pixels count for it, blue against"
        nothing = f"No pixel moves the probability of {target}: nothing to show."
    if not np.abs(attribution).max() > 0:  # a blank picture would say nothing: say so in words
        return f'<p style="font-size:0.9rem;color:#57606a" role="note">{nothing}</p>'
    pixels = pictures.heat_map(image, attribution, scale=1, signed=method != CAM)
    return picture_html(pixels, f"Attribution for {target} ({method})", default if caption is None else caption,
                        width)


def explanation(model, image: np.ndarray, probs: np.ndarray, key: str) -> None:
    """The heat map with its controls: "why not …?" any other digit, and
    Grad-CAM instead for a convolutional model."""
    predicted = int(np.argmax(probs))
    # One above the other, each the full width: side by side in a narrow column
    # (the Inside page's) the choice's words were cut off.
    other = st.selectbox("Why not…?", [None, *range(10)], key=kept(f"{key}_why"),
                         format_func=lambda d: "why the prediction?" if d is None else f"why (not) {d}?")
    method = IG
    if conv_layers(model):
        method = st.radio("Map", [IG, CAM], key=kept(f"{key}_method"), horizontal=True,
                          help="Integrated gradients: each pixel's share of the probability. Grad-CAM: "
                               "where the first convolutions' evidence for the digit sits (HiResCAM).")
    st.html(attribution_html(model, image, predicted if other is None else int(other), method))


def attribution_view(model, image: np.ndarray, probs: np.ndarray) -> None:
    """On the Draw page, under what the model sees: why it reads the drawing
    as it does. Keeps the drawing for the Inside page."""
    st.session_state[LAST_DRAWING] = np.asarray(image, dtype=np.float32).reshape(28, 28)
    if st.toggle("Show why (attribution)", value=True, key="draw_explain"):
        explanation(model, image, probs, key="draw")


CELL_IMAGES = 20  # test images listed for a clicked cell of the confusion matrix


def confusion_chart(counts: np.ndarray):
    """The confusion matrix as an Altair heat map (counts written in, shade
    log(1 + count) so that mistakes show beside the diagonal), with a point
    selection "cell": a click picks (true, predicted)."""
    import altair as alt
    import pandas as pd

    rows = pd.DataFrame([{"true": i, "predicted": j, "count": int(n), "shade": float(np.log1p(n))}
                         for (i, j), n in np.ndenumerate(counts)])
    cell = alt.selection_point(name="cell", fields=["true", "predicted"], on="click")
    axis = {"labelAngle": 0}
    base = alt.Chart(rows).encode(x=alt.X("predicted:O", title="predicted digit", axis=alt.Axis(**axis)),
                                  y=alt.Y("true:O", title="true digit"))
    heat = base.mark_rect(stroke="white").encode(
        color=alt.Color("shade:Q", scale=alt.Scale(scheme="blues"), legend=None),
        opacity=alt.condition(cell, alt.value(1.0), alt.value(0.45)),
        tooltip=[alt.Tooltip("true:O", title="true digit"), alt.Tooltip("predicted:O", title="predicted digit"),
                 alt.Tooltip("count:Q", title="test images")]).add_params(cell)
    text = base.mark_text(fontSize=10).encode(
        text="count:Q", color=alt.condition(alt.datum.shade > float(np.log1p(counts.max())) * 0.6,
                                            alt.value("white"), alt.value("black")))
    return (heat + text).properties(height=380, title="Click a cell: its test images, most confident first")


def cell_images(model, probs: np.ndarray, labels: np.ndarray, images: np.ndarray, picked: list) -> None:
    """The test images of a clicked confusion-matrix cell (true i, read as
    j), the most confident first, each with its probability of j and, on
    request, its attribution to j."""
    if not picked:
        st.caption("Click a cell of the confusion matrix to see its test images.")
        return
    true, predicted = int(picked[0]["true"]), int(picked[0]["predicted"])
    cell = np.flatnonzero((labels == true) & (probs.argmax(axis=1) == predicted))
    cell = cell[np.argsort(-probs[cell, predicted], kind="stable")]
    st.markdown(f"**{len(cell):,} test images of digit {true} read as {predicted}**"
                + (f"; the {CELL_IMAGES} most confident:" if len(cell) > CELL_IMAGES else ":"))
    why = model is not None and len(cell) > 0 and st.toggle(f"Show why they read as {predicted} (attribution)",
                                                           key="cell_explain")
    shown = []
    for i in cell[:CELL_IMAGES]:
        image = scale_images(images[i])
        caption = f"#{i} · p({predicted}) {probs[i, predicted]:.1%}"
        shown.append(attribution_html(model, image, predicted, width=84, caption=caption) if why else
                     picture_html(pictures.enlarged(image, 1), f"Test image {i}", caption, width=84))
    if shown:
        st.html('<div style="display:flex;flex-wrap:wrap;gap:10px">' + "".join(shown) + "</div>")
