"""Inside the model: for the session's model and one image (any test image,
a point clicked on the map, or the last drawing), what the first layer looks
for, what every layer computes, and where the test images lie in the
network's own space (its penultimate layer, mapped to 2-D).

Maps are cached per model file version, method and size: t-SNE on thousands
of images takes 10 to 30 s on two cores, and a second visit is instant. The
work is in ``model.insight.layers`` and ``model.insight.embeddings``; this page
only lays it out."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from app_pages.charts import probability_chart
from app_pages.explain_view import LAST_DRAWING, explanation
from app_pages.guard import run_page
from app_pages.models import chosen_line, current_model, test_set
from model.data.preprocess import scale_images
from model.insight import pictures
from model.insight.embeddings import Embedding, fit_embedding, place
from model.insight.layers import feature_maps, first_layer_weights, layer_outputs
from model.serving.predict import predict_batch, predict_proba

MAP_KEY, SIZES = "inside_map", (2000, 5000)
METHODS = {"pca": "PCA (instant)", "tsne": "t-SNE (10 to 30 s, once per model)"}
TEST, DRAWING = "A test image", "Your last drawing"


@st.cache_resource(max_entries=8, show_spinner=False)
def embedding_map(path: str, version: tuple[int, int], method: str, n: int, _model) -> Embedding:
    return fit_embedding(_model, test_set()[0][:n], method)


@st.cache_data(max_entries=8, show_spinner=False)
def map_points(path: str, version: tuple[int, int], method: str, n: int, _model) -> pd.DataFrame:
    """One row a test image: position, true and read digit, its picture (a data URL, for the tooltip)."""
    images, labels = test_set()
    coords = embedding_map(path, version, method, n, _model).coords
    predicted = predict_batch(_model, scale_images(images[:n])).argmax(axis=1)
    return pd.DataFrame({
        "x": coords[:, 0], "y": coords[:, 1], "index": np.arange(n), "digit": labels[:n].astype(str),
        "read as": predicted.astype(str), "result": np.where(predicted == labels[:n], "right", "wrong"),
        "image": [pictures.png_data_url(pictures.enlarged(scale_images(im), 3)) for im in images[:n]]})


@st.cache_data(max_entries=8, show_spinner=False)
def weights_picture(path: str, version: tuple[int, int], _model) -> tuple[np.ndarray, str]:
    first = first_layer_weights(_model)
    scale = 2 if first.kind == "dense" else max(2, 48 // first.images.shape[-1])
    what = ("each unit's weights on the 784 pixels" if first.kind == "dense" else
            f"each filter's {first.images.shape[-1]}x{first.images.shape[-1]} kernel")
    return pictures.mosaic(first.images, columns=16, scale=scale), f"{first.name}: {what} (red +, blue −)"


def follow_map_click() -> None:
    """A point clicked on the map (the chart's selection, kept under its key)
    becomes the chosen test image, once per click: set before the widgets are."""
    state = st.session_state.get(MAP_KEY) or {}
    points = (state.get("selection") or {}).get("pick") or []
    if points and points[0].get("index") is not None and points[0] != st.session_state.get("inside_clicked"):
        st.session_state.inside_clicked = points[0]
        st.session_state.inside_index = int(points[0]["index"])
        st.session_state.inside_source = TEST


def chosen_image() -> tuple[np.ndarray, str, int | None]:
    images, labels = test_set()
    sources = [TEST, DRAWING] if LAST_DRAWING in st.session_state else [TEST]
    if st.session_state.get("inside_source") not in sources:
        st.session_state.inside_source = TEST
    # A choice only once there is one: a drawing made on the Draw page.
    source = st.radio("Look at", sources, key="inside_source", horizontal=True) if len(sources) > 1 else TEST
    if source == DRAWING:
        return st.session_state[LAST_DRAWING], "your last drawing", None
    i = st.number_input("Test image (0-9,999; or click a point on the map below)", 0, len(images) - 1,
                        key="inside_index", step=1)
    return scale_images(images[i:i + 1])[0], f"test image {i}", int(labels[i])


def page() -> None:
    st.title("Inside the model")
    chosen = current_model()
    if chosen is None:
        return
    model, key = chosen.model, (str(chosen.path), chosen.version)
    chosen_line(chosen)
    follow_map_click()
    image, name, label = chosen_image()
    probs = predict_proba(model, image)
    digit = int(probs.argmax())
    st.subheader(f"The image: {name}" + ("" if label is None else f", a {label}") + f", read as {digit}")
    left, middle, right = st.columns([1, 2, 2])
    left.image(pictures.png_data_url(pictures.enlarged(image)), caption=f"{name} (28x28)", width=168)
    with middle:
        probability_chart(st, probs, title=f"Probabilities: {digit} ({probs[digit]:.1%})")
    with right:
        explanation(model, image, probs, key="inside")

    st.subheader("What the first layer looks for")
    pixels, caption = weights_picture(*key, model)
    st.image(pictures.png_data_url(pixels), caption=caption)
    activations(model, image, name)
    embedding_section(chosen, key)


def activations(model, image: np.ndarray, name: str) -> None:
    st.subheader(f"Every layer's output for {name}, in network order")
    for layer, out in layer_outputs(model, image).items():
        if out.ndim == 3:
            maps = feature_maps(out)
            scale = max(1, 48 // out.shape[0])
            st.image(pictures.png_data_url(pictures.mosaic(maps, columns=16, scale=scale, signed=False)),
                     caption=f"{layer}: {out.shape[-1]} feature maps of {out.shape[0]}x{out.shape[1]} "
                             "(white: strongest)")
        else:
            st.vega_lite_chart(vector_chart(layer, out), width="stretch")


def vector_chart(layer: str, out: np.ndarray) -> dict:
    """A layer's vector output as bars, red positive and blue negative on a
    symmetric-log axis (linear within a fiftieth of the largest magnitude,
    logarithmic beyond), so small and negative values show beside large ones;
    the tooltip gives each exact value. ``autosize`` "fit-x": Streamlit's
    default for a stretched chart ("fit") squeezes the title, padding and
    bars into the spec's height and left 60 px charts no room for the bars."""
    values = np.asarray(out, dtype=np.float64).ravel()
    peak = float(np.abs(values).max()) or 1.0
    return {
        "title": {"text": f"{layer}: {values.size} values", "fontSize": 11, "anchor": "start"},
        "height": 60, "autosize": {"type": "fit-x", "contains": "padding"},
        "data": {"values": [{"unit": i, "value": float(v)} for i, v in enumerate(values)]},
        "mark": {"type": "bar", "width": {"band": 0.9}},
        "encoding": {"x": {"field": "unit", "type": "ordinal", "axis": None},
                     "y": {"field": "value", "type": "quantitative", "title": None,
                           "scale": {"type": "symlog", "constant": peak / 50}, "axis": {"tickCount": 3}},
                     "color": {"condition": {"test": "datum.value < 0", "value": "#2166ac"}, "value": "#b2182b"},
                     "tooltip": [{"field": "unit"}, {"field": "value", "format": ".3g"}]}}


def embedding_section(chosen, key: tuple[str, tuple[int, int]]) -> None:
    st.subheader("Where the test images lie in the network's own space")
    st.caption("The penultimate layer's outputs, mapped to 2-D; colour: true digit, crosses: mistakes. Hover "
               "for the image; click a point to look at that image above.")
    a, b = st.columns(2)
    method = a.radio("Map", list(METHODS), format_func=METHODS.get, key="inside_map_method", horizontal=True)
    n = b.selectbox("Test images", SIZES, format_func="{:,}".format, key="inside_n")
    with st.spinner(f"Mapping {n:,} test images with {method.upper()}…"):
        points = map_points(*key, method, n, chosen.model)
    pick = alt.selection_point(name="pick", fields=["index"], on="click")
    chart = alt.Chart(points).mark_point(filled=True, size=40).encode(
        x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None),
        color=alt.Color("digit:N", title="true digit"),
        shape=alt.Shape("result:N", title=None, scale=alt.Scale(domain=["right", "wrong"], range=["circle", "cross"])),
        opacity=alt.condition(pick, alt.value(0.85), alt.value(0.25)),
        tooltip=["image", "index", "digit", "read as"]).add_params(pick)
    if LAST_DRAWING in st.session_state:
        x, y = place(chosen.model, embedding_map(*key, method, n, chosen.model), st.session_state[LAST_DRAWING])
        chart += alt.Chart(pd.DataFrame({"x": [x], "y": [y], "label": ["your drawing"]})).mark_point(
            shape="diamond", size=400, filled=True, color="black", stroke="white", strokeWidth=2).encode(
            x="x:Q", y="y:Q", tooltip=["label"])
    chart = chart.properties(height=520, usermeta={"embedOptions": {"renderer": "svg"}})
    on_map, beside = st.columns([3, 1])
    on_map.altair_chart(chart, on_select="rerun", selection_mode="pick", key=MAP_KEY, width="stretch")
    picked_beside(beside, points)


def picked_beside(where, points: pd.DataFrame) -> None:
    """The image a click on the map picked, beside the map: the page shows it above too,
    2,000 px up, out of sight."""
    clicked = st.session_state.get("inside_clicked")
    if not clicked or clicked.get("index") is None:
        where.caption("Click a point: its image shows here (and above).")
        return
    i = int(clicked["index"])
    images, labels = test_set()
    row = points[points["index"] == i]
    read = f", read as {int(row['read as'].iloc[0])}" if len(row) else ""
    where.image(pictures.png_data_url(pictures.blocks(images[i], 6)), width=140,
                caption=f"test image {i}, a {int(labels[i])}{read}")


run_page(page)
