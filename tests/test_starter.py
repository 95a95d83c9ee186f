"""The starter model shipped with the repository (model.lab.starter): it is the
fast-cnn recipe's run, it reads MNIST as its sidecar says, and a fresh lab
serves it at once, then upgrades it in the public demo."""

from __future__ import annotations

import numpy as np
import pytest

from model.data.inputs import model_inputs
from model.lab import jobs, starter, store
from model.training.config import PRESETS


def test_the_shipped_starter_is_the_fast_cnn_recipe():
    meta = starter.shipped_meta()
    assert meta is not None, "no shipped starter: python -m model.lab.starter --rebuild"
    assert meta["config"] == starter.recipe().to_dict(), \
        "the fast-cnn recipe changed: python -m model.lab.starter --rebuild, and commit model/lab/starter_run/"
    assert meta["key"] == starter.recipe().key() == starter.shipped_key()
    assert starter.main([]) == 0
    assert meta["metrics"]["test_accuracy"] >= 0.99


@pytest.mark.slow
def test_the_shipped_starter_reads_mnist_as_its_sidecar_says(lab_dir, mnist):
    """Both files of the seeded run hold the same trained network: they agree on
    every test digit and score what the sidecar says (not an untrained or
    mismatched model under the right name)."""
    import keras

    key = starter.seed(lab_dir)
    folder = store.run_dir(key, lab_dir)
    (_, _), (x_test, y_test) = mnist
    first = keras.models.load_model(folder / "model.h5", compile=False)
    x = model_inputs(x_test, first.input_shape[1:])
    h5 = first.predict(x, batch_size=1000, verbose=0)
    native = keras.models.load_model(folder / "model.keras", compile=False).predict(x, batch_size=1000, verbose=0)
    np.testing.assert_allclose(h5, native, atol=1e-5)
    accuracy = float(np.mean(h5.argmax(1) == y_test))
    assert accuracy == pytest.approx(store.load_run_meta(key, lab_dir)["metrics"]["test_accuracy"], abs=2e-4)


def test_seeding_is_whole_and_once(lab_dir):
    key = starter.seed(lab_dir)
    folder = store.run_dir(key, lab_dir)
    assert sorted(p.name for p in folder.iterdir()) == sorted(starter.FILES)
    stamp = (folder / "model.h5").stat().st_mtime_ns
    assert starter.seed(lab_dir) == key and (folder / "model.h5").stat().st_mtime_ns == stamp  # kept: not copied again
    (folder / "meta.json").unlink()  # an incomplete folder, as a crash would leave it
    assert starter.seed(lab_dir) == key and store.load_run_meta(key, lab_dir) is not None
    assert not [p for p in (lab_dir / store.RUNS).iterdir() if p.name.startswith(store.TEMP_PREFIX)]


def test_a_checkout_without_it_trains_its_starter(lab_dir, monkeypatch, tmp_path):
    monkeypatch.setattr(starter, "SHIPPED", tmp_path / "nothing")
    assert starter.seed(lab_dir) is None and jobs.trains_its_starter()
    assert jobs.starter_key() == PRESETS[jobs.WARMUP_PRESET].key()
    assert starter.main([]) == 1


def test_a_fresh_demo_serves_the_shipped_starter_then_trains_the_stronger_one(lab_dir, monkeypatch):
    """No job for the starter: it is current at once; the upgrade is queued on
    the next look, since the current model is the starter."""
    monkeypatch.setenv("MNIST_LAB_DEMO", "1")
    monkeypatch.setenv("MNIST_LAB_WARMUP", "1")
    monkeypatch.setenv("MNIST_LAB_UPGRADE", "classic:1")
    monkeypatch.setattr(jobs, "_upgrade_seen", set())
    assert not jobs.trains_its_starter()
    assert jobs.ensure_warmup(lab_dir) is None
    assert store.current_run(lab_dir).key == starter.shipped_key() == jobs.starter_key()
    assert jobs.list_jobs(lab_dir) == []
    job = jobs.ensure_upgrade(lab_dir)
    assert job is not None and job.session == jobs.UPGRADE_SESSION and job.params["make_current"] == "if_better"


def test_an_owner_named_starter_is_trained_not_shipped(lab_dir, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_WARMUP", "classic")
    assert jobs.trains_its_starter() and jobs.starter_key() == PRESETS["classic"].key()
    job = jobs.ensure_warmup(lab_dir)
    assert job is not None and job.key == PRESETS["classic"].key() and store.current_run(lab_dir) is None


def test_a_starter_that_cannot_be_copied_is_trained_instead(lab_dir, monkeypatch):
    """A full disk while copying: no traceback; the warm-up falls back to
    training (whose job then says in one line what went wrong)."""
    def full(root=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(starter, "seed", full)
    job = jobs.ensure_warmup(lab_dir)
    assert job is not None and job.key == PRESETS[jobs.WARMUP_PRESET].key()
    assert store.current_run(lab_dir) is None
