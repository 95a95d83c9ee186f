"""Trainings as a page shows them: started for this session, followed live,
then their result; and the starter model being made when the app has none."""

from __future__ import annotations

import streamlit as st

from app_pages.charts import show_history
from app_pages.guard import database_optional
from app_pages.jobs_view import (
    adopt_finished_trainings,
    job_ended,
    job_progress,
    live,
    my_jobs,
    progress_text,
    settle_training,
    watch,
)
from app_pages.session import DEFAULT, session_id
from model.lab import jobs, models, store
from model.lab.jobs import Job
from model.lab.limits import auto_warmup, current_limits
from model.training.config import ConfigError, TrainConfig


def start_training(config: TrainConfig, slot: str) -> None:
    """Queue a training for this session (or join the same one); its job id
    goes in ``st.session_state[slot]`` for the page to follow."""
    try:
        # Never made current by the job itself: settle_training decides, once it is done,
        # so that a worse model does not silently replace the current one.
        job = jobs.submit_training(config, session=session_id(), make_current=False)
    except (jobs.QueueFull, ConfigError) as exc:
        st.error(f"Not started: {exc}", icon=":material/error:")
        return
    jobs.ensure_runner()
    watch(job)
    st.session_state[slot] = job.id


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
    with database_optional("Your finished trainings"):
        adopt_finished_trainings()  # before the result says which model the pages use
    meta = store.load_run_meta(job.result["run"])
    if meta is None:
        st.warning("That run is no longer kept (the demo's disk quota removed it): train it again.")
        return
    st.markdown(f"**Result of {meta.get('description', job.title)}**")
    outcome = settle_training(job)
    demo = current_limits().demo
    key = meta["key"]
    current = store.current_run()
    is_current = current is not None and current.key == key
    before = outcome.previous if outcome is not None else None  # the current model when it finished
    which = "previous" if is_current else "current"
    a, b, c = st.columns(3)
    new_accuracy, old_accuracy = models.accuracy(meta), models.accuracy(before)
    a.metric("Test accuracy", f"{meta['metrics']['test_accuracy']:.2%}",
             None if old_accuracy is None or new_accuracy is None
             else f"{(new_accuracy - old_accuracy) * 100:+.2f} points vs the {which} model")
    b.metric("Test loss", f"{meta['metrics']['test_loss']:.4f}")
    c.metric("Training time", f"{meta.get('train_seconds', 0):.1f} s", help="Of the run that trained it.")
    if before is not None:
        score = "" if old_accuracy is None else f" · {old_accuracy:.2%}"
        st.caption(f"The {which} model: {before.get('description', '?')}{score}")
    if job.result.get("cached"):
        st.info("These settings were trained before: the saved run was reused at once, nothing was retrained.")
    show_history(st, meta["history"])
    if demo:
        if st.session_state.get("model_key") == key:
            st.success(f"Kept as run `{key}`: it is now the model your Evaluate and Draw pages use "
                       "(other visitors keep the demo model).")
        else:
            st.info(f"Kept as run `{key}`; your pages use another model.")
            use_button(key, demo)
        return
    if is_current:
        st.success(f"Saved as `mnist_model.h5` (kept run `{key}`); it is now the model the "
                   "Evaluate and Draw pages use.")
    elif outcome is not None and outcome.worse and current is not None:
        worse_than_current(key, outcome.previous, demo)
    else:
        st.info(f"Kept as run `{key}`; the current model is another one.")
        use_button(key, demo)


def worse_than_current(key: str, previous: dict, demo: bool, what: str = "It") -> None:
    """A new run kept beside a better current model: say so, and offer it anyway."""
    accuracy = models.accuracy(previous)
    score = "" if accuracy is None else f" · {accuracy:.2%}"
    st.warning(f"{what} scores worse than the current model ({previous.get('description', '?')}{score}), so the "
               f"current model stays: it is kept as run `{key}`. Use it anyway?", icon=":material/compare_arrows:")
    use_button(key, demo)


def use_button(key: str, demo: bool) -> None:
    """"Use this model": locally the current model for everyone, in the demo this visitor's."""
    st.button("Use this model", key=f"use_{key}", type="primary", icon=":material/check:", on_click=use_model,
              args=(key, demo))


def use_model(key: str, demo: bool) -> None:
    """A button's callback (it runs before the widgets: it may set the model picker)."""
    if demo:
        st.session_state.model_key = key
    else:
        models.use(key)
        st.session_state.model_key = DEFAULT


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
