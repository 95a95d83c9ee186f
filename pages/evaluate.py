"""Evaluate: test accuracy and loss, a grid of test digits, probabilities,
the confusion matrix and the worst mistakes of the current model."""

from __future__ import annotations

import numpy as np
import streamlit as st

from model import figures
from model.evaluate import Evaluation, disagreements
from pages.charts import show_figure
from pages.guard import guarded, run_page
from pages.models import current_model, load_run, run_label, test_set, visible_runs

GRID = 25


@st.cache_resource(max_entries=4, show_spinner="Evaluating on the 10,000 test images…")
def evaluation(path: str, version: tuple[int, int], _model) -> Evaluation:
    from model.evaluate import evaluate

    return evaluate(_model, *test_set())


def downloads(model, stem: str) -> None:
    """The model as .keras, .h5 (the seed's format) and TensorFlow Lite (for phones)."""
    from model.export import FORMATS, export_model, file_name

    columns = st.columns(len(FORMATS))
    for column, fmt in zip(columns, FORMATS):
        column.download_button(f"Download .{fmt}", data=lambda fmt=fmt: export_model(model, fmt),
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
    st.caption(chosen.meta.get("description", f"the model in {chosen.path}"))
    a, b, c = st.columns(3)
    a.metric("Test accuracy", f"{result.accuracy:.2%}")
    b.metric("Test loss", f"{result.loss:.4f}")
    c.metric("Mistakes", f"{(~result.correct).sum():,} of {len(result.labels):,}")
    downloads(chosen.model, chosen.meta.get("key", "model"))
    # Each section is a fragment: its controls rerun it alone, not the page.
    digits_section(result)
    confusion_section(result)
    compare(chosen, result)


@st.fragment
@guarded
def digits_section(result: Evaluation) -> None:
    """A sample of test digits, right and wrong, and the probabilities of some."""
    images, _ = test_set()
    st.subheader("Test digits")
    controls = st.columns([1, 1, 3])
    if controls[0].button("New sample", key="new_sample"):
        st.session_state.draw = st.session_state.get("draw", 0) + 1
    only_mistakes = controls[1].toggle("Only mistakes", key="only_mistakes")
    shown = sample(result, only_mistakes, st.session_state.get("draw", 0))
    if len(shown) == 0:
        st.success("No mistakes on the test set.")
        return
    show_figure(figures.digit_grid(images[shown], result.predictions[shown], result.labels[shown],
                                   title="Green: right · red: wrong"))

    st.subheader("Softmax probabilities")
    picked = st.multiselect("Images from the grid (numbered left to right, top to bottom)",
                            range(1, len(shown) + 1), default=[1, 2, 3][:len(shown)], key="chosen")
    columns = st.columns(3)
    for n, position in enumerate(picked):
        i = shown[position - 1]
        show_figure(figures.probability_bars(result.probs[i], true=int(result.labels[i]),
                                             title=f"#{position}: test image {i}, true {result.labels[i]}"),
                    columns[n % 3])


@st.fragment
@guarded
def confusion_section(result: Evaluation) -> None:
    """The confusion matrix and the worst mistakes."""
    images, _ = test_set()
    left, right = st.columns(2)
    with left:
        st.subheader("Confusion matrix")
        show_figure(figures.confusion_matrix(result.confusion))
    with right:
        st.subheader("Worst mistakes")
        st.caption("Wrong, and the most confident about it.")
        worst = result.mistakes()[:10]
        show_figure(figures.digit_grid(images[worst], result.predictions[worst], result.labels[worst]))


@st.fragment
@guarded
def compare(chosen, result: Evaluation) -> None:
    """Accuracy per digit, and side by side with another kept model."""
    images, _ = test_set()
    st.subheader("Accuracy per digit")
    others = {k: m for k, m in visible_runs().items() if k != chosen.meta.get("key")}
    other_key = st.selectbox("Compare with", [None, *others], key="compare_with",
                             format_func=lambda k: "(no other model)" if k is None else run_label(others[k]))
    other = load_run(other_key) if other_key else None
    columns = {"this model": result.per_class_accuracy}
    if other is not None:
        other_result = evaluation(str(other.path), other.version, other.model)
        columns["other model"] = other_result.per_class_accuracy
    rows = [{"digit": str(d), "model": name, "accuracy": float(acc[d])} for name, acc in columns.items()
            for d in range(10)]
    st.vega_lite_chart({
        "title": "Test accuracy per digit", "height": 240, "data": {"values": rows}, "mark": "bar",
        "encoding": {"x": {"field": "digit", "type": "nominal", "title": "digit", "axis": {"labelAngle": 0}},
                     "xOffset": {"field": "model"}, "color": {"field": "model", "title": None},
                     "y": {"field": "accuracy", "type": "quantitative", "title": "accuracy",
                           "scale": {"zero": False}}}}, width="stretch")
    if other is None:
        return
    a, b = st.columns(2)
    a.metric("This model", f"{result.accuracy:.2%}")
    b.metric("Other model", f"{other_result.accuracy:.2%}", f"{other_result.accuracy - result.accuracy:+.2%}")
    differ = disagreements(result.probs, other_result.probs)
    st.write(f"They disagree on **{len(differ)}** of {len(result.labels):,} test images; the first 10 "
             "(titles: this model's prediction):")
    if len(differ):
        first = differ[:10]
        show_figure(figures.digit_grid(images[first], result.predictions[first], result.labels[first]))


run_page(page)
