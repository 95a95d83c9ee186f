"""Faults, made for real: the lab degrades, never breaks (issue 27).

PostgreSQL stopped and restarted under concurrent saves (nothing lost, nothing
twice, every failure reported); a server killed during a job (reported
interrupted at the next read, a resubmit starts anew); a lock held past the
timeout during a training (it finishes); a damaged ``lab.db`` and an
unreachable database under AppTest (every page renders, the Draw page reads
a drawing, the message names the file); a full disk on a real small tmpfs
(nothing half-made, one whole line).

No test reads a clock to judge the lab: a fault is made at a known point
(after a known number of saves, while a paced training runs, while a lock is
held until the test lets it go) and what happened is read from the lab (the
job table, the job's log, the exception). Timeouts here are hang guards only.
Where a fault can't be made (no PostgreSQL, no tmpfs), the test skips on a
developer's machine and fails under CI (``CI`` set), as tests/conftest.py does."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest
import sqlalchemy as sa
from conftest import POSTGRES_BINS, ROOT, drawn_digit
from test_pages import app, canvas_data, canvas_state, texts

from model.files import DiskFull, disk_full
from model.lab import db, drawings, jobs, store
from model.lab.limits import LOCAL
from model.training.callbacks import PACE_ENV
from model.training.config import TrainConfig

QUICK = TrainConfig(epochs=1, batch_size=256, learning_rate=0.1)
LONG = TrainConfig(epochs=200, batch_size=32)
PAGES = ["draw", "train", "evaluate", "inside", "tune", "drawings"]
GUARD_S = 300  # a hang guard only: no test asserts how long something took


def unavailable(message: str) -> NoReturn:
    """The fault can't be made here: skip on a developer's machine, fail under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this is a failure)")
    pytest.skip(message)


def drive(runner: jobs.Runner, job_id: int, until) -> jobs.Job:
    """The runner's rounds until ``until(job)`` holds (``GUARD_S``: a hang guard)."""
    deadline = time.monotonic() + GUARD_S
    while True:
        runner._round()
        job = jobs.get(job_id, runner.root)
        if until(job):
            return job
        assert time.monotonic() < deadline, f"hang guard: {job}"
        time.sleep(0.2)


def training(job: jobs.Job) -> bool:
    """Has the job's process trained a step (or ended)?"""
    return bool((job.progress or {}).get("step")) or not job.active


def digit_image(i: int) -> np.ndarray:
    """A distinct small 28x28 uint8 image for save number ``i``."""
    image = np.zeros((28, 28), np.uint8)
    image[4 + i % 20, 4:24] = 255
    image[4:24, 4 + (i // 20) % 20] = 128 + i % 100
    return image


def damage(path: Path, bad_sector: bool = False) -> None:
    """Cut an SQLite file to half its size, as a bad copy leaves it (or, with
    ``bad_sector``, overwrite 8 KiB in its middle)."""
    db.forget()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    half = len(data) // 2
    if bad_sector:
        data[half:half + 8192] = b"\xff" * 8192
    path.write_bytes(bytes(data if bad_sector else data[:half]))
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def filled_lab_db(lab_dir: Path, n: int = 200) -> Path:
    for i in range(n):
        drawings.save(digit_image(i), i % 10, canvas=np.full((140, 140), i % 200, np.uint8), limits=LOCAL)
    return lab_dir / store.RUNS / "lab.db"


# --- the database damaged or gone: pages ------------------------------------------


def test_a_damaged_lab_db_is_named_and_every_page_renders(lab_dir):
    path = filled_lab_db(lab_dir)
    damage(path)
    with pytest.raises(db.DatabaseCorrupt, match=f"{path}.*python -m model lab-db repair"):
        drawings.count()
    at = app().run()
    assert not at.exception, at.exception
    assert at.title[0].value.endswith("MNIST lab")  # the home page, from our own navigation
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        assert "Traceback" not in texts(at)
    at.switch_page("app_pages/drawings.py").run()
    assert str(path) in texts(at) and "lab-db repair" in texts(at)
    assert path.exists()  # never deleted by itself


def test_repair_moves_the_damaged_file_aside_and_keeps_what_reads(lab_dir):
    path = filled_lab_db(lab_dir)
    damage(path, bad_sector=True)
    out = subprocess.run([sys.executable, "-m", "model", "lab-db", "check"], capture_output=True, text=True, check=False,
                         cwd=ROOT, env={**os.environ, "MNIST_LAB_DIR": str(lab_dir)}, timeout=60)
    assert out.returncode == 1 and "damaged" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    out = subprocess.run([sys.executable, "-m", "model", "lab-db", "repair"], capture_output=True, text=True, check=False,
                         cwd=ROOT, env={**os.environ, "MNIST_LAB_DIR": str(lab_dir)}, timeout=60)
    assert out.returncode == 0, out.stderr
    aside = [p for p in path.parent.iterdir() if p.name.startswith("lab.db.damaged-") and p.suffix != ".db-wal"]
    assert aside and "moved the damaged database to" in out.stdout
    kept = drawings.count()  # this process's engine finds the fresh file by itself
    assert 0 < kept < 200  # the rows on the readable half came back
    assert db.check() is None


def test_the_draw_page_reads_a_drawing_with_the_database_unreachable(lab_with_model, monkeypatch):
    """Drawing needs no database: with none reachable the Draw page gives the
    canvas its model and reads a settled drawing, locally and in the demo,
    and says in one line what is missing. (A tap that cannot be saved:
    tests/browser/test_draw.py, in Chromium.)"""
    with socket.socket() as s:  # a port where no database listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MNIST_LAB_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{port}/lab")
    for demo in ("0", "1"):
        monkeypatch.setenv("MNIST_LAB_DEMO", demo)
        at = app().run()
        assert not at.exception, at.exception
        at.switch_page("app_pages/draw.py")
        at.session_state["draw"] = canvas_state(drawn_digit([[(140, 40), (140, 240)]], width=22))
        at.run()
        assert not at.exception, at.exception
        data = canvas_data(at)
        assert data["model"] is not None  # the browser reads
        assert int(np.argmax(data["server"]["probs"])) == 1  # and the server, for a browser that can't
        assert "Probability of each digit" in at.get("html")[0].proto.body
        assert "unavailable" in texts(at)  # one line says what is missing


def test_the_runner_backs_off_while_the_database_is_gone(lab_dir, monkeypatch, caplog):
    monkeypatch.setenv("MNIST_LAB_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/lab")
    runner = jobs.Runner(lab_dir, 1, LOCAL)
    pauses = []
    for _ in range(12):
        runner._round()
        pauses.append(runner.pause())
    assert pauses == sorted(pauses) and pauses[-1] == jobs.BACKOFF_MAX_S
    failures = [r for r in caplog.records if r.name == "mnist_lab" and r.levelname == "WARNING"]
    assert len(failures) == 1 and not failures[0].exc_info and "unavailable" in failures[0].getMessage()


# --- PostgreSQL stopped and restarted under concurrent saves -------------------------


class Postgres:
    """A PostgreSQL server of this test's own, which it may stop and start."""

    def __init__(self) -> None:
        if not POSTGRES_BINS:
            unavailable("PostgreSQL is not installed (make postgresql)")
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            unavailable(f"psycopg is missing (pip install -r requirements-dev.txt): {exc}")
        self.bin = POSTGRES_BINS[0].parent
        self.folder = Path(tempfile.mkdtemp(prefix="mnist-lab-faults-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.run("initdb", "-D", str(self.folder / "data"), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / tool), *args], check=True, cwd=self.folder, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "log"), "-w", "-o",
                 f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def postgres(lab_dir, monkeypatch):
    server = Postgres()
    monkeypatch.setenv("MNIST_LAB_DATABASE_URL", server.url)
    yield server
    db.forget()
    server.remove()


def test_saves_survive_postgresql_stopped_and_restarted(postgres):
    """Four visitors save 25 drawings each, each retrying a failed save with
    the same client id. The server is stopped once every visitor has saved 5
    (they wait for it there), and started again once every visitor has seen
    a save fail: on any machine, every visitor meets the server down."""
    before = 5  # saves of each visitor before the server goes down
    failures: dict[int, list[str]] = {v: [] for v in range(4)}
    failed = [threading.Event() for _ in range(4)]
    meet = threading.Barrier(5)  # the four visitors and the test: at the 5th save, then once it is down
    saved: dict[str, int] = {}
    lock = threading.Lock()

    def visitor(v: int) -> None:
        for n in range(25):
            if n == before:
                meet.wait(GUARD_S)  # all here: the test stops the server
                meet.wait(GUARD_S)  # it is down: save on
            i = v * 25 + n
            client_id = f"visitor{v}:{i}"
            while True:
                try:
                    drawing_id = drawings.save(digit_image(i), i % 10, session=f"v{v}", limits=LOCAL,
                                               client_id=client_id)
                    break
                except db.DatabaseUnavailable as exc:  # reported, in one line; the visitor clicks again
                    with lock:
                        failures[v].append(str(exc))
                    failed[v].set()
                    time.sleep(0.2)
            with lock:
                saved[client_id] = drawing_id

    visitors = [threading.Thread(target=visitor, args=(v,)) for v in range(4)]
    for t in visitors:
        t.start()
    stopped = False
    try:
        meet.wait(GUARD_S)  # every visitor has saved 5
        postgres.stop()
        stopped = True
        meet.wait(GUARD_S)
        for v, event in enumerate(failed):
            assert event.wait(GUARD_S), f"visitor {v} never saw the server down"  # a hang guard
    finally:
        meet.abort()  # a visitor still waiting (the test failed) gives up
        if stopped:
            postgres.start()
        for t in visitors:
            t.join(GUARD_S)
    assert not any(t.is_alive() for t in visitors)
    assert all(failures.values()), failures
    assert all("\n" not in f and "unavailable" in f for fs in failures.values() for f in fs)
    with db.connect() as conn:
        rows = conn.execute(sa.select(db.drawings.c.id, db.drawings.c.client_id)).all()
    assert len(rows) == 100 and len({r.client_id for r in rows}) == 100  # none lost, none twice
    assert {r.client_id: r.id for r in rows} == saved


def test_a_retried_save_stores_one_row(lab_database):
    first = drawings.save(digit_image(1), 1, client_id="abc", limits=LOCAL)
    again = drawings.save(digit_image(1), 1, client_id="abc", limits=LOCAL)
    other = drawings.save(digit_image(1), 1, limits=LOCAL)  # no client id: no check, as before
    assert again == first and other != first and drawings.count() == 2


def test_the_schema_upgrades_from_version_2(lab_dir):
    db.engine()
    url = db.database_url()
    db.forget()
    with sqlite3.connect(db.sqlite_path(url)) as conn:  # back to what version 2 made
        conn.execute("DROP INDEX drawings_by_client_id")
        conn.execute("ALTER TABLE drawings DROP COLUMN client_id")
        conn.execute("ALTER TABLE jobs DROP COLUMN lease")
        conn.execute("UPDATE schema_version SET version = 2")
    assert drawings.save(digit_image(2), 2, client_id="x", limits=LOCAL) == \
        drawings.save(digit_image(2), 2, client_id="x", limits=LOCAL)
    with db.connect() as conn:
        assert conn.execute(sa.select(db.schema_version.c.version)).scalar() == db.SCHEMA_VERSION


# --- jobs: a killed server, a held lock ---------------------------------------------

SERVER = """
import time
from model.lab import jobs
jobs.ensure_runner()
while True:
    time.sleep(1)
"""


def test_a_killed_server_s_job_is_interrupted_at_the_next_read(lab_dir):
    server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        job = jobs.submit_training(LONG, limits=LOCAL)
        deadline = time.monotonic() + 120
        while not ((jobs.get(job.id).progress or {}).get("step")):
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.3)
        with db.connect() as conn:
            lease = conn.execute(sa.select(db.jobs.c.lease).where(db.jobs.c.id == job.id)).scalar()
        child = lease["job"][0]
        server.kill()  # the server dies at once; a new one reads the jobs
        server.wait()
        ended = jobs.get(job.id)  # the very next read: from the lease, not a heartbeat gone quiet (STALE_S)
        assert ended.status == "interrupted", ended
        assert "the server restarted while it ran" in ended.message and "no sign of life" not in ended.message
        again = jobs.submit_training(LONG, limits=LOCAL)
        assert again.id != job.id and again.status == "queued"  # a new job, not the dead one
        deadline = time.monotonic() + GUARD_S
        while jobs.process_identity(child) is not None:  # the orphaned job process is stopped too
            assert time.monotonic() < deadline, "hang guard: the orphaned job process lives on"
            time.sleep(0.1)
    finally:
        if server.poll() is None:
            server.kill()


def test_a_job_stopped_with_its_server_is_interrupted_not_failed(lab_dir, monkeypatch):
    """Stopping the server (Ctrl-C, a redeploy) sends its process group SIGTERM:
    the job's own process (``python -m model.lab.jobs``, started by the
    runner, paced to an epoch an hour: still training when stopped) ends on
    it, and the runner says so as an interruption, leaving nothing half-made."""
    monkeypatch.setenv(PACE_ENV, "3600")
    job = jobs.submit_training(QUICK, limits=LOCAL)
    runner = jobs.Runner(lab_dir, 1, LOCAL)
    running = drive(runner, job.id, training)
    assert running.status == "running" and running.progress["step"] < running.progress["steps_per_epoch"], running
    process = runner.running[job.id][0]
    process.send_signal(signal.SIGTERM)
    process.wait(GUARD_S)
    assert process.returncode == -signal.SIGTERM  # it ended on the signal itself
    ended = drive(runner, job.id, lambda j: not j.active)
    assert ended.status == "interrupted" and "(SIGTERM), as when the server shuts down" in ended.message, ended
    assert not store.run_dir(QUICK.key(), lab_dir).exists() and store.load_run_meta(QUICK.key(), lab_dir) is None


def test_a_lock_held_past_the_timeout_during_a_training_does_not_stop_it(lab_dir, monkeypatch):
    """Another process holds the database's write lock while a training runs
    (paced to at least 10 s an epoch, so it is still running), until the test
    has seen both give up waiting: the training skipping a progress write (its
    log says so) and a click's save ("the lab is busy"), each while the lock is
    still held. Then the lock goes, and the training goes on and finishes."""
    monkeypatch.setenv(PACE_ENV, "10")
    config = TrainConfig(epochs=2, batch_size=512, learning_rate=0.1)
    job = jobs.submit_training(config, limits=LOCAL)
    runner = jobs.Runner(lab_dir, 1, LOCAL)
    running = drive(runner, job.id, training)
    assert running.status == "running", running
    job_log = lab_dir / store.RUNS / ".jobs" / f"{job.id}.log"
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another process's long write transaction, past the busy timeout
        conn = sqlite3.connect(db.sqlite_path(db.database_url()), timeout=30, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        held.set()
        release.wait(GUARD_S)  # until the test has seen what it waits for (a hang guard)
        conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(GUARD_S)
        with pytest.raises(db.DatabaseBusy, match="the lab is busy"):  # a click gives up by itself
            drawings.save(digit_image(3), 3, limits=LOCAL)
        deadline = time.monotonic() + GUARD_S
        while "progress not written" not in job_log.read_text():  # the training skipped a write
            assert time.monotonic() < deadline, f"hang guard: {job_log.read_text()[-2000:]}"
            time.sleep(0.2)
        assert not release.is_set() and holder.is_alive()  # both gave up while the lock was held
        assert jobs.get(job.id).status == "running"
    finally:
        release.set()
        holder.join()
    ended = drive(runner, job.id, lambda j: not j.active)
    assert ended.status == "done", ended.message
    assert ended.progress["step"] > running.progress["step"]  # it went on
    assert store.load_run_meta(config.key(), lab_dir) is not None


@pytest.mark.parametrize("lab_database", ["postgresql"], indirect=True)
def test_a_postgresql_table_locked_past_the_timeout_makes_a_save_say_busy_in_seconds(lab_database):
    """PostgreSQL's ``lock_timeout`` (``db.BUSY_S``): a save behind another
    session's exclusive lock gives up in seconds with one line, and saves
    again once the lock is gone."""
    drawings.save(digit_image(1), 1, limits=LOCAL)  # the schema exists
    engine = sa.create_engine(lab_database)
    try:
        with engine.connect() as holder:
            holding = holder.begin()
            holder.execute(sa.text(f"LOCK TABLE {db.drawings.name} IN ACCESS EXCLUSIVE MODE"))
            outcome: list[BaseException | None] = []

            def save() -> None:
                try:
                    drawings.save(digit_image(2), 2, limits=LOCAL)
                    outcome.append(None)
                except Exception as exc:
                    outcome.append(exc)

            saver = threading.Thread(target=save)
            saver.start()
            saver.join(GUARD_S)  # a hang guard: without the lock timeout it would wait for the lock forever
            gave_up = not saver.is_alive()  # the save ended while the lock was still held
            holding.rollback()
            saver.join(GUARD_S)
            assert gave_up, "the save waited for the lock until it was released"
            assert isinstance(outcome[0], db.DatabaseBusy) and "the lab is busy" in str(outcome[0]), outcome
        drawings.save(digit_image(2), 2, limits=LOCAL)
        assert drawings.count() == 2
    finally:
        engine.dispose()


def ended_by(sig: signal.Signals, tmp_path: Path) -> int:
    """The return code of a real process that ``sig`` ended (no core file)."""
    default = f"signal.signal({int(sig)}, signal.SIG_DFL); " if sig != signal.SIGKILL else ""  # not Python's own
    code = ("import os, resource, signal; resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); "
            f"{default}os.kill(os.getpid(), {int(sig)})")
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=False, timeout=GUARD_S).returncode


def test_each_ending_names_its_cause(tmp_path):
    """The codes are those of real processes ended by each signal (a job's
    process killed for real: tests/test_jobs.py, and SIGTERM above); whether
    the kernel's out-of-memory killer did it is its cgroup's count before and after."""
    kill, abort, term, interrupt = (ended_by(s, tmp_path) for s in (signal.SIGKILL, signal.SIGABRT, signal.SIGTERM,
                                                                     signal.SIGINT))
    assert "signal 9: out of memory or killed by hand" in jobs._crash_message(kill, None, None)
    assert "signal 9: out of memory or killed by hand" in jobs._crash_message(kill, 3, 3)
    assert "out of memory: the kernel" in jobs._crash_message(kill, 3, 4)
    assert "signal 6 (SIGABRT)" in jobs._crash_message(abort) and not jobs._stopped(abort)
    # The server shutting down stops its jobs: an interruption, not a failure.
    assert jobs._crash_message(term).startswith("interrupted: the training process was stopped (SIGTERM)")
    assert jobs._stopped(term) and jobs._stopped(interrupt) and not jobs._stopped(0) and not jobs._stopped(None)
    assert "database was unavailable" in jobs._crash_message(jobs.EX_TEMPFAIL)


# --- a full disk -------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A real 3 MiB tmpfs as the work folder, mounted here (as root: sessions and
    CI are; where mounting is not allowed it skips, and fails under CI)."""
    folder = tmp_path / "small"
    folder.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)], capture_output=True,
                              check=False, timeout=GUARD_S)
    except FileNotFoundError as exc:
        unavailable(f"can't mount a tmpfs here: {exc}")
    if done.returncode != 0:
        unavailable(f"can't mount a tmpfs here: {done.stderr.decode().strip()}")
    monkeypatch.setenv("MNIST_LAB_DIR", str(folder))
    monkeypatch.setenv("MNIST_LAB_WARMUP", "0")
    monkeypatch.delenv("MNIST_LAB_DATABASE_URL", raising=False)
    yield folder
    db.forget(folder)
    subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave: int) -> None:
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def test_a_full_disk_leaves_no_half_made_run_and_says_so_in_one_line(small_disk):
    from model.lab.runs import train

    drawings.save(digit_image(5), 5, limits=LOCAL)  # the database exists before the disk fills
    fill(small_disk, 400_000)  # room for the logs, not for the model's two files
    config = TrainConfig(epochs=1, batch_size=512, learning_rate=0.1)
    with pytest.raises(DiskFull) as caught:
        train(config, root=small_disk)
    message = str(caught.value)
    assert message.startswith("the disk is full: the lab needs about ") and "MB free in" in message
    assert "\n" not in message and str(small_disk) in message
    assert [p.name for p in (small_disk / store.RUNS).iterdir() if p.is_dir()] in ([], [".jobs"])
    assert store.load_run_meta(config.key(), small_disk) is None
    fill(small_disk, 0)
    with pytest.raises(db.DatabaseUnavailable) as caught:  # a save on the full disk: one line, nothing half-kept
        for i in range(50):
            drawings.save(digit_image(i), i % 10, canvas=np.random.default_rng(i).integers(0, 255, (200, 200),
                                                                                        np.uint8), limits=LOCAL)
    assert "the disk is full" in str(caught.value) and "\n" not in str(caught.value)
    (small_disk / "filler").unlink()
    db.forget(small_disk)
    assert drawings.count() >= 1  # room again: the database is whole


def test_a_model_file_cut_short_by_a_full_disk_is_named_in_one_line(small_disk):
    """The real fault: Keras writing an .h5 on a full disk, whose library
    (HDF5) reports it over several lines; the job's message is one whole line."""
    import keras

    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128), keras.layers.Dense(10)])
    fill(small_disk, 100_000)  # room for the file's start, not for its weights
    with pytest.raises(OSError) as caught:
        model.save(small_disk / "model.h5")
    assert caught.value.errno == errno.ENOSPC or "No space left on device" in str(caught.value)
    why = jobs._why(caught.value, small_disk)
    assert why.startswith("the disk is full: the lab needs about ") and str(small_disk) in why
    assert "\n" not in why


def test_disk_full_is_recognised_in_its_many_wordings():
    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk_full(sqlite3.OperationalError("database or disk is full"))
    assert not disk_full(RuntimeError("Something else"))


def test_start_up_removes_what_a_crash_left(lab_dir):
    runs = lab_dir / store.RUNS
    dead = subprocess.Popen(["true"])
    dead.wait()
    (runs / f"{store.TEMP_PREFIX}abc-{dead.pid}" / "logs").mkdir(parents=True)
    (runs / f"{store.TEMP_PREFIX}def-{os.getpid()}").mkdir()  # this process's own: being written
    (runs / "halfmade").mkdir()
    (runs / "halfmade" / "model.h5").write_bytes(b"x")
    assert sorted(store.remove_leftovers(lab_dir)) == [f"{store.TEMP_PREFIX}abc-{dead.pid}", "halfmade"]
    assert (runs / f"{store.TEMP_PREFIX}def-{os.getpid()}").exists()
