"""The model a session looks at: the default one (the pinned demo model in
the public demo, the current model locally) unless the session chose a kept
run, trained its own or uploaded one. Models load once per file version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from app_pages.jobs_view import adopt_finished_trainings
from app_pages.session import DEFAULT, session_id
from app_pages.training_view import getting_ready
from model.lab import jobs, registry, store
from model.lab.limits import current_limits
from model.serving.contract import InvalidModelError


def visible_runs() -> dict[str, dict[str, Any]]:
    """The kept runs this session may use: in the demo, others' uploads are private."""
    session = session_id() if current_limits().demo else None
    return {m["key"]: m for m in store.list_runs(session=session)}


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _load_model(path: str, version: tuple[int, int]):
    """Only the lab's own files come here (kept runs, re-saved uploads, the
    current or the owner's pinned model); uploads were checked in a sandbox."""
    from model.serving.predict import load_classifier

    return load_classifier(path, own=True)


@st.cache_resource(show_spinner="Loading MNIST…")
def test_set() -> tuple[np.ndarray, np.ndarray]:
    from model.data.mnist import load_mnist

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
    """The model this session looks at, or None with the reason shown (and,
    with no model at all, the starter model being made)."""
    adopt_finished_trainings()
    model_sidebar()
    key = st.session_state.get("model_key", DEFAULT)
    if key != DEFAULT:
        store.touch_run(key)
        path, meta = store.run_model_path(key), store.load_run_meta(key) or {}
    else:
        default = store.default_model()
        if default is None:
            getting_ready()
            return None
        path, meta = default.path, default.meta
        if meta is None:
            st.warning("The current model's sidecar (mnist_model.json) is missing or damaged, so its "
                       "settings and training history are unknown; the model itself is used as it is.")
            meta = {}
    try:
        return _open(path, meta)
    except (InvalidModelError, OSError) as exc:
        st.error(f"The model can't be used: {exc}. Choose another in the sidebar"
                 + ("." if current_limits().demo else ", or train a new one on the Train page."))
        return None


def load_run(key: str) -> Chosen | None:
    """A kept run's model, for comparisons; None if it can't be loaded."""
    meta = store.load_run_meta(key)
    if meta is None:
        return None
    try:
        return _open(store.run_model_path(key), meta)
    except (InvalidModelError, OSError):
        return None


def run_label(meta: dict[str, Any]) -> str:
    """One line naming a kept run: what it is and how good."""
    accuracy = meta.get("metrics", {}).get("test_accuracy")
    score = f"{accuracy:.2%}" if isinstance(accuracy, (int, float)) else "unscored"
    return f"{meta.get('description', meta.get('key', '?'))} · {score} · {meta.get('key', '')}"


def default_label() -> str:
    return "The demo model" if current_limits().demo else "Current model (mnist_model.h5)"


def model_sidebar() -> None:
    """Pick any kept run for this session, or upload a model of one's own.
    Neither changes the model other sessions see; in the public demo an
    upload is visible to this session only."""
    limits = current_limits()
    upload = st.sidebar.file_uploader(f"Use your own model (.h5 or .keras, up to "
                                      f"{limits.max_upload_bytes // 2**20} MiB)", type=["h5", "keras"],
                                      max_upload_size=limits.max_upload_bytes // 2**20, key="upload")
    if upload is not None and st.session_state.get("imported_upload") != upload.file_id:
        try:
            with st.spinner("Checking and evaluating the uploaded model…"):
                meta = registry.import_model(upload.getvalue(), upload.name, limits.max_upload_bytes,
                                             owner=session_id() if limits.demo else None)
        except InvalidModelError as exc:
            st.sidebar.error(f"Not loaded: {exc}")
        else:
            st.session_state.imported_upload = upload.file_id
            st.session_state.model_key = meta["key"]
            st.sidebar.success(f"Loaded {upload.name}: {meta['metrics']['test_accuracy']:.2%} on the test set.")
            jobs.keep_within_quota()
    runs = visible_runs()
    if st.session_state.get("model_key", DEFAULT) not in runs:
        st.session_state.model_key = DEFAULT
    st.sidebar.selectbox("Model", [DEFAULT, *runs], key="model_key",
                         format_func=lambda k: default_label() if k == DEFAULT else run_label(runs[k]))

