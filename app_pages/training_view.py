"""Trainings as a page shows them: started for this session, followed live,
then their result; and the starter model being made when the app has none."""

from __future__ import annotations

import streamlit as st

from app_pages.charts import show_history
from app_pages.jobs_view import (
    job_ended,
    job_progress,
    live,
    my_jobs,
    my_owner,
    outcome_of,
    progress_text,
    watch,
)
from app_pages.session import DEFAULT, remember, session_id
from model.lab import jobs, models, outcome, store
from model.lab.jobs import Job
from model.lab.limits import auto_warmup
from model.training.config import ConfigError, TrainConfig


def start_training(config: TrainConfig, slot: str) -> None:
    """Queue a training for this session (or join the same one); its job id
    goes in ``st.session_state[slot]`` for the page to follow."""
    try:
        # Where the job ends, the lab decides whether it becomes this visitor's model
        # (model.lab.outcome): a worse model never silently replaces a better one.
        job = jobs.submit_training(config, session=session_id())
    except (jobs.QueueFull, ConfigError) as exc:
        st.error(f"Not started: {exc}", icon=":material/error:")
        return
    jobs.ensure_runner()
    watch(job)
    remember(slot, job.id)  # the page shows it again after a reload or a closed tab


def show_training(slot: str) -> None:
    """The training in ``st.session_state[slot]`` (after a reload: this
    visitor's running one): live while it runs, then its result."""
    if st.session_state.get(slot) is None:
        running = [j for j in my_jobs() if j.kind == "train" and j.active and j.session == session_id()]
        st.session_state[slot] = running[0].id if running else None
    job_id = st.session_state.get(slot)
    if job_id is None or live(job_progress, job_id):
        return
    job = jobs.get(job_id)
    if job is None:
        return
    if job.status != "done":
        job_ended(job)
        return
    meta = store.load_run_meta(job.result["run"])
    if meta is None:
        st.warning("That run is no longer kept (the demo's disk quota removed it): train it again.")
        return
    st.markdown(f"**Result of {meta.get('description', job.title)}**")
    decided = outcome_of(job)
    key = meta["key"]
    before = decided.previous if decided is not None else None  # the visitor's model when it finished
    show_outcome(decided, key)  # first: in view without scrolling, on a phone too
    a, b, c = st.columns(3)
    new_accuracy, old_accuracy = models.accuracy(meta), (before or {}).get("accuracy")
    a.metric("Test accuracy", f"{meta['metrics']['test_accuracy']:.2%}",
             None if old_accuracy is None or new_accuracy is None
             else f"{(new_accuracy - old_accuracy) * 100:+.2f} points vs your model before")
    b.metric("Test loss", f"{meta['metrics']['test_loss']:.4f}")
    c.metric("Training time", f"{meta.get('train_seconds', 0):.1f} s", help="Of the run that trained it.")
    if before is not None:
        score = "" if old_accuracy is None else f" · {old_accuracy:.2%}"
        st.caption(f"Your model before: {before.get('description', '?')}{score} · this run: `{key}`")
    if job.result.get("cached"):
        st.info("These settings were trained before: the saved run was reused at once, nothing was retrained.")
    show_history(st, meta["history"])


def show_outcome(decided: outcome.Outcome | None, key: str) -> None:
    """What the lab decided for run ``key`` (None: nothing, it is only kept), with "Use this model"
    while it is not the visitor's model."""
    owner = my_owner()
    theirs = owner is not None and outcome.model_of(owner) == key
    if decided is not None and decided.adopted:
        st.success(decided.notice, icon=":material/check_circle:")
    elif theirs:
        st.success(f"Run `{key}` is now your model, as you chose: the Evaluate and Draw pages use it.",
                   icon=":material/check_circle:")
    else:
        if decided is not None:
            st.warning(decided.notice, icon=":material/compare_arrows:")
        else:
            st.info(f"Kept as run `{key}`.")
        use_button(key)


def use_button(key: str) -> None:
    """"Use this model": the person's own word, for their model (locally the current model for everyone)."""
    st.button("Use this model", key=f"use_{key}", type="primary", icon=":material/check:", on_click=use_model,
              args=(key,))


def use_model(key: str) -> None:
    """A button's callback (it runs before the widgets: it may set the model picker)."""
    owner = my_owner()
    if owner is not None:
        outcome.choose(owner, key)
    st.session_state.model_key = DEFAULT if owner is not None else key


def getting_ready() -> None:
    """No model at all: the shipped starter model serves at once, or the one
    the owner named is trained once, in the background, for everyone; this
    shows its progress, then the page reruns with it."""
    if not auto_warmup() and not st.session_state.get("warmup_requested"):
        st.info("No model yet: train one on the Train page, or the starter model right here.",
                icon=":material/info:")
        label = (f"Train the starter model ({jobs.starter_preset()}, about half a minute)" if jobs.trains_its_starter()
                 else f"Use the starter model ({jobs.starter_preset()}, trained by this lab's recipe, ships with it)")
        if st.button(label, type="primary", key="train_default"):
            st.session_state.warmup_requested = True
            st.rerun()
        return
    job = jobs.ensure_warmup(retry=st.session_state.pop("warmup_retry", False))
    if job is None:  # made at once: the shipped starter, or a kept run
        st.rerun()
    jobs.ensure_runner()
    if job.status == "failed":
        st.error(f"The starter model could not be trained: {job.message}", icon=":material/error:")
        if st.button("Try again", key="warmup_retry_button"):
            st.session_state.warmup_retry = True
            st.rerun()
        return
    if not live(_starter_progress, job.id):
        st.rerun()


def _starter_progress(job: Job) -> None:
    st.info("Getting ready: the app is training its starter model, once for everyone "
            "(about half a minute). The page continues by itself.", icon=":material/hourglass_top:")
    st.progress(job.fraction, text=progress_text(job))
