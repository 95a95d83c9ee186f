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
from model.lab import jobs, models, outcome
from model.lab.jobs import Job
from model.lab.limits import current_limits
from model.training.config import ConfigError, TrainConfig
from model.training.estimate import human

LIVE_S = 1.0
NOTICED = "noticed_jobs"  # kept choices: ids of the finished jobs whose outcome this visitor was told
MAX_NOTICED = 50
SHOWN = 3  # jobs listed in the sidebar; the earlier ones behind "Earlier jobs"


def watch(job: Job) -> None:
    """This session follows ``job`` (it started or joined it)."""
    mine = st.session_state.setdefault("my_jobs", [])
    if job.id not in mine:
        mine.append(job.id)


def my_jobs(limit: int = 12) -> list[Job]:
    """The jobs that concern this session: in the public demo the visitor's
    own and those it joined; locally (one person) every job on the server."""
    if current_limits().demo:
        return jobs.list_jobs(session=session_id(), ids=st.session_state.get("my_jobs", []), limit=limit)
    return jobs.list_jobs(limit=limit)


def my_owner() -> str | None:
    """Whose model this session's work may become (``model.lab.outcome.owner``)."""
    return outcome.owner(session_id(), current_limits())


def outcome_of(job: Job) -> outcome.Outcome | None:
    """What the lab decided, where ``job`` ended, for this session's owner (None: nothing to decide)."""
    mine = ((job.result or {}).get("outcomes") or {}).get(my_owner())
    return outcome.Outcome.from_dict(mine) if mine else None


def show_notices() -> None:
    """Each finished job's outcome, once per visitor, as a one-line notice on
    whatever page they are (the lab decided it when the job ended, with or
    without a tab open). A new model of theirs becomes what the pages show."""
    owner = my_owner()
    if owner is None:
        return
    seen = st.session_state.setdefault(kept(NOTICED), [])
    fresh = [job for job in reversed(jobs.list_jobs(session=session_id(), ids=st.session_state.get("my_jobs", [])))  # asked or joined here
             if job.status == "done" and job.id not in seen and outcome_of(job) is not None]
    for job in fresh[-3:]:  # a new browser is told of the latest few, not of every job before it
        seen.append(job.id)
        del seen[:-MAX_NOTICED]
        decided = outcome_of(job)
        st.toast(decided.notice, icon=":material/check_circle:" if decided.adopted else ":material/compare_arrows:")
        if decided.adopted:
            st.session_state.model_key = DEFAULT  # their model is the one the pages use


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
        wait = models.wait_in_line(before=job.id, workers=current_limits().workers)
        st.info(f"Queued: number {job.position} in line ({job.title}); it starts in about {human(wait)}, when "
                "the jobs before it end. You can leave this page: it runs anyway.", icon=":material/hourglass_top:")
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
    guarded(show_notices)()  # on every page: what the lab decided for a finished job, said once
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
    for job in mine[:SHOWN]:  # the latest few: the Model picker below stays in view
        _job_line(job)
    if len(mine) > SHOWN:
        with st.expander(f"Earlier jobs ({len(mine) - SHOWN})"):
            for job in mine[SHOWN:]:
                _job_line(job)


def _job_line(job: Job) -> None:
    if job.active:
        st.progress(job.fraction, text=f"{job.title}: {progress_text(job)}")
    elif job.status == "done":
        metrics = (job.result or {}).get("metrics") or {}
        score = f" · {metrics['test_accuracy']:.2%}" if "test_accuracy" in metrics else ""
        st.caption(f":material/check_circle: {job.title}{score} · `{job.key[:6]}`")
    else:
        st.caption(f":material/error: {job.title}: {job.message or job.status}")
