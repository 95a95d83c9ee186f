"""Background jobs as a session sees them: its queued, running and finished
jobs in the sidebar of every page, and a job's live progress where it was
started (app_pages/training_view.py shows trainings with it).

Live views are fragments that rerun every second while their job is queued
or running, and rerun the whole page once when it ends."""

from __future__ import annotations

import streamlit as st

from app_pages.charts import line_chart, show_history
from app_pages.guard import guarded
from app_pages.session import DEFAULT, kept, session_id
from model.lab import jobs, models
from model.lab.jobs import Job
from model.lab.limits import current_limits
from model.training.config import ConfigError, TrainConfig

LIVE_S = 1.0
ADOPTED = "adopted_jobs"  # session state: ids of the finished trainings made this session's model
MAX_ADOPTED = 50


def watch(job: Job) -> None:
    """This session follows ``job`` (it started or joined it)."""
    mine = st.session_state.setdefault("my_jobs", [])
    if job.id not in mine:
        mine.append(job.id)


def my_jobs(limit: int = 6) -> list[Job]:
    """The jobs that concern this session: in the public demo the visitor's
    own and those it joined; locally (one person) every job on the server."""
    if current_limits().demo:
        return jobs.list_jobs(session=session_id(), ids=st.session_state.get("my_jobs", []), limit=limit)
    return jobs.list_jobs(limit=limit)


def settle_training(job: Job) -> models.Settled | None:
    """Locally, what a finished training of this session did to the current
    model, decided once: made current when it scores at least as well as the
    current one (or there is none), else only kept until "Use this model"
    (``model.lab.models.settle``). None in the demo (a training is the
    visitor's own model) and for jobs that made themselves current."""
    settled = st.session_state.setdefault("settled_jobs", {})
    if job.id not in settled:
        if (job.kind != "train" or job.status != "done" or current_limits().demo
                or job.params.get("make_current", True)):
            return None
        settled[job.id] = models.settle(job.result["run"])
    return settled[job.id]


def adopt_finished_trainings() -> None:
    """A training this session asked for becomes its model once done: in the
    demo for this session only; locally when it became the current model
    (``settle_training``: a worse one waits for "Use this model")."""
    demo = current_limits().demo
    if not demo and not st.session_state.get("my_jobs"):
        return
    # In the demo a reload (a new session) finds the visitor's jobs by the cookie; the jobs
    # adopted are kept with the visitor's choices, so a model chosen since is not taken back.
    adopted = st.session_state.setdefault(kept(ADOPTED), [])
    mine = jobs.list_jobs(session=session_id() if demo else None, ids=st.session_state.get("my_jobs", []))
    for job in reversed(mine):  # oldest first: the latest training wins
        if job.active or job.id in adopted:
            continue
        adopted.append(job.id)
        del adopted[:-MAX_ADOPTED]
        if job.kind == "train" and job.status == "done":
            if demo:
                st.session_state.model_key = job.result["run"]
            else:
                outcome = settle_training(job)
                if outcome is None or outcome.made_current:
                    st.session_state.model_key = DEFAULT


def expected_total(job: Job) -> float | None:
    """The wait estimated for a training job when this session first saw it
    run (one number, kept, so the sidebar and the page count down from the same)."""
    if job.kind != "train":
        return None
    known = st.session_state.setdefault("job_expected", {})
    if job.id not in known:
        try:
            known[job.id] = models.estimate_wait(TrainConfig.from_dict(job.params["config"]), kept=False)
        except (KeyError, TypeError, ValueError, ConfigError):
            known[job.id] = None
    return known[job.id]


def progress_text(job: Job) -> str:
    return job.where(job.seconds_left(expected_total(job)))


def live(view, job_id: int) -> bool:
    """Run ``view(job)`` in a fragment that refreshes every second while the
    job is not over; when it ends, the whole page reruns once to show the
    result. False (and nothing shown) if the job is already over."""
    job = jobs.get(job_id)
    if job is None or not job.active:
        return False

    @st.fragment(run_every=LIVE_S)
    @guarded
    def refresh() -> None:
        jobs.ensure_runner()
        now = jobs.get(job_id)
        if now is None or not now.active:
            st.rerun()
        view(now)

    refresh()
    return True


def job_progress(job: Job) -> None:
    """A queued or running job: where it stands, its curves, and Cancel."""
    if job.status == "queued":
        st.info(f"Queued: number {job.position} in line ({job.title}); it starts when the jobs before it end. "
                "You can leave this page: it runs anyway.", icon=":material/hourglass_top:")
    else:
        st.progress(job.fraction, text=f"Running {job.title}: {progress_text(job)}. "
                                        "You can leave this page: it runs anyway.")
        p = job.progress or {}
        if job.kind == "train":
            left, right = st.columns(2)
            if p.get("batch_steps"):
                line_chart(left, p["batch_steps"], {"loss": p["batch_loss"], "accuracy": p["batch_accuracy"]},
                           x_title="step", title="Training batches (running mean of the epoch)")
            if p.get("epoch_logs"):
                names = p["epoch_logs"][0]
                show_history(right, {n: [logs[n] for logs in p["epoch_logs"]] for n in names})
        elif p.get("rows"):
            st.dataframe(p["rows"], hide_index=True)
    st.button("Cancel", key=f"cancel_{job.id}", on_click=jobs.cancel, args=(job.id,), icon=":material/cancel:")


def job_ended(job: Job) -> None:
    """A job that did not finish: why, in one line."""
    if job.status == "cancelled":
        st.warning(f"Cancelled: {job.title}.", icon=":material/cancel:")
    elif job.status != "done":
        st.error(f"{job.title}: {job.message}", icon=":material/error:")


def _own(job: Job) -> bool:
    """Did this session start or join ``job``? (Locally the panel lists others' too.)"""
    return job.session == session_id() or job.id in st.session_state.get("my_jobs", [])


def jobs_sidebar() -> None:
    """The session's jobs, in the sidebar of every page; live while one of
    its own runs (others' jobs, listed locally, refresh with the page: a
    panel rerunning every second in every session would cost each of them)."""
    guarded(adopt_finished_trainings)()  # on every page: a finished training settles wherever the visitor is
    mine = my_jobs()
    if not mine:
        return
    live = any(j.active and _own(j) for j in mine)
    st.session_state._full_run = True  # a whole page run: the page drawn after the panel shows the result
    try:
        with st.sidebar:
            st.fragment(run_every=2 * LIVE_S if live else None)(guarded(_jobs_panel))()
    finally:
        st.session_state._full_run = False


def _jobs_panel() -> None:
    mine = my_jobs()
    was_active = set(st.session_state.get("active_jobs", []))
    st.session_state.active_jobs = [j.id for j in mine if j.active and _own(j)]
    # One ended: rerun the page to show its result; only from the panel's own refresh. In
    # a whole page run the page, drawn next, shows it anyway, and a rerun would drop the
    # click that started this run (a Train click in the second a job ended was lost).
    if was_active - set(st.session_state.active_jobs) and not st.session_state.get("_full_run"):
        st.rerun()
    st.caption("Jobs")
    for job in mine:
        if job.active:
            st.progress(job.fraction, text=f"{job.title}: {progress_text(job)}")
        elif job.status == "done":
            metrics = (job.result or {}).get("metrics") or {}
            score = f" · {metrics['test_accuracy']:.2%}" if "test_accuracy" in metrics else ""
            st.caption(f":material/check_circle: {job.title}{score}")
        else:
            st.caption(f":material/error: {job.title}: {job.message or job.status}")
