"""What every page shares: the current model (loaded once per file version),
the test set, training with live progress, and the "no model yet" state."""

from __future__ import annotations

import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from model import figures, registry, store
from model.config import TrainConfig
from model.limits import current_limits
from model.logs import quiet_tensorflow

quiet_tensorflow()


def _keep_keras_state_between_reruns() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after
    every script run (its ``_clean_problem_modules``). Here that call costs
    a full ``gc.collect()`` of a TensorFlow process, about 190 ms holding
    the GIL, on every rerun of every session (every stroke on the Draw
    page); and it resets Keras' global state and TensorFlow's kernel cache
    under any training that another session is running at that moment.
    This app keeps no Keras state to clear: models live in
    ``st.cache_resource`` and training builds its own. Figures are closed as
    before (the app makes none through pyplot)."""
    from streamlit.runtime.scriptrunner import script_runner

    def close_pyplot_figures() -> None:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")

    script_runner._clean_problem_modules = close_pyplot_figures


_keep_keras_state_between_reruns()

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard.py"


def use_app_navigation() -> None:
    """Run this page through dashboard.py's ``st.navigation``, never alone.

    Streamlit bug: until some session has called ``st.navigation``, a server
    treats pages/ as a legacy auto-discovered folder, so a deep link
    (/train) as its very first request runs the page file alone, with a
    sidebar listing every file in pages/ and no ``set_page_config``
    (AppTest does the same on every run). The flag behind that is
    process-wide: clear it, and run dashboard.py here, which calls
    ``st.navigation`` and runs this page again, now as one of the app's
    pages; then stop this outer run. Unlike a rerun, this keeps the
    widget events of this run (a button click)."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(DASHBOARD), run_name="__main__")
        st.stop()


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _load_model(path: str, version: tuple[int, int]):
    from model.predict import load_classifier

    return load_classifier(path)


@st.cache_resource(show_spinner="Loading MNIST…")
def test_set() -> tuple[np.ndarray, np.ndarray]:
    from model.data import load_mnist

    return load_mnist()[1]


@dataclass
class Chosen:
    model: Any  # keras.Model
    meta: dict[str, Any]
    path: Path
    version: tuple[int, int]  # store.file_version(path) when loaded: a cache key for results


def _open(path: Path, meta: dict[str, Any]) -> Chosen:
    """Load (once per file version) the model at ``path``; raises InvalidModelError."""
    version = store.file_version(path)
    return Chosen(_load_model(str(path), version), meta, path, version)


def current_model() -> Chosen | None:
    """The model this session looks at (the current one unless another was
    chosen in the sidebar) and its meta; or None, with the reason shown and
    an offer to train, when there is no usable model."""
    from model.predict import InvalidModelError

    model_sidebar()
    key = st.session_state.get("model_key", CURRENT)
    meta = store.load_run_meta(key) if key != CURRENT else None
    if meta is not None:
        path = store.run_model_path(key)
    else:
        path = store.current_model_path()
        if not path.exists():
            offer_default_training("No model yet: train one on the Train page, or the default one right here.")
            return None
        meta = store.current_meta()
        if meta is None:
            st.warning("The current model's sidecar (mnist_model.json) is missing or damaged, so its "
                       "settings and training history are unknown; the model itself is used as it is.")
            meta = {}
    try:
        return _open(path, meta)
    except InvalidModelError as exc:
        offer_default_training(f"The saved model can't be used ({exc}). Train a new one to replace it.")
        return None


CURRENT = "current"


def load_run(key: str) -> Chosen | None:
    """A kept run's model, for comparisons; None if it can't be loaded."""
    from model.predict import InvalidModelError

    meta = store.load_run_meta(key)
    if meta is None:
        return None
    try:
        return _open(store.run_model_path(key), meta)
    except (InvalidModelError, OSError):
        return None


def model_sidebar() -> None:
    """Pick any kept run for this session, or upload a model of one's own.
    Neither changes the current model that other sessions see."""
    from model.predict import InvalidModelError

    limits = current_limits()
    upload = st.sidebar.file_uploader(f"Use your own model (.h5 or .keras, up to "
                                      f"{limits.max_upload_bytes // 2**20} MiB)", type=["h5", "keras"],
                                      max_upload_size=limits.max_upload_bytes // 2**20, key="upload")
    if upload is not None and st.session_state.get("imported_upload") != upload.file_id:
        try:
            with st.spinner("Checking and evaluating the uploaded model…"):
                meta = registry.import_model(upload.getvalue(), upload.name, limits.max_upload_bytes)
        except InvalidModelError as exc:
            st.sidebar.error(f"Not loaded: {exc}")
        else:
            st.session_state.imported_upload = upload.file_id
            st.session_state.model_key = meta["key"]
    runs = {m["key"]: m for m in store.list_runs()}
    if st.session_state.get("model_key", CURRENT) not in runs:
        st.session_state.model_key = CURRENT
    st.sidebar.selectbox("Model", [CURRENT, *runs], key="model_key",
                         format_func=lambda k: "Current model (mnist_model.h5)" if k == CURRENT
                         else registry.label(runs[k]))


def offer_default_training(message: str) -> None:
    st.info(message, icon="ℹ️")
    if st.button(f"Train the default model ({TrainConfig().describe()}, about 10 s)", type="primary",
                 key="train_default"):
        train_with_progress(TrainConfig())
        st.rerun()


def train_with_progress(config: TrainConfig):
    """Train (or reuse the run with the same settings), showing a progress bar
    and live loss/accuracy curves, per batch and per epoch."""
    from model.callbacks import ProgressCallback
    from model.train import train

    current_limits().check(config)
    if store.training_busy():
        st.info("Another training is running on this server; yours is queued and starts when it ends.",
                icon="⏳")
    bar = st.progress(0.0, text="Starting: loading data and building the model…")
    charts = st.columns(2)
    batch_chart, epoch_chart = charts[0].empty(), charts[1].empty()

    def report(p) -> None:
        bar.progress(p.fraction, text=f"Epoch {min(p.epoch + 1, p.epochs)}/{p.epochs} · step {p.step:,}/"
                                      f"{p.total_steps:,} · {p.elapsed:.1f} s")
        if p.batch_steps:
            line_chart(batch_chart, p.batch_steps, {"loss": p.batch_loss, "accuracy": p.batch_accuracy},
                       x_title="step", title="Training batches (live)")
        if p.epoch_logs:
            show_history(epoch_chart, p.history)

    result = train(config, callbacks=[ProgressCallback(report)])
    epoch_chart.empty()  # the result shows the per-epoch curves once more, complete
    bar.progress(1.0, text="Reused the earlier run with the same settings." if result.cached
                 else f"Done in {result.meta['train_seconds']:.1f} s.")
    return result


def show_history(where, history: dict[str, list[float]]) -> None:
    """Per-epoch curves: loss and accuracy (and validation, when there is one)."""
    epochs = list(range(1, len(next(iter(history.values()), [])) + 1))
    line_chart(where, epochs, history, x_title="epoch", title="Per epoch")


def line_chart(where, x: list[float], series: dict[str, list[float]], x_title: str, title: str) -> None:
    """A titled line chart with labelled axes. A plain Vega-Lite spec draws in
    about 4 ms; ``st.line_chart`` takes 140 ms, which would slow live training."""
    rows = [{x_title: xi, "metric": name, "value": v}
            for name, values in series.items() for xi, v in zip(x, values)]
    where.vega_lite_chart({
        "title": title, "height": 260, "data": {"values": rows}, "mark": {"type": "line", "point": len(x) < 30},
        "encoding": {"x": {"field": x_title, "type": "quantitative", "title": x_title,
                           "axis": {"format": "d", "tickMinStep": 1}},
                     "y": {"field": "value", "type": "quantitative", "title": "loss / accuracy"},
                     "color": {"field": "metric", "type": "nominal", "title": None}},
    }, width="stretch")


def probability_chart(where, probs, title: str) -> None:
    """The 10 class probabilities as a bar chart in plain HTML: bars, the
    digits under them as the x axis, each probability written above its bar,
    the predicted digit in green and bold. Drawn by the browser's layout
    alone: on the Draw page, where every stroke redraws it, a Vega-Lite
    chart cost each browser far more, and Matplotlib cost the server 170 ms."""
    predicted = int(np.argmax(probs))
    bars = "".join(
        f'<div style="flex:1;display:flex;flex-direction:column;justify-content:flex-end;align-items:center;'
        f'height:100%;font-weight:{700 if d == predicted else 400}">'
        f'<span style="font-size:0.7rem">{p:.0%}</span>'
        f'<div style="width:70%;height:{max(p, 0.005) * 100:.1f}%;background:'
        f'{figures.RIGHT if d == predicted else figures.NEUTRAL}"></div></div>'
        for d, p in enumerate(probs))
    digits = "".join(f'<div style="flex:1;text-align:center;font-weight:{700 if d == predicted else 400}">{d}</div>'
                     for d in range(10))
    described = ", ".join(f"{d}: {p:.1%}" for d, p in enumerate(probs))
    where.html(
        f'<figure role="img" aria-label="{title}. {described}" style="margin:0">'
        f'<figcaption style="font-weight:600;margin-bottom:0.3rem">{title}</figcaption>'
        f'<div style="display:flex;align-items:stretch;gap:2px;height:150px;border-bottom:1px solid #8c959f">'
        f'{bars}</div><div style="display:flex;gap:2px">{digits}</div>'
        f'<div style="text-align:center;font-size:0.8rem;color:#57606a">digit (bar height: probability)</div>'
        f'</figure>')


def show_figure(fig, where=st) -> None:
    where.pyplot(fig, clear_figure=True)
