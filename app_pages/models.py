"""The model a session looks at: the default one (the pinned demo model in
the public demo, the current model locally) unless the session chose a kept
run, trained its own or uploaded one. Models load once per file version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from app_pages.guard import database_optional, guarded
from app_pages.jobs_view import my_owner
from app_pages.session import DEFAULT, kept, session_id
from app_pages.training_view import getting_ready, use_model
from model.lab import jobs, models, outcome, registry, store
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
    model_sidebar()
    key = chosen_key()
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


def own_model_key() -> str | None:
    """In the public demo, the visitor's own model (``model.lab.outcome``: their
    training that scored at least as well, or the one they chose); None: the
    default model (locally the current one is the owner's)."""
    owner = my_owner()
    if not current_limits().demo or owner is None:
        return None
    with database_optional("Your model"):  # drawing needs no database: the demo model serves meanwhile
        return outcome.model_of(owner)
    return None


def chosen_key() -> str:
    """The kept run this session's pages use, or DEFAULT (the visitor's own model, else the default one)."""
    key = st.session_state.get("model_key", DEFAULT)
    return key if key != DEFAULT else (own_model_key() or DEFAULT)


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
    accuracy = models.accuracy(meta)
    score = "unscored" if accuracy is None else f"{accuracy:.2%}"
    when = str(meta.get("finished_at", ""))[5:16].replace("T", " ")  # "12-08 02:14": runs told apart by when too
    return " · ".join(filter(None, (meta.get("description", meta.get("key", "?")), score, when, meta.get("key", ""))))


def default_label() -> str:
    if current_limits().demo:
        return "Your model" if own_model_key() else "The demo model"
    return "Current model (mnist_model.h5)"


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
            decided = outcome.settle(my_owner(), meta["key"], what=f"upload {upload.name}") \
                if my_owner() is not None else None
            if decided is None or decided.adopted:
                st.session_state.model_key = DEFAULT if decided is not None else meta["key"]
                st.sidebar.success(f"Loaded {upload.name}: {meta['metrics']['test_accuracy']:.2%} on the test set.")
            else:
                st.sidebar.warning(decided.notice)
                st.sidebar.button("Use this model", key="upload_use", on_click=use_model, args=(meta["key"],))
            with database_optional("The disk quota's clean-up"):
                jobs.keep_within_quota()
    runs = visible_runs()
    if st.session_state.get("model_key", DEFAULT) not in runs:
        st.session_state.model_key = DEFAULT
    st.sidebar.selectbox("Model", [DEFAULT, *runs], key=kept("model_key"),
                         format_func=lambda k: default_label() if k == DEFAULT else run_label(runs[k]),
                         help="The model this session's pages use; other visitors keep theirs. The session "
                              "keeps your choice from page to page.")


def session_meta() -> dict[str, Any] | None:
    """The meta of the model this session uses (without loading it); None: no model yet."""
    key = chosen_key()
    if key != DEFAULT:
        meta = store.load_run_meta(key)
        if meta is not None:
            return meta
    default = store.default_model()
    if default is None:
        return None
    return default.meta or {"description": default.path.name}


def model_text(meta: dict[str, Any] | None) -> str:
    """"Model: what it is · its test accuracy": the one line every page shows."""
    if meta is None:
        return "Model: none yet"
    accuracy = models.accuracy(meta)
    score = "" if accuracy is None else f" · {accuracy:.2%} on the test set"
    which = ""
    if st.session_state.get("model_key", DEFAULT) == DEFAULT:
        which = " (the demo model)" if current_limits().demo else " (the current model)"
    return f"Model: {meta.get('description', meta.get('key', '?'))}{score}{which}"


def model_line(meta: dict[str, Any] | None = None) -> None:
    """One line naming the model this session's pages use (the same on every
    page unless the visitor picks another in the sidebar)."""
    st.caption(model_text(meta if meta is not None else session_meta()), help="Pick another in the sidebar "
               "of the Evaluate, Draw or Inside page, or in the kept models' list.")


def chosen_line(chosen: Chosen) -> None:
    """``model_line`` for the model a page loaded."""
    model_line(chosen.meta or {"description": f"the model in {chosen.path}"})


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.0f} kB"


@guarded
def kept_models_section(on_evaluate: bool = False, expanded: bool = False) -> None:
    """The kept models (scores, size, date, what made it): make one current
    (in the demo: this visitor's model), compare it with the session's model
    on the Evaluate page, or delete it."""
    demo = current_limits().demo
    rows = models.kept_models(session=session_id() if demo else None)
    with st.expander(f"Kept models ({len(rows)})", expanded=expanded, icon=":material/inventory_2:"):
        if not rows:
            st.caption("None yet: every training is kept here.")
            return
        in_use = chosen_key()
        def used(m: models.KeptModel) -> bool:
            return m.key == in_use or (in_use == DEFAULT and m.current and not demo)

        st.dataframe([{"in use": "✓" if used(m) else "",
                       "model": m.description,
                       "test accuracy": f"{m.accuracy:.2%}" if m.accuracy is not None else "—",
                       "test loss": f"{m.loss:.4f}" if m.loss is not None else "—",
                       "size": _size(m.size_bytes), "date": m.date, "made by": m.made_by,
                       "current": "current" if m.current and not demo else "", "key": m.key} for m in rows],
                     hide_index=True, width="stretch")
        by_key = {m.key: m for m in rows}
        if st.session_state.get("manage_key") not in by_key:
            st.session_state.manage_key = rows[0].key
        key = st.selectbox("Kept model", list(by_key), key=kept("manage_key"),
                           format_func=lambda k: run_label(by_key[k].meta))
        chosen = by_key[key]
        use, compare, delete = st.columns(3)
        if demo or not chosen.current:
            use.button("Use this model", key="manage_use", on_click=use_model, args=(key,),
                       icon=":material/check:", help="Locally: make it the current model, mnist_model.h5, for "
                       "every page and visitor." if not demo else "Your pages use it; other visitors keep theirs.")
        else:
            use.caption("The current model.")
        if compare.button("Compare with the model in use", key="manage_compare", on_click=_compare_with,
                          args=(key,), icon=":material/compare_arrows:") and not on_evaluate:
            st.switch_page("app_pages/evaluate.py")
        deletable = not chosen.current and (not demo or chosen.owner == session_id())
        if st.session_state.get("manage_delete") == key:
            delete.caption("Delete it for good?")
            yes, no = delete.columns(2)
            yes.button("Delete", key="manage_delete_yes", type="primary", on_click=_delete, args=(key, demo))
            no.button("Keep", key="manage_delete_no", on_click=st.session_state.pop, args=("manage_delete", None))
        else:
            delete.button("Delete", key="manage_delete_ask", disabled=not deletable, icon=":material/delete:",
                          on_click=st.session_state.__setitem__, args=("manage_delete", key),
                          help=None if deletable else ("Make another model current first." if chosen.current else
                                                      "In the public demo you can delete only your uploads."))
        if st.session_state.get("manage_message"):
            st.caption(st.session_state.pop("manage_message"))


def _compare_with(key: str) -> None:
    st.session_state.compare_with = key


def _delete(key: str, demo: bool) -> None:
    st.session_state.pop("manage_delete", None)
    try:
        models.delete(key, session=session_id(), demo=demo)
    except models.CannotDelete as exc:
        st.session_state.manage_message = f"Not deleted: {exc}."
        return
    if st.session_state.get("model_key") == key:
        st.session_state.model_key = DEFAULT
    st.session_state.manage_message = f"Deleted run `{key}`."

