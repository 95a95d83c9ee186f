"""Hyperparameter search (model.training.tune): a tiny KerasTuner search on 3,000
images, its table, best config and best model (plain Keras layers, loadable);
resuming it; the search space, bounded by TrainConfig's own validation; the
command line (model.cli.tune) and its one-line refusals."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.cli.train import train_command
from model.cli.tune import format_table
from model.lab.tuning import search
from model.training.config import ConfigError, TrainConfig
from model.training.tune import (
    SearchSpace,
    TuningError,
    check_space,
    config_from_values,
)

ROOT = Path(__file__).resolve().parents[1]
N_IMAGES = 3000
TRIALS = 2
# Tiny and fast: one-block CNNs with no dense layer (compile_model gives CNNs no
# XLA, whose compilation would cost more than these trials' training).
TINY = SearchSpace(architectures=("cnn",), conv_filters=((4,), (8,)), hidden_units=((),),
                   optimizers=("adam", "sgd"), learning_rate=(1e-3, 1e-2), dropout=(0.0, 0.0),
                   batch_sizes=(64, 128), batch_norm=(True,))


@pytest.fixture(scope="module")
def tiny_search(mnist, tmp_path_factory):
    (x, y), _ = mnist
    root = tmp_path_factory.mktemp("tune")
    reported = []
    result = search(TINY, max_trials=TRIALS, epochs=1, data=(x[:N_IMAGES], y[:N_IMAGES]), root=root,
                    progress=reported.append)
    return result, reported, root


def test_search_table_has_one_row_per_trial(tiny_search):
    result, reported, root = tiny_search
    table = result.table
    assert len(table) == TRIALS
    assert len({row["trial"] for row in table}) == TRIALS
    for row in table:
        assert row["status"] == "COMPLETED"
        assert row["architecture"] == "cnn" and row["conv_filters"] in ("4", "8")
        assert row["hidden_units"] == "none"
        assert row["optimizer"] in ("adam", "sgd") and 1e-3 <= row["learning_rate"] <= 1e-2
        assert row["batch_size"] in (64, 128)
        assert (row["momentum"] == 0.9) == (row["optimizer"] == "sgd")  # conditional on SGD
        assert 0 <= row["val_accuracy"] <= 1 and row["seconds"] > 0
    assert reported == table  # progress saw every trial as it finished
    assert result.directory.parent == root / "models" / ".tuning"
    assert (result.directory / "search.json").is_file()

    lines = format_table(table, best=result.best_trial).splitlines()
    assert len(lines) == 1 + TRIALS
    header = lines[0].split()
    assert header[0] == "trial" and header[-2:] == ["val_accuracy", "seconds"] and "learning_rate" in header
    assert not {"architecture", "hidden_units", "dropout", "activation", "batch_norm"} & set(header)  # fixed
    marked = [line.split()[0] for line in lines[1:] if line.split()[0].endswith("*")]
    assert marked == [f"{result.best_trial}*"]


def test_best_config_is_a_valid_train_config(tiny_search):
    result, _, _ = tiny_search
    best = result.best_config
    assert isinstance(best, TrainConfig)
    assert TrainConfig.from_dict(best.to_dict()) == best  # passes validation
    assert best.epochs == 1 and best.architecture == "cnn" and best.hidden_units == ()
    assert best.conv_filters in ((4,), (8,))
    best_row = next(row for row in result.table if row["trial"] == result.best_trial)
    assert result.best_val_accuracy == max(row["val_accuracy"] for row in result.table)
    assert result.best_val_accuracy == pytest.approx(best_row["val_accuracy"])
    assert config_from_values(best_row, TrainConfig(), epochs=1) == best


def test_best_model_predicts_probabilities_and_was_scored_on_held_out_data(tiny_search, mnist):
    from model.serving.predict import predict_batch

    result, _, _ = tiny_search
    (x, y), (x_test, _) = mnist
    probs = predict_batch(result.best_model, x_test[:5] / 255.0)
    assert probs.shape == (5, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-4)
    # Its score is its accuracy on the last 10% of the search's images.
    n_val = N_IMAGES // 10
    val_probs = predict_batch(result.best_model, x[N_IMAGES - n_val:N_IMAGES] / 255.0)
    accuracy = (val_probs.argmax(axis=1) == y[N_IMAGES - n_val:N_IMAGES]).mean()
    assert accuracy == pytest.approx(result.best_val_accuracy, abs=2 / n_val)


def test_best_model_is_plain_keras_and_loads_back(tiny_search, mnist, tmp_path):
    """Trained with the fused batch norm, returned with Keras' own layer."""
    import keras

    from model.serving.predict import load_classifier, predict_batch

    model = tiny_search[0].best_model
    norms = [type(layer) for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms == [keras.layers.BatchNormalization]
    model.save(tmp_path / "best.keras")
    x = mnist[1][0][:200] / 255.0
    np.testing.assert_array_equal(predict_batch(load_classifier(tmp_path / "best.keras"), x), predict_batch(model, x))


def test_same_search_again_reuses_its_trials(tiny_search, mnist):
    result, _, root = tiny_search
    (x, y), _ = mnist
    trial_dirs = sorted(p.name for p in result.directory.glob("trial_*"))
    again = search(TINY, max_trials=TRIALS, epochs=1, data=(x[:N_IMAGES], y[:N_IMAGES]), root=root)
    assert again.directory == result.directory
    assert again.table == result.table
    assert again.best_config == result.best_config
    assert sorted(p.name for p in again.directory.glob("trial_*")) == trial_dirs


def test_search_space_is_checked_and_normalized():
    space = SearchSpace(hidden_units=[[64], [128, 64]], batch_sizes=[32], learning_rate=[1e-3, 1e-2])
    assert space.hidden_units == ((64,), (128, 64)) and space.learning_rate == (1e-3, 1e-2)
    assert SearchSpace.from_dict(space.to_dict()) == space
    # The bounds are TrainConfig's: its own messages say what is wrong.
    for bad, words in (({"architectures": ("rnn",)}, "unknown architecture 'rnn'"),
                       ({"optimizers": ()}, "choose at least one"),
                       ({"learning_rate": (0.0, 0.1)}, "learning rate must be > 0"),
                       ({"learning_rate": (0.1, 0.01)}, "min <= max"),
                       ({"dropout": (0.2, 1.0)}, "dropout must be in"),
                       ({"batch_sizes": (0,)}, "batch size must be 1 to"),
                       ({"hidden_units": ((0,),)}, "hidden layer sizes must be 1 to"),
                       ({"conv_filters": ((8, 8, 8, 8),)}, "1 to 3 conv blocks"),
                       ({"momentum": (1.0,)}, "momentum must be in"),
                       ({"batch_sizes": (32, 32)}, "listed twice")):
        with pytest.raises(ConfigError, match=words):
            SearchSpace(**bad)
    with pytest.raises(ConfigError):
        search(space, max_trials=0)


def test_search_space_is_checked_against_the_base_config():
    # Three 'valid' 5x5 blocks shrink 28x28 to nothing: refused before any trial.
    space = SearchSpace(architectures=("cnn",), conv_filters=((8,), (8, 8, 8)))
    base = TrainConfig(kernel_size=5, padding="valid")
    with pytest.raises(ConfigError, match="conv_filters 8-8-8"):
        check_space(space, base)
    check_space(space, TrainConfig())  # fine with 'same' padding


def test_a_search_whose_trials_all_fail_says_why(mnist, tmp_path):
    import keras

    class Broken(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            raise ValueError("the callback broke")

    (x, y), _ = mnist
    with pytest.raises(TuningError, match="the callback broke"):
        search(TINY, max_trials=2, epochs=1, data=(x[:200], y[:200]), root=tmp_path, callbacks=[Broken()])


def test_search_space_declares_conditional_hyperparameters():
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    SearchSpace().declare(hp)
    # Defaults: the first choice, the low end of each range; conv filters
    # (CNN only) and momentum (SGD only) inactive.
    assert hp.values["architecture"] == "mlp" and hp.values["optimizer"] == "adam"
    assert "conv_filters" not in hp.values and "momentum" not in hp.values
    config = config_from_values({"architecture": "cnn", "conv_filters": "16-32", "hidden_units": "none",
                                 "optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.01,
                                 "dropout": 0.25, "batch_size": 128}, TrainConfig(), epochs=4)
    assert config == TrainConfig(architecture="cnn", conv_filters=(16, 32), hidden_units=(), optimizer="sgd",
                                 momentum=0.9, learning_rate=0.01, dropout=0.25, batch_size=128, epochs=4)


def test_train_command_trains_the_same_config():
    from model.cli.train import OPTIONS, parse_args

    config = TrainConfig(architecture="cnn", conv_filters=(16, 32), hidden_units=(), optimizer="sgd",
                         momentum=0.9, learning_rate=0.0123, batch_norm=True, dropout=0.25, epochs=4)
    argv = shlex.split(train_command(config))[4:]  # after "python -m model train"
    args = parse_args(argv)
    for flag in OPTIONS:
        args.pop(flag)
    assert TrainConfig(**args) == config


@pytest.mark.parametrize("argv", [["--trials", "0"], ["--epochs", "zero"], ["--architectures", "rnn"],
                                  ["--learning-rate", "0.1,0.001"], ["--subset", "5"]])
def test_cli_rejects_bad_input_in_one_line(argv, tmp_path):
    env = {**os.environ, "MNIST_LAB_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "model", "tune", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()  # the whole of stderr: one line
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert proc.stdout == ""


def test_cli_searches_and_prints_the_table_and_the_train_command(tmp_path):
    env = {**os.environ, "MNIST_LAB_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "model", "tune", "--trials", "2", "--epochs", "1", "--subset", "500",
                           "--architectures", "mlp", "--hidden-units", "8,16", "--batch-sizes", "256"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout.splitlines()
    assert [line.startswith("trial ") for line in out[1:3]] == [True, True]  # each trial as it finished
    header = out.index("") + 1
    assert out[header].split()[0] == "trial" and out[header].endswith("val_accuracy seconds")
    rows = out[header + 1:header + 3]
    assert [row.split()[0].endswith("*") for row in rows].count(True) == 1  # the best trial, marked
    command = next(line for line in out if line.startswith("train it on all the data: "))
    assert command.split(": ", 1)[1].startswith("python -m model train ")
