"""Shared fixtures: a private work folder per test, MNIST, and one full
default training that several tests reuse (about ten seconds, more on a busy
machine). Every test that uses it, directly or through another fixture, is
marked ``slow`` here, so ``pytest -m "not slow"`` runs no full training.

The suite runs in two processes (pytest-xdist, ``-n 2 --dist loadfile`` in
pytest.ini: a file's tests stay together, in order, in one of them); a
training that fixtures of both need is made once, in a folder they share
(``made_once``)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.data.mnist import load_mnist  # noqa: E402
from model.training.config import TrainConfig  # noqa: E402


# The files that take longest (minutes: servers, trainings), longest first. pytest-xdist gives
# a process the next file when it has little left, in collection order (--no-loadscope-reorder
# in pytest.ini: by default it would order files by their number of tests): these go first, so
# the two processes share them instead of one of them starting a long one at the end.
LONGEST_FIRST = ["browser/test_demo.py", "browser/test_browser.py", "browser/test_draw.py",
                 "browser/test_explain.py", "browser/test_inside.py", "test_pages.py", "test_concurrency.py",
                 "test_explain.py", "test_jobs.py", "test_faults.py", "test_precision.py", "test_session.py",
                 "test_drawings.py", "test_tune.py", "test_untrusted.py", "test_cli.py"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "default_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def place(indexed: tuple[int, pytest.Item]) -> tuple[int, int]:
        where = Path(str(indexed[1].path)).relative_to(ROOT / "tests").as_posix()
        return rank.get(where, len(rank)), indexed[0]  # a file's own tests keep their order

    items[:] = [item for _, item in sorted(enumerate(items), key=place)]


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty work folder: no model, no registry, and no starter model
    trained by itself and no network's pace probed (tests that want them turn
    MNIST_LAB_WARMUP and MNIST_LAB_PROBE back on)."""
    monkeypatch.setenv("MNIST_LAB_DIR", str(tmp_path))
    monkeypatch.setenv("MNIST_LAB_WARMUP", "0")
    monkeypatch.setenv("MNIST_LAB_PROBE", "0")
    monkeypatch.delenv("MNIST_LAB_DEMO", raising=False)
    monkeypatch.delenv("MNIST_LAB_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def mnist():
    return load_mnist()


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """2,000 training and 500 test images: enough to learn something in a second."""
    (x_train, y_train), (x_test, y_test) = mnist
    return (x_train[:2000], y_train[:2000]), (x_test[:500], y_test[:500])


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make) -> Any:
    """``make(folder)``'s result, the folder made once for the whole run: with
    pytest-xdist, under its workers' common temporary folder, the first worker
    to ask making it while the others wait (``make`` must be quick the second
    time: a kept training is reused, not redone)."""
    from model.lab import store

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return make(tmp_path_factory.mktemp(name))
    folder = tmp_path_factory.getbasetemp().parent / name
    folder.mkdir(exist_ok=True)
    with store.file_lock(folder.with_suffix(".lock")):
        return make(folder)


@pytest.fixture(scope="session")
def default_run(tmp_path_factory):
    """The classic recipe trained once on the full data, in its own folder."""
    from model.lab.runs import train

    return made_once(tmp_path_factory, "default_run", lambda root: train(TrainConfig(), root=root))


@pytest.fixture(scope="session")
def starter_run(tmp_path_factory):
    """The app's starter model: the run shipped with the repository
    (``model.lab.starter``: fast-cnn, trained by the lab's own recipe), kept
    (not made current) in a work folder of its own, ``starter_run.path.parents[2]``."""
    import keras

    from model.lab import starter, store
    from model.lab.runs import TrainResult

    def seeded(root):
        key = starter.seed(root)
        assert key is not None, "no shipped starter: python -m model.lab.starter --rebuild"
        model = keras.models.load_model(store.run_dir(key, root) / "model.keras", compile=False)
        return TrainResult(model, store.load_run_meta(key, root), store.run_model_path(key, root), cached=True)

    return made_once(tmp_path_factory, "starter_lab", seeded)


@pytest.fixture
def lab_with_model(lab_dir: Path, default_run) -> Path:
    """A work folder holding the default model as the current one."""
    shutil.copytree(default_run.path.parent, lab_dir, symlinks=True, dirs_exist_ok=True)
    return lab_dir


def drawn_digit(strokes, size: int = 280, width: int = 18) -> np.ndarray:
    """An RGBA canvas image (white ink on black) with the given polyline strokes,
    each a list of (x, y) points in canvas pixels, as the canvas returns it."""
    from model.data.strokes import render

    return render(strokes, width, size)


def tiny_model(inputs=(784,), outputs: int = 10, activation: str = "softmax", extra=None):
    """An untrained Keras classifier of any input/output shape, for file checks."""
    import keras

    x = inp = keras.Input(inputs)
    if extra is not None:
        x = extra(x)
    if len(inputs) > 1:
        x = keras.layers.Flatten()(x)
    return keras.Model(inp, keras.layers.Dense(outputs, activation=activation)(x))


# --- PostgreSQL: the lab's database on a real server, started by the tests --------

POSTGRES_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A throwaway PostgreSQL server (Debian's ``postgresql`` package; ``make
    postgresql`` installs it) on a free loopback port, its data in a temporary
    folder; yields ``postgresql+psycopg://postgres@127.0.0.1:PORT``, and is
    stopped and removed after the session. PostgreSQL refuses to run as root,
    so as root (sessions, CI) it runs as the ``postgres`` user. Missing, it
    skips the tests that need it, except under CI, where that fails them."""
    import socket
    import subprocess

    if not POSTGRES_BINS:
        message = "PostgreSQL is not installed (make postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this is a failure)")
        pytest.skip(message)
    pytest.importorskip("psycopg", reason="psycopg is missing: pip install -r requirements-dev.txt")
    bin_dir = POSTGRES_BINS[0].parent
    import tempfile

    # Not under pytest's temporary folders: they are private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="mnist-lab-postgres-"))
    data = folder / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=folder, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60", "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100", "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def lab_database(request, lab_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The lab's database, once on SQLite (in ``lab_dir``) and once on a fresh
    PostgreSQL database (``MNIST_LAB_DATABASE_URL``); yields the URL."""
    from model.lab import db

    if request.param == "sqlite":
        yield db.database_url(lab_dir)
        return
    import sqlalchemy as sa

    server = request.getfixturevalue("postgres_server")
    name = f"lab_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"{server}/{name}"
    monkeypatch.setenv("MNIST_LAB_DATABASE_URL", url)
    try:
        yield url
    finally:
        engine = db._engines.pop(url, None)  # engines are cached per URL: this one's database goes
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
