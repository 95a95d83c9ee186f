"""Evaluate: test accuracy and loss, a grid of test digits, probabilities,
the confusion matrix and the worst mistakes of the current model."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages.charts import digit_grid, probability_chart
from app_pages.drawings_view import drawings_section
from app_pages.guard import guarded, run_page
from app_pages.models import (
    chosen_line,
    current_model,
    kept_models_section,
    load_run,
    run_label,
    test_set,
    visible_runs,
)
from app_pages.session import kept
from model.data.preprocess import scale_images
from model.insight import pictures
from model.serving.evaluate import Evaluation, disagreements

GRID = 25


@st.cache_resource(max_entries=4, show_spinner="Evaluating on the 10,000 test images…")
def evaluation(path: str, version: tuple[int, int], _model) -> Evaluation:
    from model.serving.evaluate import evaluate

    return evaluate(_model, *test_set())


def downloads(model, stem: str) -> None:
    """The model as .keras, .h5 (the seed's format) and TensorFlow Lite (for phones)."""
    from model.serving.export import FORMATS, export_model, file_name

    row = st.container(horizontal=True)
    for fmt in FORMATS:
        row.download_button(f"Download .{fmt}", data=lambda fmt=fmt: export_model(model, fmt),
                            file_name=file_name(f"mnist-{stem}", fmt), mime=FORMATS[fmt][1],
                            key=f"download_{fmt}", on_click="ignore")


def sample(result: Evaluation, only_mistakes: bool, draw: int) -> np.ndarray:
    pool = result.mistakes() if only_mistakes else np.arange(len(result.labels))
    rng = np.random.default_rng(draw)
    return np.sort(rng.choice(pool, size=min(GRID, len(pool)), replace=False))


def page() -> None:
    st.title("Evaluate")
    chosen = current_model()
    if chosen is None:
        return
    result = evaluation(str(chosen.path), chosen.version, chosen.model)
    chosen_line(chosen)
    # Horizontal containers, not columns: on a phone columns stack, one metric a row.
    with st.container(horizontal=True, gap="medium"):
        st.metric("Test accuracy", f"{result.accuracy:.2%}", width="content")
        st.metric("Test loss", f"{result.loss:.4f}", width="content")
        st.metric("Mistakes", f"{(~result.correct).sum():,} of {len(result.labels):,}", width="content")
    downloads(chosen.model, chosen.meta.get("key", "model"))
    # One section in view at a time (a phone's page was 9 screens tall, issue 26); each is a
    # fragment: its controls rerun it alone, not the page.
    tabs = st.tabs(["Test digits", "Confusion matrix", "Accuracy per digit", "Your drawings", "Kept models"])
    with tabs[0]:
        digits_section(result)
    with tabs[1]:
        confusion_section(result, chosen.model)
    with tabs[2]:
        compare(chosen, result)
    with tabs[3]:
        drawings_section(chosen)
    with tabs[4]:
        kept_models_section(on_evaluate=True)


@st.fragment
@guarded
def digits_section(result: Evaluation) -> None:
    """A sample of test digits, right and wrong, and the probabilities of some."""
    images, _ = test_set()
    st.subheader("Test digits")
    controls = st.columns([1, 1, 3])
    if controls[0].button("New sample", key="new_sample"):
        st.session_state.draw = st.session_state.get("draw", 0) + 1
    only_mistakes = controls[1].toggle("Only mistakes", key=kept("only_mistakes"))
    shown = sample(result, only_mistakes, st.session_state.get("draw", 0))
    if len(shown) == 0:
        st.success("No mistakes on the test set.")
        return
    st.caption("Green: right · red: wrong (marked ✗).")
    digit_grid(st, images[shown], result.predictions[shown], result.labels[shown], numbered=True, min_px=64)

    st.subheader("Softmax probabilities")
    picked = st.multiselect("Images from the grid (their numbers: #1 to #25)",
                            range(1, len(shown) + 1), default=[1, 2, 3][:len(shown)], key=kept("chosen"),
                            format_func=lambda n: f"#{n}")
    columns = st.columns(3)
    for n, position in enumerate(picked):
        i, column = shown[position - 1], columns[n % 3]
        # The digit beside its chart on any screen (as columns, a phone stacked them: a 330 px picture).
        row = column.container(horizontal=True, vertical_alignment="center", wrap=False)
        row.image(pictures.png_data_url(255 - pictures.enlarged(scale_images(images[i]), 4)), width=72,
                  alt=f"test image {i}", caption=f"#{position}")
        probability_chart(row.container(), result.probs[i], title=f"#{position}: test image {i}",
                          true=int(result.labels[i]), height=90)


@st.fragment
@guarded
def confusion_section(result: Evaluation, model=None) -> None:
    """The confusion matrix (click a cell: its test images, with their
    attributions on request) and the worst mistakes."""
    from app_pages.explain_view import cell_images, confusion_chart

    images, _ = test_set()
    left, right = st.columns(2)
    with left:
        st.subheader("Confusion matrix")
        event = st.altair_chart(confusion_chart(result.confusion), on_select="rerun", selection_mode="cell",
                                key="confusion_chart", width="stretch")
    with right:  # beside the chart, where the eye is after the click (stacked under it on a phone)
        picked = (event.get("selection") or {}).get("cell") or []
        if picked:
            st.subheader("The clicked cell")
        cell_images(model, result.probs, result.labels, images, picked)
        st.subheader("Worst mistakes")
        st.caption("Wrong, and the most confident about it.")
        worst = result.mistakes()[:10]
        digit_grid(st, images[worst], result.predictions[worst], result.labels[worst], min_px=64)


@st.fragment
@guarded
def compare(chosen, result: Evaluation) -> None:
    """Accuracy per digit, and side by side with another kept model."""
    st.subheader("Accuracy per digit")
    others = {k: m for k, m in visible_runs().items() if k != chosen.meta.get("key")}
    if st.session_state.get("compare_with") not in others:  # gone, or the model in use itself
        st.session_state.compare_with = None
    other_key = st.selectbox("Compare with", [None, *others], key=kept("compare_with"),
                             format_func=lambda k: "(no other model)" if k is None else run_label(others[k]))
    other = load_run(other_key) if other_key else None
    columns = {"this model (A)": result.per_class_accuracy}
    if other is not None:
        other_result = evaluation(str(other.path), other.version, other.model)
        columns["other model (B)"] = other_result.per_class_accuracy
    accuracy_chart(columns)
    if other is None:
        return
    a, b = st.columns(2)
    a.metric("This model (A)", f"{result.accuracy:.2%}")
    b.metric("Other model (B)", f"{other_result.accuracy:.2%}", f"{other_result.accuracy - result.accuracy:+.2%}")
    differ = disagreements(result.probs, other_result.probs)
    st.write(f"They disagree on **{len(differ)}** of {len(result.labels):,} test images; the first 10 "
             "(titles: A's prediction · B's prediction / the truth):")
    if len(differ):
        first, images = differ[:10], test_set()[0]
        digit_grid(st, images[first], result.predictions[first], result.labels[first],
                   other=other_result.predictions[first])


def accuracy_chart(columns: dict[str, np.ndarray]) -> None:
    """Accuracy per digit: bars from zero (a zoomed axis made 68.6% look like 0%),
    each labelled with its value, the two models in clearly different colours."""
    rows = [{"digit": str(d), "model": name, "accuracy": float(acc[d])} for name, acc in columns.items()
            for d in range(10)]
    scale = {"domain": [0, 1]}
    encoding = {"x": {"field": "digit", "type": "nominal", "title": "digit", "axis": {"labelAngle": 0}},
                "xOffset": {"field": "model"},
                "y": {"field": "accuracy", "type": "quantitative", "title": "accuracy", "scale": scale,
                      "axis": {"format": ".0%"}},
                "color": {"field": "model", "title": None, "legend": {"orient": "top"},
                          "scale": {"domain": list(columns), "range": ["#0969da", "#bc4c00"]}}}
    st.vega_lite_chart({
        "title": "Test accuracy per digit", "height": 260, "autosize": {"type": "fit-x", "contains": "padding"},
        "data": {"values": rows}, "encoding": encoding,
        "layer": [{"mark": "bar"},
                  {"mark": {"type": "text", "dy": -6, "fontSize": 10},
                   "encoding": {"text": {"field": "accuracy", "format": ".1%"}}}]}, width="stretch")



run_page(page)
