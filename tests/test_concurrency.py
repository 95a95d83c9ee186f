"""Sessions training at the same moment: the same settings train once and are
shared; different settings queue; no file is ever torn or mixed."""

from __future__ import annotations

import subprocess
import sys
import threading

import keras
import pytest
from conftest import ROOT

from model.lab import store
from model.lab.runs import train
from model.training.config import TrainConfig

TINY = ["--epochs", "1", "--batch-size", "1024", "--hidden-units", "16", "--quiet"]


def check_every_file(root) -> None:
    runs = store.list_runs(root)
    for meta in runs:
        folder = store.run_dir(meta["key"], root)
        for name in ("model.h5", "model.keras"):
            keras.models.load_model(folder / name, compile=False)  # complete and readable
    current = store.current_meta(root)
    assert current is not None and current["key"] in {m["key"] for m in runs}
    # the current model is exactly the run its sidecar names: never a mix of two runs
    assert (root / "mnist_model.h5").read_bytes() == (store.run_dir(current["key"], root) / "model.h5").read_bytes()
    assert current == store.load_run_meta(current["key"], root)
    leftovers = [p.name for p in root.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


def test_concurrent_processes_same_and_different_settings(lab_dir):
    flags = [TINY, TINY, [*TINY, "--seed", "1"], [*TINY, "--hidden-units", "24"]]
    env = {"PATH": "/usr/bin:/bin", "MNIST_LAB_DIR": str(lab_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = [subprocess.Popen([sys.executable, "-m", "model", "train", *f], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for f in flags]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    same = [out for out, _ in outputs[:2]]
    assert sum("reused" in out for out in same) == 1  # one trained, the other waited and shared it
    accuracy = {line for out in same for line in out.splitlines() if line.startswith("test loss")}
    assert len({a.split("(")[0].strip() for a in accuracy}) == 1
    assert len(store.list_runs(lab_dir)) == 3
    check_every_file(lab_dir)


def test_concurrent_threads_share_one_training(lab_dir):
    config = TrainConfig(epochs=1, batch_size=1024, hidden_units=(8,))
    results, errors = [], []

    def session():
        try:
            results.append(train(config))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert sorted(r.cached for r in results) == [False, True, True]
    assert len({r.metrics["test_accuracy"] for r in results}) == 1
    check_every_file(lab_dir)


@pytest.mark.parametrize("crash_after", ["model.h5", "model.keras"])
def test_a_crash_while_saving_leaves_no_half_run(lab_dir, monkeypatch, crash_after):
    """A run without meta.json is incomplete and is trained again, never served."""
    config = TrainConfig(epochs=1, batch_size=1024, hidden_units=(8,))
    real_save = store.save_model

    def crashing_save(model, path):
        real_save(model, path)
        if path.name == crash_after:
            raise OSError("disk full")

    monkeypatch.setattr(store, "save_model", crashing_save)
    with pytest.raises(OSError):
        train(config)
    assert store.load_run_meta(config.key()) is None
    assert not (lab_dir / "mnist_model.h5").exists()
    monkeypatch.setattr(store, "save_model", real_save)
    assert train(config).cached is False
    check_every_file(lab_dir)
