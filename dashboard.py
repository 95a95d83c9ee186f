"""The MNIST lab: train, evaluate and draw with a handwritten-digit classifier.

    streamlit run dashboard.py

The landing page imports no TensorFlow, so it is ready in about a second;
the pages load it when they need it.
"""

from __future__ import annotations

import streamlit as st

from model import store


def home() -> None:
    st.title("✍️ MNIST lab")
    st.write("Take MNIST from raw data to a trained, evaluated, saved model, then draw a digit "
             "and watch the model read it.")
    show_current_model()

    st.page_link(TRAIN, label="Train a model: choose the architecture and hyperparameters", icon="🏋️")
    st.page_link(EVALUATE, label="Evaluate it: accuracy, mistakes, confusion matrix", icon="📊")
    st.page_link(DRAW, label="Draw a digit and see what the model reads", icon="✏️")
    st.page_link(TUNE, label="Search hyperparameters with KerasTuner", icon="🎛️")


def show_current_model() -> None:
    path, meta = store.current_model_path(), store.current_meta()
    if not path.exists():
        st.info("No model yet: start on the Train page (the default model takes about ten seconds).")
    elif meta is None or "metrics" not in meta:
        st.warning(f"`{path}` has no readable sidecar (`{store.sidecar_path(path).name}`), so its "
                   "scores are unknown: see them on the Evaluate page, or train again to replace both.")
    else:
        a, b, c = st.columns(3)
        a.metric("Current model: test accuracy", f"{meta['metrics']['test_accuracy']:.2%}")
        b.metric("Test loss", f"{meta['metrics']['test_loss']:.4f}")
        c.metric("Trained in", f"{meta.get('train_seconds', 0):.1f} s")
        st.caption(f"{meta.get('description', '')} · saved as `{path}`")


TRAIN = st.Page("pages/train.py", title="Train", icon="🏋️")
EVALUATE = st.Page("pages/evaluate.py", title="Evaluate", icon="📊")
DRAW = st.Page("pages/draw.py", title="Draw", icon="✏️")
TUNE = st.Page("pages/tune.py", title="Tune", icon="🎛️")

st.set_page_config(page_title="MNIST lab", page_icon="✍️", layout="wide")
st.navigation([st.Page(home, title="Home", icon="🏠", default=True), TRAIN, EVALUATE, DRAW, TUNE]).run()
