"""The command lines: python -m model.train and python -m model.evaluate."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

TINY = ["--epochs", "1", "--batch-size", "512", "--hidden-units", "16", "--quiet"]


def run(args: list[str], lab: os.PathLike, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, MNIST_LAB_DIR=str(lab), PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    return lines[0]


@pytest.mark.parametrize("args,words", [
    (["--epochs", "0"], "epochs"),
    (["--learning-rate", "-1"], "learning rate"),
    (["--optimizer", "nope"], "optimizer"),
    (["--early-stopping", "2"], "validation split"),
])
def test_train_refuses_bad_settings_in_one_line(tmp_path, args, words):
    result = run(["model.train", *args], tmp_path)
    assert result.returncode == 2
    assert words in assert_one_line_error(result)
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing written


@pytest.fixture(scope="module")
def tiny_cli_run(tmp_path_factory):
    lab = tmp_path_factory.mktemp("cli_lab")
    return lab, run(["model.train", *TINY], lab)


def test_train_cli_trains_and_saves(tiny_cli_run):
    lab, result = tiny_cli_run
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "test accuracy" in result.stdout
    assert f"saved {lab / 'mnist_model.h5'}" in result.stdout
    assert (lab / "mnist_model.h5").is_file() and (lab / "mnist_model.json").is_file()  # in MNIST_LAB_DIR
    assert len(list((lab / "models").glob("*/meta.json"))) == 1
    accuracy = float(result.stdout.split("test accuracy")[1].split()[0])
    assert 0.3 < accuracy <= 1


def test_evaluate_cli(tiny_cli_run):
    lab, trained = tiny_cli_run
    assert trained.returncode == 0, trained.stderr
    result = run(["model.evaluate", str(lab / "mnist_model.h5")], lab)
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    assert "per-class accuracy" in result.stdout
    # the same number the training printed (both evaluate the 10,000 test images)
    trained_accuracy = float(trained.stdout.split("test accuracy")[1].split()[0])
    evaluated = float(result.stdout.split("test accuracy")[1].split()[0])
    assert evaluated == pytest.approx(trained_accuracy, abs=2e-4)


def test_evaluate_cli_missing_file(tmp_path):
    result = run(["model.evaluate", "missing.h5"], tmp_path)
    assert result.returncode != 0
    assert "missing.h5" in assert_one_line_error(result)


def test_evaluate_cli_not_a_model(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("not a model")
    result = run(["model.evaluate", str(path)], tmp_path)
    assert result.returncode != 0
    assert_one_line_error(result)
