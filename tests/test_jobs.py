"""Background jobs (model.lab.jobs) with real job processes: a training runs to
its end in its own process, the same work is queued once, the queue is
bounded, Cancel and the time budget stop a running job and leave no half-made
run, a crashed job is reported, a job whose server died is reported as
interrupted; and the files a job writes (the atomic current-model switch, the
disk quota)."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from model.lab import db, jobs, store
from model.lab.limits import DEMO, LOCAL
from model.training.config import PRESETS, TrainConfig, preset_config

QUICK = TrainConfig(epochs=1, batch_size=256, learning_rate=0.1)  # about 2 s of training
LONG = TrainConfig(epochs=200, batch_size=32)  # far longer than any test waits


def drive(runner: jobs.Runner, job_id: int, until, timeout: float = 600) -> jobs.Job:
    """Run the runner's rounds until ``until(job)`` holds (``timeout``: a hang guard, not a speed check)."""
    deadline = time.monotonic() + timeout
    while True:
        runner.step()
        job = jobs.get(job_id, runner.root)
        if until(job):
            return job
        assert time.monotonic() < deadline, f"timed out: {job}"
        time.sleep(0.2)


def over(job: jobs.Job) -> bool:
    return not job.active


def test_a_training_job_runs_in_its_own_process_to_its_end(lab_dir):
    job = jobs.submit_training(QUICK, session="a", limits=LOCAL)
    assert job.status == "queued" and job.position == 1
    runner = jobs.Runner(lab_dir, workers=1, limits=LOCAL)
    running = drive(runner, job.id, lambda j: j.status == "running")
    child = runner.running[job.id][0].pid
    command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
    assert b"model.lab.jobs" in command and str(job.id).encode() in command, command  # the job's own process
    assert int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid()
    done = drive(runner, job.id, over)
    assert done.status == "done", done.message
    assert done.result["run"] == QUICK.key() and done.result["metrics"]["test_accuracy"] > 0.85
    assert done.progress["epoch"] == 1 and done.progress["event"] == "end"
    assert store.current_run(lab_dir).key == QUICK.key()  # locally: the new current model
    assert running.started_at is not None and done.finished_at >= running.started_at


def test_the_same_settings_join_one_job_and_a_kept_run_needs_none(lab_dir):
    first = jobs.submit_training(QUICK, session="a", limits=LOCAL)
    second = jobs.submit_training(QUICK, session="b", limits=LOCAL)
    assert second.id == first.id
    drive(jobs.Runner(lab_dir, 1, LOCAL), first.id, over)
    again = jobs.submit_training(QUICK, session="c", limits=LOCAL)
    assert again.id != first.id and again.status == "done" and again.result["cached"]


def test_in_the_demo_a_visitors_training_never_replaces_the_demo_model(lab_dir):
    job = jobs.submit_training(QUICK, session="visitor", limits=DEMO)
    assert job.params["make_current"] == "settle" and job.params["owners"] == ["visitor"]
    done = drive(jobs.Runner(lab_dir, 1, DEMO), job.id, over)
    assert done.status == "done"
    assert store.current_run(lab_dir) is None  # nothing became current for everyone
    assert store.load_run_meta(QUICK.key(), lab_dir) is not None  # but the run is kept


def test_the_starter_preset_is_the_default_unless_the_owner_names_one(monkeypatch):
    from model.lab.limits import auto_warmup

    monkeypatch.setenv("MNIST_LAB_WARMUP", "classic")
    assert jobs.starter_preset() == "classic" and auto_warmup()
    monkeypatch.setenv("MNIST_LAB_WARMUP", "fast-cnn:3")  # a preset with other epochs
    assert preset_config(jobs.starter_preset()) == dataclasses.replace(PRESETS["fast-cnn"], epochs=3)
    for value in ("1", "", "no-such-preset", "classic:", "classic:x", "classic:0", "classic:201"):
        monkeypatch.setenv("MNIST_LAB_WARMUP", value)
        assert jobs.starter_preset() == jobs.WARMUP_PRESET == "fast-cnn" and auto_warmup()
    monkeypatch.setenv("MNIST_LAB_WARMUP", "0")
    assert not auto_warmup()


STRONGER = TrainConfig(epochs=1, batch_size=128, optimizer="adam", learning_rate=0.001)  # above QUICK


def test_the_demo_replaces_its_starter_with_a_better_model(lab_dir, monkeypatch):
    """Issue 23: once the starter serves, the stronger preset trains once in
    the background and becomes the demo model if it scores at least as well
    (``champion.settle``; a worse one stays kept only: tests/test_session.py)."""
    upgrade, promoted = STRONGER, True
    from model.lab.runs import train
    from model.training.config import PRESETS

    monkeypatch.setitem(PRESETS, "test-starter", QUICK)
    monkeypatch.setitem(PRESETS, "test-upgrade", upgrade)
    monkeypatch.setenv("MNIST_LAB_WARMUP", "test-starter")  # the owner names the starter
    monkeypatch.setattr(jobs, "_upgrade_seen", set())
    monkeypatch.setenv("MNIST_LAB_UPGRADE", "test-upgrade")
    assert jobs.ensure_upgrade(lab_dir) is None  # no model yet: the warm-up's turn
    train(QUICK, root=lab_dir)  # the starter serves
    job = jobs.ensure_upgrade(lab_dir)
    assert job.session == jobs.UPGRADE_SESSION and job.params["make_current"] == "if_better"
    assert jobs.ensure_upgrade(lab_dir) is None  # queued once; this process looks no more
    done = drive(jobs.Runner(lab_dir, 1, DEMO), job.id, over)
    assert done.status == "done", done.message
    better = store.load_run_meta(upgrade.key(), lab_dir)["metrics"]["test_accuracy"]
    starter = store.load_run_meta(QUICK.key(), lab_dir)["metrics"]["test_accuracy"]
    assert (better > starter) is promoted
    assert store.current_run(lab_dir).key == (upgrade.key() if promoted else QUICK.key())
    monkeypatch.setattr(jobs, "_upgrade_seen", set())  # a restarted server: the job ended, none again
    assert jobs.ensure_upgrade(lab_dir) is None
    assert len(jobs.list_jobs(lab_dir, session=jobs.UPGRADE_SESSION)) == 1


def test_the_demo_upgrade_is_cut_to_serve_within_five_minutes_on_this_machine(lab_dir, monkeypatch):
    """Fewer epochs where the preset's take longer, from the Train page's
    estimate; none decided while that estimate waits for its probe."""
    from model.lab import pace

    strong = PRESETS["strong-cnn"]

    def estimate(config, root=None, kept=None):  # 20 s of start-up and build, then 80 s an epoch
        return 20.0 + 80.0 * config.epochs, "probe"

    monkeypatch.setattr(pace, "training_estimate", estimate)
    assert jobs.upgrade_config("strong-cnn") == dataclasses.replace(strong, epochs=3)  # (300 - 20) // 80
    monkeypatch.setattr(pace, "training_estimate", lambda config, root=None, kept=None: (10.0 * config.epochs, "probe"))
    assert jobs.upgrade_config("strong-cnn") == strong  # fast enough: the preset as it is
    monkeypatch.setattr(pace, "training_estimate", lambda config, root=None, kept=None: (1e4 * config.epochs, "probe"))
    assert jobs.upgrade_config("strong-cnn").epochs == jobs.MIN_UPGRADE_EPOCHS  # never fewer
    assert jobs.upgrade_config("strong-cnn:7").epochs == 7  # the owner's epochs stand
    monkeypatch.setattr(pace, "training_estimate", lambda config, root=None, kept=None: (1e4, "guess"))
    monkeypatch.setattr(pace, "measure", lambda config, root=None, then=None: True)
    assert jobs.upgrade_config("strong-cnn") is None  # its pace is being measured: decided later


def test_the_demo_upgrade_waits_for_its_probe_then_starts_by_itself(lab_dir, monkeypatch):
    """A stronger model of another kind than the starter has its pace probed
    first; when the probe ends, its job is queued and the runner started from
    the probe's thread: no later page run is needed (a lone visitor drawing
    reruns only the canvas's fragment)."""
    from model.lab import pace
    from model.lab.runs import train

    release, started = threading.Event(), []

    def held(config):
        release.wait(30)
        return 0.001

    monkeypatch.setitem(PRESETS, "test-starter", QUICK)
    monkeypatch.setitem(PRESETS, "test-upgrade", dataclasses.replace(PRESETS["fast-cnn"], epochs=1))
    monkeypatch.setenv("MNIST_LAB_WARMUP", "test-starter")  # the owner names the starter
    monkeypatch.setattr(jobs, "_upgrade_seen", set())
    monkeypatch.setattr(jobs, "ensure_runner", lambda root=None, workers=None: started.append(root))
    monkeypatch.setattr(pace, "run_probe", held)
    monkeypatch.setenv("MNIST_LAB_UPGRADE", "test-upgrade")
    monkeypatch.setenv("MNIST_LAB_PROBE", "1")
    train(QUICK, root=lab_dir)  # the starter (an MLP) serves: the CNN's pace is a guess
    assert jobs.ensure_upgrade(lab_dir) is None and pace.busy(lab_dir)
    assert jobs.ensure_upgrade(lab_dir) is None  # a second page run meanwhile: still measuring
    assert not jobs.list_jobs(lab_dir, session=jobs.UPGRADE_SESSION)
    release.set()
    for thread in [t for t in threading.enumerate() if t.name.startswith("probe-")]:
        thread.join(timeout=30)
    [job] = jobs.list_jobs(lab_dir, session=jobs.UPGRADE_SESSION)
    assert job.status == "queued" and job.key == PRESETS["test-upgrade"].key()
    assert started == [lab_dir.resolve()]


def test_the_demo_upgrade_can_be_turned_off(lab_dir, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_UPGRADE", "0")
    assert jobs.upgrade_preset() is None
    monkeypatch.setenv("MNIST_LAB_UPGRADE", "no-such-preset")
    assert jobs.upgrade_preset() is None
    monkeypatch.setenv("MNIST_LAB_UPGRADE", "strong-cnn:4")  # fewer epochs on a slower machine
    assert preset_config(jobs.upgrade_preset()).epochs == 4
    monkeypatch.delenv("MNIST_LAB_UPGRADE")
    assert jobs.upgrade_preset() == jobs.UPGRADE_PRESET == "strong-cnn"


def test_the_queue_is_bounded_and_first_come_first_served(lab_dir):
    small = dataclasses.replace(LOCAL, max_queue=2)
    a = jobs.submit_training(QUICK, limits=small)
    b = jobs.submit_training(dataclasses.replace(QUICK, seed=1), limits=small)
    with pytest.raises(jobs.QueueFull, match="queue is full"):
        jobs.submit_training(dataclasses.replace(QUICK, seed=2), limits=small)
    assert [j.position for j in jobs.list_jobs(lab_dir)] == [2, 1]
    runner = jobs.Runner(lab_dir, 1, small)
    runner.step()
    assert jobs.get(a.id).status == "running" and jobs.get(b.id).status == "queued"
    assert jobs.get(b.id).position == 1
    jobs.cancel(a.id)
    jobs.cancel(b.id)
    drive(runner, a.id, over)


def test_in_the_demo_a_session_has_one_waiting_job(lab_dir):
    jobs.submit_training(QUICK, session="s", limits=DEMO)
    with pytest.raises(jobs.QueueFull, match="already have a job waiting"):
        jobs.submit_training(dataclasses.replace(QUICK, seed=1), session="s", limits=DEMO)
    jobs.submit_training(dataclasses.replace(QUICK, seed=1), session="other", limits=DEMO)


def test_cancel_stops_a_running_job_and_leaves_no_half_made_run(lab_dir):
    job = jobs.submit_training(LONG, limits=LOCAL)
    runner = jobs.Runner(lab_dir, 1, LOCAL)
    drive(runner, job.id, lambda j: (j.progress or {}).get("step", 0) > 0)
    proc = runner.running[job.id][0]
    assert list((lab_dir / store.RUNS).glob(f"{store.TEMP_PREFIX}{LONG.key()}-*/logs"))  # logs, in a temporary folder
    assert not store.run_dir(LONG.key(), lab_dir).exists()  # nothing under its real name until complete
    jobs.cancel(job.id)
    ended = drive(runner, job.id, over)
    assert ended.status == "cancelled"
    assert proc.poll() is not None  # the process is gone
    assert not store.run_dir(LONG.key(), lab_dir).exists()
    assert not list((lab_dir / store.RUNS).glob(f"{store.TEMP_PREFIX}*"))
    assert not store.training_busy(lab_dir)


def test_cancel_of_a_queued_job_means_it_never_starts(lab_dir):
    job = jobs.submit_training(QUICK, limits=LOCAL)
    jobs.cancel(job.id)
    runner = jobs.Runner(lab_dir, 1, LOCAL)
    runner.step()
    assert jobs.get(job.id).status == "cancelled" and not runner.running


def test_the_time_budget_stops_a_job(lab_dir):
    budget = dataclasses.replace(LOCAL, job_seconds=1)
    job = jobs.submit_training(LONG, limits=budget)
    ended = drive(jobs.Runner(lab_dir, 1, budget), job.id, over)
    assert ended.status == "failed" and "time limit" in ended.message


def test_the_servers_own_jobs_have_no_visitor_time_budget(lab_dir):
    """The demo's stronger model trains longer than a visitor's job may (13 minutes on these
    2 cores without bfloat16): the budget is the visitors'."""
    budget = dataclasses.replace(LOCAL, job_seconds=1)
    job = jobs.submit("train", LONG.key(), {"config": LONG.to_dict(), "make_current": "if_better",
                                            "description": "the server's"}, jobs.UPGRADE_SESSION, budget, lab_dir)
    runner = jobs.Runner(lab_dir, 1, budget)
    running = drive(runner, job.id, lambda j: (j.progress or {}).get("step") or not j.active)
    assert running.status == "running", running.message  # seconds past the budget, still going
    jobs.cancel(job.id)
    drive(runner, job.id, over)


def test_a_job_process_that_dies_is_reported_in_one_line(lab_dir):
    job = jobs.submit_training(LONG, limits=LOCAL)
    runner = jobs.Runner(lab_dir, 1, LOCAL)
    drive(runner, job.id, lambda j: j.status == "running")
    os.kill(runner.running[job.id][0].pid, signal.SIGKILL)  # as the out-of-memory killer would
    ended = drive(runner, job.id, over)
    assert ended.status == "failed" and "killed" in ended.message and "\n" not in ended.message
    assert not store.run_dir(LONG.key(), lab_dir).exists()


def test_a_job_whose_server_died_is_reported_as_interrupted(lab_dir):
    job = jobs.submit_training(QUICK, limits=LOCAL)
    stale = time.time() - jobs.STALE_S - 1
    with db.engine().begin() as conn:  # as a server killed mid-job leaves it
        conn.execute(db.jobs.update().values(status="running", started_at=stale, heartbeat=stale))
    ended = jobs.get(job.id)
    assert ended.status == "interrupted" and "restarted" in ended.message
    assert jobs.submit_training(QUICK, limits=LOCAL).id != job.id  # and it can be asked for again


def test_a_jobs_progress_reads_in_one_line_and_its_time_left_counts_down():
    base = jobs.Job(id=1, kind="train", key="k", params={"config": QUICK.to_dict()}, session=None,
                    status="queued", message="", progress=None, result=None, cancel=False,
                    created_at=0.0, started_at=None, finished_at=None, position=2)
    assert base.fraction == 0.0 and base.where() == "queued: number 2 in line" and base.seconds_left(60) is None
    started = time.time() - 10
    running = dataclasses.replace(base, status="running", started_at=started, position=None)
    assert running.where(30) == "starting: TensorFlow, the data and the model · about 30 s left"
    halfway = dataclasses.replace(running, progress={"step": 300, "epochs": 3, "steps_per_epoch": 200,
                                                     "epoch": 1, "elapsed": 8.0})
    assert halfway.fraction == 0.5
    assert halfway.where() == "epoch 2/3 · step 300/600 · 8 s"
    left = halfway.seconds_left(60.0)
    assert 0 < left < 60 - 10  # less than the whole estimate minus the time gone
    later = dataclasses.replace(halfway, progress={**halfway.progress, "step": 540, "elapsed": 14.0})
    assert later.fraction == 0.9 and later.seconds_left(60.0) < left
    tune = dataclasses.replace(running, kind="tune", params={}, progress={"trials_done": 3, "trials": 4})
    assert tune.fraction == 0.75 and tune.where() == "trial 3/4 finished" and tune.title == "hyperparameter search"


def test_the_database_schema_is_versioned(lab_dir):
    import sqlalchemy as sa

    with db.engine().connect() as conn:
        assert conn.execute(sa.select(db.schema_version.c.version)).scalars().all() == [db.SCHEMA_VERSION]


# --- files ------------------------------------------------------------------------


def test_readers_always_see_the_current_model_and_its_sidecar_as_one(lab_dir, default_run):
    import shutil

    shutil.copytree(default_run.path.parent / "models", lab_dir / "models")
    key = default_run.meta["key"]
    other = "copy-of-" + key
    shutil.copytree(store.run_dir(key, lab_dir), store.run_dir(other, lab_dir))
    meta = store.read_json(store.run_dir(other, lab_dir) / "meta.json")
    store.write_json(store.run_dir(other, lab_dir) / "meta.json", {**meta, "key": other})
    store.make_current(key, lab_dir)
    stop, seen = threading.Event(), []

    def switch() -> None:
        while not stop.is_set():
            for k in (key, other):
                store.make_current(k, lab_dir)

    thread = threading.Thread(target=switch)
    thread.start()
    try:
        for _ in range(2000):
            current = store.current_run(lab_dir)
            seen.append(current.key)
            assert current.meta["key"] == current.key == current.path.parent.name
    finally:
        stop.set()
        thread.join()
    assert set(seen) == {key, other}
    assert (lab_dir / "mnist_model.h5").read_bytes() == store.run_model_path(other, lab_dir).read_bytes()


def test_the_disk_quota_evicts_the_least_recently_used_run_first(lab_dir):
    for i, key in enumerate(("old", "pinned", "recent")):
        folder = store.run_dir(key, lab_dir)
        folder.mkdir(parents=True)
        (folder / "model.h5").write_bytes(b"x" * 1000)
        os.utime(folder / "model.h5", (1000 + i, 1000 + i))
        os.utime(folder, (1000 + i, 1000 + i))
    store.touch_run("recent", lab_dir)
    evicted = store.enforce_quota(2000, protected={"pinned"}, root=lab_dir)
    assert evicted == ["old"]
    assert store.enforce_quota(500, protected={"pinned"}, root=lab_dir) == ["recent"]
    assert store.run_dir("pinned", lab_dir).exists()


def test_in_the_demo_an_upload_is_listed_for_its_session_only(lab_dir):
    for key, owner in (("shared-run", None), ("upload-a", "a"), ("upload-b", "b")):
        store.write_json(store.run_dir(key, lab_dir) / "meta.json", {"key": key, "owner": owner})
    assert {m["key"] for m in store.list_runs(lab_dir, session="a")} == {"shared-run", "upload-a"}
    assert {m["key"] for m in store.list_runs(lab_dir)} == {"shared-run", "upload-a", "upload-b"}


def test_the_owner_pins_the_demo_model(lab_dir, default_run, monkeypatch):
    import shutil

    pinned = lab_dir / "owner.h5"
    shutil.copy(default_run.path, pinned)
    monkeypatch.setenv("MNIST_LAB_DEMO_MODEL", str(pinned))
    assert store.default_model(lab_dir) is None  # not in demo mode: the pin does not apply
    monkeypatch.setenv("MNIST_LAB_DEMO", "1")
    chosen = store.default_model(lab_dir)
    assert chosen.path == pinned and chosen.meta["description"] == "the demo model (owner.h5)"
