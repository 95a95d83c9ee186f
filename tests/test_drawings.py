"""Saved drawings (model.lab.drawings) in the lab's database, on SQLite and on a
real PostgreSQL server alike: save, filter, relabel, delete, counts, the
fixed held-out split, .npz export and import, bad rows refused in one line,
the demo's caps, concurrent saves (threads and processes) losing nothing, a
process killed mid-save leaving a readable database, the upgrade of a
version-1 database; training with them (the run's key names the drawings),
the command lines, and the Drawings page under AppTest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from conftest import ROOT, drawn_digit

from model.data.strokes import drawn_digits
from model.lab import db, drawings
from model.lab.limits import DEMO, LOCAL
from model.training.config import ConfigError, TrainConfig


def image(seed: int, label: int = 0) -> np.ndarray:
    """A random uint8 28x28 "digit" (distinct pixels per seed)."""
    rng = np.random.default_rng(seed * 10 + label)
    out = np.zeros((28, 28), np.uint8)
    out[4:24, 4:24] = rng.integers(0, 256, (20, 20), dtype=np.uint8)
    return out


def probs_for(digit: int) -> list[float]:
    p = np.full(10, 0.02)
    p[digit] = 0.82
    return p.tolist()


# --- the store, on both databases -----------------------------------------------------


def test_save_list_filter_relabel_delete(lab_database):
    canvas = drawn_digit([[(140, 40), (140, 240)]])
    right = drawings.save(image(1), 1, canvas=canvas, probs=probs_for(1), model="abc123", session="s1")
    wrong = drawings.save(image(2), 7, canvas=canvas, probs=probs_for(1), model="abc123", session="s1")
    older_wrong = drawings.save(image(3), 4, probs=probs_for(9), model="upload.h5", session="s2")
    found = drawings.list_drawings()
    assert [d.id for d in found] == [older_wrong, wrong, right]  # mistakes first, then newest first
    first = found[1]
    assert first.label == 7 and first.prediction == 1 and first.right is False and first.model == "abc123"
    assert first.session == "s1" and first.image.dtype == np.uint8 and (first.image == image(2)).all()
    assert first.canvas.startswith(b"\x89PNG") and len(first.canvas) < 8_000  # compressed, small
    assert abs(sum(first.probs) - 1) < 1e-6 and time.time() - first.created_at < 60
    assert [d.id for d in drawings.list_drawings(right=True)] == [right]
    assert [d.id for d in drawings.list_drawings(right=False, digit=4)] == [older_wrong]
    assert drawings.count(right=False) == 2 and drawings.count(digit=7) == 1

    drawings.relabel(wrong, 1)
    assert drawings.list_drawings(digit=1, right=True, with_canvas=False)[0].id in (wrong, right)
    assert drawings.count(right=True) == 2
    drawings.delete(older_wrong)
    assert drawings.count() == 2
    with pytest.raises(drawings.DrawingNotFound, match=f"no saved drawing {older_wrong}"):
        drawings.delete(older_wrong)
    with pytest.raises(drawings.DrawingNotFound):
        drawings.relabel(10_000, 3)
    c = drawings.counts()
    assert c.n == 2 and c.total[1] == 2 and c.wrong.sum() == 0


def test_counts_per_digit_and_the_split(lab_database):
    rows = [drawings.make_row(image(i, i % 10), i % 10, probs=probs_for((i + (i % 3 == 0)) % 10))
            for i in range(200)]
    assert drawings.save_many(rows) == (200, 0)
    assert drawings.save_many(rows[:50]) == (0, 50)  # the same pixels and label: already kept
    c = drawings.counts()
    assert c.total.tolist() == [20] * 10 and c.n == 200
    assert c.wrong.sum() == sum(1 for i in range(200) if i % 3 == 0)
    held, train = drawings.collection("held_out"), drawings.collection("train")
    assert len(held) + len(train) == 200 and 20 <= len(held) <= 60 and c.held_out.sum() == len(held)
    assert not set(held.ids) & set(train.ids) and held.x.shape[1:] == (28, 28)


def test_the_held_out_split_is_fixed_by_the_pixels():
    flags = [drawings.is_held_out(drawings.pixels_digest(image(i))) for i in range(2000)]
    assert 0.17 < np.mean(flags) < 0.23
    again = [drawings.is_held_out(drawings.pixels_digest(image(i))) for i in range(2000)]
    assert flags == again


def test_relabel_keeps_the_split_and_changes_the_training_digest(lab_dir):
    ids = [drawings.save(image(i), 3) for i in range(30)]
    before = drawings.collection("train")
    held_before = set(drawings.collection("held_out").ids)
    drawings.relabel(int(before.ids[0]), 5)
    after = drawings.collection("train")
    assert set(after.ids) == set(before.ids) and set(drawings.collection("held_out").ids) == held_before
    assert after.digest() != before.digest() and len(ids) == 30


def test_export_and_import_round_trip(lab_database, tmp_path):
    for i in range(12):
        drawings.save(image(i, i % 10), i % 10, probs=probs_for(i % 10))
    path = tmp_path / "mine.npz"
    assert drawings.export_npz(path) == 12
    with np.load(path) as data:
        assert data["x"].dtype == np.uint8 and data["x"].shape == (12, 28, 28) and sorted(data["y"]) == \
            sorted(i % 10 for i in range(12))
    before = drawings.collection("held_out").digests
    assert drawings.import_npz(path) == (0, 12)  # all already there
    for d in drawings.list_drawings():
        drawings.delete(d.id)
    assert drawings.import_npz(path) == (12, 0)
    assert sorted(drawings.collection("held_out").digests) == sorted(before)  # the split travels with the pixels
    assert {d.source for d in drawings.list_drawings()} == {"import"}


@pytest.mark.parametrize("rgba", [True, False])
def test_import_canvas_images_goes_through_canvas_to_mnist(lab_dir, tmp_path, rgba):
    canvases, labels = drawn_digits(per_digit=2, seed=3)
    x = canvases if rgba else canvases[..., 0]
    path = tmp_path / "canvas.npz"
    np.savez_compressed(path, x=x, y=labels)
    assert drawings.import_npz(path) == (20, 0)
    saved = drawings.list_drawings(limit=None)
    assert all(d.canvas is not None and d.image.shape == (28, 28) for d in saved)
    assert sorted(d.label for d in saved) == sorted(labels.tolist())


def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((2, 28, 28), np.uint8) + 9}, "must hold arrays x and y"),
    ({"x": np.ones((2, 28, 28), np.float32), "y": np.array([1, 2])}, "x must be uint8"),
    ({"x": np.ones((2, 28, 28), np.uint8), "y": np.array([1, 2, 3])}, "one whole-number label per image"),
    ({"x": np.ones((2, 28, 28), np.uint8), "y": np.array([1, 12])}, "image 1: the label must be a digit 0-9"),
    ({"x": np.ones((2, 28, 28), np.uint8), "y": np.array([1.0, 2.0])}, "one whole-number label"),
    ({"x": np.ones((2, 5), np.uint8), "y": np.array([1, 2])}, "must be (N, 28, 28) images or canvas"),
    ({"x": np.zeros((1, 28, 28), np.uint8), "y": np.array([1])}, "image 0: the image is blank"),
])
def test_bad_files_are_refused_in_one_line_and_add_nothing(lab_dir, tmp_path, arrays, message):
    drawings.save(image(1), 1)
    with pytest.raises(drawings.DrawingRefused) as caught:
        drawings.import_npz(write_npz(tmp_path / "bad.npz", **arrays))
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert drawings.count() == 1


def test_not_an_npz_and_pickles_are_refused(lab_dir, tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(drawings.DrawingRefused, match="not a readable .npz file"):
        drawings.import_npz(text)
    pickled = write_npz(tmp_path / "p.npz", x=np.array([object()], dtype=object), y=np.array([1]))
    with pytest.raises(drawings.DrawingRefused, match="not a readable .npz file"):
        drawings.import_npz(pickled)


@pytest.mark.parametrize("kwargs, message", [
    ({"image": np.ones((28, 27), np.uint8)}, "must be 28x28"),
    ({"image": np.full((28, 28), 2.0)}, "values in [0, 1]"),
    ({"image": np.zeros((28, 28), np.uint8)}, "blank"),
    ({"label": 10}, "digit 0-9"),
    ({"label": -1}, "digit 0-9"),
    ({"label": True}, "digit 0-9"),
    ({"label": "7"}, "digit 0-9"),
    ({"probs": [0.5] * 10}, "sum to 1"),
    ({"probs": [1.0, 0.0]}, "10 numbers"),
    ({"canvas": np.zeros((2000, 2000, 4), np.uint8)}, "at most 1024x1024"),
    ({"canvas": np.random.default_rng(0).integers(0, 256, (1000, 1000, 4), dtype=np.uint8)}, "too large to keep"),
])
def test_bad_rows_are_refused_in_one_line(lab_dir, kwargs, message):
    args = {"image": image(1), "label": 1, **kwargs}
    with pytest.raises(drawings.DrawingRefused) as caught:
        drawings.save(args.pop("image"), args.pop("label"), **args)
    assert isinstance(caught.value, ValueError) and message in str(caught.value)
    assert "\n" not in str(caught.value) and drawings.count() == 0


def test_the_demo_caps_saves_per_session_and_in_all(lab_database):
    import dataclasses

    limits = dataclasses.replace(DEMO, drawings_per_session=3, max_drawings=5)
    for i in range(3):
        drawings.save(image(i), 1, session="a", limits=limits)
    with pytest.raises(drawings.DrawingsFull, match="you saved 3 drawings"):
        drawings.save(image(9), 1, session="a", limits=limits)
    drawings.save(image(10), 1, session="b", limits=limits)
    drawings.save(image(11), 1, session="c", limits=limits)
    with pytest.raises(drawings.DrawingsFull, match="the collection is full"):
        drawings.save(image(12), 1, session="d", limits=limits)
    assert drawings.count() == 5  # the refused ones were rolled back
    drawings.save(image(13), 1, session="a", limits=LOCAL)  # the owner's app has no caps


# --- concurrency and crashes ------------------------------------------------------------


def test_eight_threads_saving_at_once_lose_nothing(lab_database):
    db.engine()  # the schema, before the race
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def saver(t: int) -> None:
        try:
            start.wait()
            for i in range(15):
                drawings.save(image(t * 100 + i), t, session=f"s{t}", probs=probs_for(t))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=saver, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert drawings.counts().total[:8].tolist() == [15] * 8


SAVER = """
import sys, time, numpy as np
from model.lab import drawings
n, tag = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    img = np.zeros((28, 28), np.uint8); img[4:24, 4:24] = np.random.default_rng(tag * 100000 + i).integers(1, 256, (20, 20))
    drawings.save(img, i % 10, session=f"p{tag}")
    print(i + 1, flush=True)
"""


def saver_process(n: int, tag: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", SAVER, str(n), str(tag)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_saving_at_once_lose_nothing(lab_database):
    db.engine()
    procs = [saver_process(40, tag) for tag in (1, 2)]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
    assert drawings.count() == 80
    with db.engine().connect() as conn:
        sessions = dict(conn.execute(sa.select(db.drawings.c.session, sa.func.count()).group_by(db.drawings.c.session)).all())
    assert sessions == {"p1": 40, "p2": 40}


def test_a_process_killed_mid_save_leaves_a_readable_database(lab_database):
    db.engine()
    proc = saver_process(100_000, 3)
    done = 0
    while done < 25:  # let it save a while, then kill it without warning, most likely inside a save
        line = proc.stdout.readline()
        assert line, proc.stderr.read()[-2000:]
        done = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    db._engines.pop(db.database_url(), None)  # read afresh, as a restarted server would
    saved = drawings.collection("all")
    assert len(saved) >= done and saved.x.shape == (len(saved), 28, 28) and saved.x[:, 4:24, 4:24].all()
    drawings.save(image(1), 1)
    assert drawings.count() == len(saved) + 1
    if lab_database.startswith("sqlite"):
        with db.engine().connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


# --- the schema upgrade -----------------------------------------------------------------


def test_a_version_1_database_is_upgraded_not_broken(lab_database):
    """A lab.db made by the code before drawings (schema 1: jobs only) keeps
    its jobs and gains the drawings table when this code opens it."""
    raw = sa.create_engine(lab_database)
    v1 = sa.MetaData()
    for table in (db.schema_version, db.jobs):
        table.to_metadata(v1)
    v1.create_all(raw)
    with raw.begin() as conn:
        conn.execute(v1.tables["schema_version"].insert().values(version=1))
        conn.execute(v1.tables["jobs"].insert().values(kind="train", key="k1", params={}, status="done",
                                                       message="", cancel=False, created_at=1.0))
    assert "drawings" not in sa.inspect(raw).get_table_names()
    raw.dispose()
    drawings.save(image(1), 2)  # opening it through model.lab.db upgrades it
    with db.engine().connect() as conn:
        assert conn.execute(sa.select(db.schema_version.c.version)).scalars().all() == [db.SCHEMA_VERSION]
        assert conn.execute(sa.select(db.jobs.c.key)).scalars().all() == ["k1"]
    assert drawings.count() == 1


# --- training and the command lines -----------------------------------------------------

QUICK = TrainConfig(epochs=1, batch_size=256, learning_rate=0.1)


def test_training_with_drawings_names_them_in_the_key_and_the_sidecar(lab_dir):
    from model.lab.runs import train

    weighted = TrainConfig(epochs=1, batch_size=256, learning_rate=0.1, drawings_weight=3)
    with pytest.raises(ConfigError, match="no saved drawings to train with"):
        train(weighted, root=lab_dir)
    canvases, labels = drawn_digits(per_digit=3, seed=5)
    from model.data.preprocess import canvas_to_mnist

    drawings.save_many([drawings.make_row(canvas_to_mnist(c), int(y), canvas=c) for c, y in zip(canvases, labels)])
    first = train(weighted, root=lab_dir)
    n_train = len(drawings.collection("train"))
    assert first.meta["key"] not in (weighted.key(), QUICK.key())
    assert first.meta["drawings"]["count"] == n_train and first.meta["drawings"]["weight"] == 3
    assert sum(first.meta["drawings"]["per_digit"]) == n_train and "saved drawings x3" in first.meta["description"]
    assert train(weighted, root=lab_dir).cached  # same drawings: the same run
    more = drawn_digits(per_digit=1, seed=6)[0]
    drawings.save_many([drawings.make_row(canvas_to_mnist(c), d) for d, c in enumerate(more)])
    if len(drawings.collection("train")) > n_train:  # a new training drawing: a new run
        again = train(weighted, root=lab_dir)
        assert not again.cached and again.meta["key"] != first.meta["key"]


def test_the_key_is_unchanged_when_drawings_are_off():
    assert TrainConfig(drawings_weight=0).key() == TrainConfig().key() == TrainConfig().key(drawings="abc")
    on = TrainConfig(drawings_weight=5)
    assert on.key(drawings="a") != on.key(drawings="b") != TrainConfig().key()
    with pytest.raises(ConfigError, match="drawings weight must be 0"):
        TrainConfig(drawings_weight=101)


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_the_drawings_command_line(lab_dir, tmp_path):
    canvases, labels = drawn_digits(per_digit=2, seed=7)
    np.savez(tmp_path / "in.npz", x=canvases, y=labels)
    out = run_cli("model", "drawings", "import", str(tmp_path / "in.npz"))
    assert out.returncode == 0 and out.stdout.strip() == "imported 20 drawings", out.stderr
    out = run_cli("model", "drawings", "stats")
    assert out.returncode == 0 and out.stdout.splitlines()[1].split()[-1] == "20"
    out = run_cli("model", "drawings", "export", str(tmp_path / "out.npz"))
    assert out.returncode == 0 and np.load(tmp_path / "out.npz")["x"].shape == (20, 28, 28)
    for args, message in ((["import", str(tmp_path / "missing.npz")], "error: no file at"),
                          (["import", str(ROOT / "README.md")], "error: not a readable .npz file"),
                          (["export", str(tmp_path / "no" / "x.npz")], "error: no folder"),
                          (["explode"], "error: argument command: invalid choice")):
        out = run_cli("model", "drawings", *args)
        assert out.returncode == 2 and out.stderr.startswith(message) and len(out.stderr.splitlines()) == 1, out.stderr


def test_train_and_evaluate_flags(lab_dir, tmp_path):
    from conftest import tiny_model

    out = run_cli("model", "train", "--drawings", "--epochs", "1")
    assert out.returncode == 2 and out.stderr.startswith("error: there are no saved drawings"), out.stderr
    path = tmp_path / "tiny.h5"
    tiny_model().save(path)
    out = run_cli("model", "evaluate", str(path), "--drawings")
    assert out.returncode == 1 and out.stderr.startswith("error: no held-out saved drawings"), out.stderr
    for i in range(40):
        drawings.save(image(i, i % 10), i % 10)
    out = run_cli("model", "evaluate", str(path), "--drawings")
    assert out.returncode == 0, out.stderr
    held = len(drawings.collection("held_out"))
    assert "held-out drawings: accuracy" in out.stdout and f" on {held} (" in out.stdout


# --- the Drawings page ------------------------------------------------------------------


def drawings_page(at_env=None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    at.switch_page("app_pages/drawings.py").run()
    assert not at.exception, at.exception
    return at


def test_the_drawings_page_lists_relabels_and_deletes(lab_dir):
    first = drawings.save(image(1), 3, probs=probs_for(5), model="m")
    drawings.save(image(2), 4, probs=probs_for(4), model="m")
    at = drawings_page()
    assert "2 saved drawings" in " ".join(str(m.value) for m in at.markdown)
    assert at.button(key=f"relabel_apply_{first}").disabled  # nothing to relabel yet
    at.selectbox(key=f"relabel_{first}").set_value(5).run()
    assert not drawings.list_drawings(digit=5)  # choosing a digit alone changes nothing
    at.button(key=f"relabel_apply_{first}").click().run()
    assert not at.exception and drawings.list_drawings(digit=5)[0].id == first
    at.button(key=f"delete_{first}").click().run()
    at.button(key=f"confirm_{first}").click().run()
    assert not at.exception and drawings.count() == 1


def test_visitors_of_the_demo_cannot_relabel_or_delete(lab_dir, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_DEMO", "1")
    monkeypatch.setenv("MNIST_LAB_WARMUP", "0")
    first = drawings.save(image(1), 3, probs=probs_for(5))
    at = drawings_page()
    assert not [b for b in at.button if b.key == f"delete_{first}"]
    assert not [s for s in at.selectbox if s.key == f"relabel_{first}"]
    assert "only the owner" in " ".join(str(i.value) for i in at.info)
