"""Faults, made for real: the lab degrades, never breaks (issue 27).

PostgreSQL stopped and restarted under concurrent saves (nothing lost, nothing
twice, every failure reported); a server killed during a job (reported
interrupted at the next read, a resubmit starts anew); a lock held past the
timeout during a training (it finishes); a damaged ``lab.db`` and an
unreachable database under AppTest (every page renders, the Draw page reads
a drawing, the message names the file); a full disk on a real small tmpfs
(nothing half-made, one whole line)."""

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

import numpy as np
import pytest
import sqlalchemy as sa
from conftest import POSTGRES_BINS, ROOT, drawn_digit
from test_pages import app, canvas_data, canvas_state, texts

from model.files import DiskFull, disk_full
from model.lab import db, drawings, jobs, store
from model.lab.limits import LOCAL
from model.training.config import TrainConfig

QUICK = TrainConfig(epochs=1, batch_size=256, learning_rate=0.1)
LONG = TrainConfig(epochs=200, batch_size=32)
PAGES = ["draw", "train", "evaluate", "inside", "tune", "drawings"]


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
            pytest.skip("PostgreSQL is not installed (make postgresql)")
        pytest.importorskip("psycopg")
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
    the same client id, while the server is stopped and started again."""
    failures: list[str] = []
    saved: dict[str, int] = {}
    lock = threading.Lock()

    def visitor(v: int) -> None:
        for n in range(25):
            i = v * 25 + n
            client_id = f"visitor{v}:{i}"
            while True:
                try:
                    drawing_id = drawings.save(digit_image(i), i % 10, session=f"v{v}", limits=LOCAL,
                                               client_id=client_id)
                    break
                except db.DatabaseUnavailable as exc:  # reported, in one line; the visitor clicks again
                    with lock:
                        failures.append(str(exc))
                    time.sleep(0.2)
            with lock:
                saved[client_id] = drawing_id
            time.sleep(0.02)

    visitors = [threading.Thread(target=visitor, args=(v,)) for v in range(4)]
    for t in visitors:
        t.start()
    time.sleep(0.5)
    postgres.stop()
    time.sleep(2)
    postgres.start()
    for t in visitors:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in visitors)
    assert failures, "the server never went down under the saves"
    assert all("\n" not in f and "unavailable" in f for f in failures)
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
        assert conn.execute(sa.select(db.schema_version.c.version)).scalar() == 3


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
        started = time.monotonic()
        ended = jobs.get(job.id)
        assert time.monotonic() - started < 1.0
        assert ended.status == "interrupted" and "restarted" in ended.message
        again = jobs.submit_training(LONG, limits=LOCAL)
        assert again.id != job.id and again.status == "queued"  # a new job, not the dead one
        deadline = time.monotonic() + 10
        while jobs.process_identity(child) is not None:  # the orphaned job process is stopped too
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        if server.poll() is None:
            server.kill()


def test_a_job_stopped_with_its_server_is_interrupted_not_failed(lab_dir):
    """Stopping the server (Ctrl-C, a redeploy) sends its process group SIGTERM:
    the job's process ends on it, and the runner says so as an interruption."""
    job = jobs.submit_training(TrainConfig(epochs=1), limits=LOCAL)
    runner = jobs.Runner(lab_dir, workers=1)
    assert runner._claim() == job.id
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    runner.running[job.id] = (process, time.time(), None)
    process.send_signal(signal.SIGTERM)
    process.wait(10)
    runner.step()
    ended = jobs.get(job.id)
    assert ended.status == "interrupted" and "(SIGTERM), as when the server shuts down" in ended.message


def test_a_lock_held_past_the_timeout_during_a_training_does_not_stop_it(lab_dir):
    config = TrainConfig(epochs=3, batch_size=128, learning_rate=0.1)
    job = jobs.submit_training(config, limits=LOCAL)
    runner = jobs.Runner(lab_dir, 1, LOCAL)
    deadline = time.monotonic() + 180
    while not (jobs.get(job.id).progress or {}).get("step"):
        runner._round()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    held = threading.Event()

    def hold() -> None:  # another process's long write transaction, past the busy timeout
        conn = sqlite3.connect(db.sqlite_path(db.database_url()), timeout=30, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(db.BUSY_S * 3)
        conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    started = time.monotonic()
    with pytest.raises(db.DatabaseBusy, match="the lab is busy"):  # a click waits a few seconds, no more
        drawings.save(digit_image(3), 3, limits=LOCAL)
    assert time.monotonic() - started < db.BUSY_S * 2 + 1
    while True:
        runner._round()
        ended = jobs.get(job.id) if not holder.is_alive() else None
        if ended is not None and not ended.active:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    holder.join()
    assert ended.status == "done", ended.message
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
            started = time.monotonic()
            saver.start()
            saver.join(db.BUSY_S * 2 + 1)  # without the lock timeout it would wait for the lock forever
            waited = time.monotonic() - started
            holding.rollback()
            saver.join(30)
            assert waited < db.BUSY_S * 2 + 1, "the save waited for the lock past the timeout"
            assert isinstance(outcome[0], db.DatabaseBusy) and "the lab is busy" in str(outcome[0]), outcome
        drawings.save(digit_image(2), 2, limits=LOCAL)
        assert drawings.count() == 2
    finally:
        engine.dispose()


def test_each_ending_names_its_cause():
    assert "signal 9: out of memory or killed by hand" in jobs._crash_message(-9, None, None)
    assert "signal 9: out of memory or killed by hand" in jobs._crash_message(-9, 3, 3)
    assert "out of memory: the kernel" in jobs._crash_message(-9, 3, 4)
    assert "signal 6 (SIGABRT)" in jobs._crash_message(-6) and not jobs._stopped(-6)
    # The server shutting down stops its jobs: an interruption, not a failure.
    assert jobs._crash_message(-15).startswith("interrupted: the training process was stopped (SIGTERM)")
    assert jobs._stopped(-15) and jobs._stopped(-2) and not jobs._stopped(0) and not jobs._stopped(None)
    assert "database was unavailable" in jobs._crash_message(jobs.EX_TEMPFAIL)
    dump = RuntimeError("Can't close file (file write failed: time = Fri Dec  4 11:25:17 2026\n"
                        ", filename = 'x.h5', errno = 28, error message = 'No space left on device')")
    assert jobs._why(dump, Path("/tmp")).startswith("the disk is full: the lab needs about")
    assert "\n" not in jobs._why(dump, Path("/tmp"))


# --- a full disk -------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A real 3 MiB tmpfs as the work folder (skipped where mounting is not allowed)."""
    folder = tmp_path / "small"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)], capture_output=True,
                          check=False)
    if done.returncode != 0:
        pytest.skip(f"can't mount a tmpfs here: {done.stderr.decode().strip()}")
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
