"""The command lines: python -m model train, model.serving.evaluate and model.training.tune
train and evaluate, and refuse bad input with exactly one line on stderr
(the whole of stderr, with TensorFlow's own log level left as a user has it);
the package refuses an unsupported Python in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, tiny_model

import model

TINY = ["--epochs", "1", "--batch-size", "512", "--hidden-units", "16", "--quiet"]


def run(args: list[str], lab: os.PathLike, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, MNIST_LAB_DIR=str(lab), PYTHONPATH=str(ROOT))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI must keep TensorFlow quiet by itself
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess, status: int) -> str:
    """The whole stderr is one line ``error: ...``, stdout says nothing of it,
    and the exit status is ``status``; returns that line."""
    assert result.returncode == status, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stdout and "usage:" not in result.stdout
    return lines[0]


@pytest.mark.parametrize("args,words", [
    (["model", "train", "--epochs", "x"], "--epochs: invalid int value: 'x'"),
    (["model", "train", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["model", "train", "--learning-rate", "fast"], "expected a number or 'default'"),
    (["model", "train", "--hidden-units", "128,x"], "whole numbers"),
    (["model", "train", "--preset", "huge"], "invalid choice: 'huge'"),
    (["model", "evaluate"], "the following arguments are required: path"),
    (["model", "evaluate", "a.h5", "b.h5"], "unrecognized arguments: b.h5"),
    (["model", "tune", "--epochs", "zero"], "expected a whole number"),
    (["model", "tune", "--learning-rate", "1e-3,x"], "expected MIN,MAX"),
])
def test_a_bad_flag_or_value_is_one_line(tmp_path, args, words):
    line = one_line_error(run(args, tmp_path), status=2)
    assert words in line and line.endswith("(see --help)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,words", [
    (["model", "train", "--epochs", "0"], "epochs"),
    (["model", "train", "--learning-rate", "-1"], "learning rate"),
    (["model", "train", "--optimizer", "nope"], "optimizer"),
    (["model", "train", "--early-stopping", "2"], "validation split"),
    (["model", "tune", "--architectures", "rnn"], "unknown architecture 'rnn'"),
    (["model", "tune", "--epochs", "500"], "epochs must be 1 to 200"),
    (["model", "tune", "--dropout", "0.2,1"], "dropout"),
])
def test_a_bad_config_is_one_line(tmp_path, args, words):
    result = run(args, tmp_path)
    assert words in one_line_error(result, status=2)
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing written


@pytest.fixture(scope="module")
def tiny_cli_run(tmp_path_factory):
    lab = tmp_path_factory.mktemp("cli_lab")
    return lab, run(["model", "train", *TINY], lab)


def test_train_cli_trains_and_saves(tiny_cli_run):
    lab, result = tiny_cli_run
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not even TensorFlow's start-up lines
    assert "test accuracy" in result.stdout
    assert f"saved {lab / 'mnist_model.h5'}" in result.stdout
    assert (lab / "mnist_model.h5").is_file() and (lab / "mnist_model.json").is_file()  # in MNIST_LAB_DIR
    assert len(list((lab / "models").glob("*/meta.json"))) == 1
    accuracy = float(result.stdout.split("test accuracy")[1].split()[0])
    assert 0.3 < accuracy <= 1


def test_train_cli_keeps_the_better_current_model_unless_told(tiny_cli_run, tmp_path):
    from model.lab import store

    lab = tmp_path / "lab"
    shutil.copytree(tiny_cli_run[0], lab, symlinks=True)
    trained = store.current_run(lab)
    store.save_run(tiny_model((28, 28)), {"key": "great-run", "description": "a great model", "config": None,
                                          "metrics": {"test_accuracy": 0.999, "test_loss": 0.01}}, lab)
    store.make_current("great-run", lab)
    result = run(["model", "train", *TINY], lab)  # the same settings: the kept run, at once
    assert result.returncode == 0, result.stderr
    assert (f"kept as run {trained.key}; the current model scores better (0.9990: a great model) and stays"
            in result.stdout)
    assert store.current_run(lab).key == "great-run"
    result = run(["model", "train", *TINY, "--current"], lab)
    assert result.returncode == 0, result.stderr
    assert f"saved {lab / 'mnist_model.h5'}" in result.stdout and store.current_run(lab).key == trained.key


def test_evaluate_cli(tiny_cli_run):
    lab, trained = tiny_cli_run
    assert trained.returncode == 0, trained.stderr
    result = run(["model", "evaluate", str(lab / "mnist_model.h5")], lab)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # TensorFlow's start-up chatter is kept quiet
    assert "test accuracy" in result.stdout
    assert "per-class accuracy" in result.stdout
    # the same number the training printed (both evaluate the 10,000 test images)
    trained_accuracy = float(trained.stdout.split("test accuracy")[1].split()[0])
    evaluated = float(result.stdout.split("test accuracy")[1].split()[0])
    assert evaluated == pytest.approx(trained_accuracy, abs=2e-4)


def test_evaluate_cli_missing_file(tmp_path):
    line = one_line_error(run(["model", "evaluate", "missing.h5"], tmp_path), status=1)
    assert "no model file at missing.h5" in line


def test_evaluate_cli_not_a_model(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("not a model")
    assert "notes.h5" in one_line_error(run(["model", "evaluate", str(path)], tmp_path), status=1)


def test_evaluate_cli_a_model_that_is_no_digit_classifier(tmp_path):
    """A real Keras file (TensorFlow gets imported) with 3 outputs: still one line."""
    path = tmp_path / "three.keras"
    tiny_model(outputs=3).save(path)
    assert "10" in one_line_error(run(["model", "evaluate", str(path)], tmp_path), status=1)


@pytest.mark.parametrize("version", [(3, 10, 14), (3, 12, 1), (3, 9, 0)])
def test_an_unsupported_python_is_refused_in_one_line(version):
    with pytest.raises(SystemExit) as info:
        model.check_python(version)
    message = str(info.value.code)
    assert len(message.splitlines()) == 1 and message.startswith("error: ")
    assert "needs Python 3.11" in message and ".".join(map(str, version)) in message


def test_the_supported_python_passes():
    oldest, newest = model.SUPPORTED_PYTHON
    model.check_python((*oldest, 0))
    model.check_python((*newest, 99))
