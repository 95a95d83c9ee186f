"""The Train page's ensemble section: kept models combined into one that
averages their probabilities (``model.training.ensemble``), kept as a run like the others."""

from __future__ import annotations

import streamlit as st

from app_pages.guard import guarded
from app_pages.jobs_view import my_owner
from app_pages.models import run_label, visible_runs
from app_pages.session import DEFAULT, session_id
from app_pages.training_view import show_outcome
from model.lab import outcome
from model.lab.limits import current_limits

MAX_MEMBERS = 5  # in-page: combining and scoring stays a matter of seconds


@guarded
def ensemble_section() -> None:
    """An expander: pick 2 to 5 kept runs, combine them, see the ensemble's test accuracy."""
    with st.expander("Combine kept models into an ensemble"):
        runs = visible_runs()
        if len(runs) < 2:
            st.info("Keep at least two models first (train them here, or upload them on the Evaluate or "
                    "Draw page's sidebar): an ensemble averages their probabilities.", icon=":material/info:")
            return
        st.caption(f"An ensemble averages its members' probabilities; it is saved as one ordinary Keras "
                   f"model, kept as a run and usable on every page. Here: 2 to {MAX_MEMBERS} members "
                   "(`python -m model ensemble` takes more).")
        chosen = st.multiselect("Members", list(runs), key="ensemble_members", max_selections=MAX_MEMBERS,
                                format_func=lambda k: run_label(runs[k]), placeholder="Choose 2 or more kept models")
        if st.button("Combine", key="ensemble_combine", disabled=len(chosen) < 2):
            _combine(chosen, runs)
        meta = st.session_state.get("ensemble_result")
        if meta is not None:
            _show(meta, runs)


def _combine(keys: list[str], runs: dict) -> None:
    from model.lab import jobs
    from model.lab.ensembles import ensemble_runs
    from model.training.ensemble import EnsembleError

    demo = current_limits().demo
    try:
        with st.spinner(f"Combining {len(keys)} models and scoring the ensemble on the test set…"):
            meta = ensemble_runs(keys, make_current=False, owner=session_id() if demo else None)
    except EnsembleError as exc:
        st.error(f"Not combined: {exc}", icon=":material/error:")
        return
    st.session_state.ensemble_result = meta
    owner = my_owner()  # the lab's rule decides whose model it becomes (model.lab.outcome), as for a training
    st.session_state.ensemble_outcome = (outcome.settle(owner, meta["key"], what=f"ensemble ({meta['description']})")
                                         if owner is not None else None)
    if st.session_state.ensemble_outcome is not None and st.session_state.ensemble_outcome.adopted:
        st.session_state.model_key = DEFAULT
    jobs.keep_within_quota()


def _show(meta: dict, runs: dict) -> None:
    members = [m for m in meta.get("members", []) if m in runs]
    best = max((runs[m].get("metrics", {}).get("test_accuracy", 0.0) for m in members), default=None)
    accuracy = meta["metrics"]["test_accuracy"]
    a, b = st.columns(2)
    a.metric("Ensemble test accuracy", f"{accuracy:.2%}",
             delta=None if best is None else f"{(accuracy - best) * 100:+.2f} points vs the best member")
    b.metric("Test loss", f"{meta['metrics']['test_loss']:.4f}")
    decided = st.session_state.get("ensemble_outcome")
    show_outcome(decided if decided is not None and decided.key == meta["key"] else None, meta["key"])
