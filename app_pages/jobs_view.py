"""Background jobs as a session sees them: its queued, running and finished
jobs in the sidebar of every page, and a job's live progress where it was
started (app_pages/training_view.py shows trainings with it).

Live views are fragments that rerun every second while their job is queued
or running, and rerun the whole page once when it ends."""

from __future__ import annotations

import streamlit as st

from app_pages.charts import line_chart, show_history
from app_pages.guard import guarded
from app_pages.session import DEFAULT, session_id
from model.lab import jobs
from model.lab.jobs import Job
from model.lab.limits import current_limits
from model.training.estimate import human

LIVE_S = 1.0


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


def adopt_finished_trainings() -> None:
    """A training this session asked for becomes its model once done (in the
    demo for this session only; locally it is the current model anyway)."""

    adopted = st.session_state.setdefault("adopted_jobs", set())
    demo = current_limits().demo
    mine = jobs.list_jobs(session=session_id() if demo else None, ids=st.session_state.get("my_jobs", []))
    for job in reversed(mine):  # oldest first: the latest training wins
        if job.active or job.id in adopted:
            continue
        adopted.add(job.id)
        if job.kind == "train" and job.status == "done":
            st.session_state.model_key = job.result["run"] if demo else DEFAULT


def progress_text(job: Job) -> str:
    p = job.progress or {}
    if job.status == "queued":
        return f"queued: number {job.position} in line"
    if job.kind == "tune":
        return f"trial {p.get('trials_done', 0)}/{p.get('trials', '?')} finished"
    if not p.get("step"):
        return "starting: loading data and building the model…"
    epoch, epochs = p["epoch"], p["epochs"]
    total = epochs * p["steps_per_epoch"]
    done = p["step"] / max(1, total)
    left = f" · {human(p['elapsed'] * (1 - done) / done)} left" if 0.02 < done < 1 else ""
    return f"epoch {min(epoch + 1, epochs)}/{epochs} · step {p['step']:,}/{total:,} · {p['elapsed']:.0f} s{left}"


def fraction(job: Job) -> float:
    p = job.progress or {}
    if job.kind == "tune":
        return min(1.0, p.get("trials_done", 0) / max(1, p.get("trials", 1)))
    if not p.get("step"):
        return 0.0
    return min(1.0, p["step"] / max(1, p["epochs"] * p["steps_per_epoch"]))


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
        st.progress(fraction(job), text=f"Running {job.title}: {progress_text(job)}. "
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
    mine = my_jobs()
    if not mine:
        return
    live = any(j.active and _own(j) for j in mine)
    with st.sidebar:
        st.fragment(run_every=2 * LIVE_S if live else None)(guarded(_jobs_panel))()


def _jobs_panel() -> None:
    mine = my_jobs()
    was_active = set(st.session_state.get("active_jobs", []))
    st.session_state.active_jobs = [j.id for j in mine if j.active and _own(j)]
    if was_active - set(st.session_state.active_jobs):  # one ended: show its result on the page
        st.rerun()
    st.caption("Jobs")
    for job in mine:
        if job.active:
            st.progress(fraction(job), text=f"{job.title}: {progress_text(job)}")
        elif job.status == "done":
            metrics = (job.result or {}).get("metrics") or {}
            score = f" · {metrics['test_accuracy']:.2%}" if "test_accuracy" in metrics else ""
            st.caption(f":material/check_circle: {job.title}{score}")
        else:
            st.caption(f":material/error: {job.title}: {job.message or job.status}")
