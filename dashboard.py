"""The MNIST lab: train, evaluate and draw with a handwritten-digit classifier.

    streamlit run dashboard.py

The landing page imports no TensorFlow, so it is ready in about a second;
the pages load it when they need it. Every run starts this server's job
runner (background trainings) and, when the app has no model at all, makes
the starter model that ships with it current (``model.lab.starter``; or trains
the preset its owner names in ``MNIST_LAB_WARMUP``), so the first visitor draws
as soon as the page is there.
Neither may stop a page: with the lab's database down, every page still
renders (``app_pages.guard.database_optional``) and says what is unavailable.
"""

from __future__ import annotations

import streamlit as st

from app_pages.guard import database_optional
from app_pages.jobs_view import jobs_sidebar
from app_pages.session import keep_choices, remember_visitor
from app_pages.streamlit_fixes import keep_keras_state_between_reruns
from model.lab import jobs, store
from model.lab.limits import auto_warmup, current_limits


def home() -> None:
    st.title("MNIST lab")
    st.write("Take MNIST from raw data to a trained, evaluated, saved model, then draw a digit "
             "and watch the model read it.")
    show_default_model()

    st.page_link(DRAW, label="Draw a digit and see what the model reads", icon=":material/draw:")
    st.page_link(TRAIN, label="Train a model: choose the architecture and hyperparameters",
                 icon=":material/model_training:")
    st.page_link(EVALUATE, label="Evaluate it: accuracy, mistakes, confusion matrix", icon=":material/analytics:")
    st.page_link(INSIDE, label="See inside the model: what each layer computes, why it reads a digit",
                 icon=":material/neurology:")
    if current_limits().tuning:  # off in the public demo: no link to a page that is not there
        st.page_link(TUNE, label="Search hyperparameters with KerasTuner", icon=":material/tune:")
    st.page_link(DRAWINGS, label="Drawings people saved: what teaches the model their handwriting",
                 icon=":material/gesture:")


def show_default_model() -> None:
    default = store.default_model()
    demo = current_limits().demo
    if default is None:
        st.info("No model yet: the starter model is being trained (about half a minute); "
                "or start on the Train page." if auto_warmup() else
                "No model yet: start on the Train page (the default model takes about ten seconds).")
    elif default.meta is None or "metrics" not in default.meta:
        st.warning(f"`{default.path.name}` has no readable sidecar, so its scores are unknown: see them on "
                   "the Evaluate page, or train again to replace both.")
    else:
        meta = default.meta
        a, b, c = st.columns(3)
        a.metric(("Demo" if demo else "Current") + " model: test accuracy", f"{meta['metrics']['test_accuracy']:.2%}")
        b.metric("Test loss", f"{meta['metrics']['test_loss']:.4f}")
        c.metric("Trained in", f"{meta.get('train_seconds', 0):.1f} s")
        st.caption(f"{meta.get('description', '')}"
                   + (" · the starter that ships with the app (trained by its recipe on another machine)"
                      if meta.get("shipped") else "")
                   + ("" if demo else f" · saved as `{store.CURRENT_MODEL}`"))


TRAIN = st.Page("app_pages/train.py", title="Train", icon=":material/model_training:")
EVALUATE = st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/analytics:")
DRAW = st.Page("app_pages/draw.py", title="Draw", icon=":material/draw:")
TUNE = st.Page("app_pages/tune.py", title="Tune", icon=":material/tune:")
INSIDE = st.Page("app_pages/inside.py", title="Inside the model", icon=":material/neurology:")
DRAWINGS = st.Page("app_pages/drawings.py", title="Drawings", icon=":material/gesture:")

# An emoji, not a material icon: the favicon of a material icon is fetched from Google.
st.set_page_config(page_title="MNIST lab", page_icon="✍️", layout="wide")
if current_limits().demo:  # strangers see one line for any error, never a traceback
    st.set_option("client.showErrorDetails", "none")
    st.set_option("client.toolbarMode", "viewer")
keep_keras_state_between_reruns()
with database_optional("Background jobs"):  # drawing needs no database: the pages go on without it
    jobs.ensure_runner()
    if auto_warmup():
        if store.default_model() is None:
            jobs.ensure_warmup()  # the shipped starter serves from this very run (or one trains)
        if current_limits().demo:  # in the same run: a lone visitor drawing reruns no page
            jobs.ensure_upgrade()  # the starter serves: a stronger model trains in the background, once
            jobs.ensure_retraining()  # and, after enough corrections, a challenger learns from them
keep_choices()
remember_visitor()
with database_optional("Your jobs"):
    jobs_sidebar()
st.navigation([st.Page(home, title="Home", icon=":material/home:", default=True), DRAW, TRAIN, EVALUATE,
               INSIDE, *([TUNE] if current_limits().tuning else []), DRAWINGS]).run()
