"""model.training.config.TrainConfig: the classic recipe by default, validation with a
message, a stable key, and a dict/JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest

from model.training.config import (
    DEFAULT_LEARNING_RATES,
    OPTIMIZERS,
    ConfigError,
    TrainConfig,
)


def test_defaults_are_the_classic_recipe():
    c = TrainConfig()
    assert c.architecture == "mlp"
    assert c.hidden_units == (128, 128)
    assert c.activation == "relu"
    assert c.optimizer == "sgd"
    assert c.learning_rate is None and c.lr == 0.01
    assert c.batch_size == 32
    assert c.epochs == 3
    assert c.dropout == 0 and not c.batch_norm and c.l2 == 0 and c.augment == 0
    assert c.momentum == 0 and not c.nesterov and c.schedule == "constant"
    assert c.describe() == "MLP 784-128-128-10, SGD lr 0.01, batch 32, 3 epochs"


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_default_learning_rates_are_keras_defaults(optimizer):
    import keras

    classes = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam,
               "adamw": keras.optimizers.AdamW, "rmsprop": keras.optimizers.RMSprop}
    keras_default = float(classes[optimizer]().learning_rate.numpy())
    assert TrainConfig(optimizer=optimizer).lr == pytest.approx(keras_default, rel=1e-6)
    assert DEFAULT_LEARNING_RATES[optimizer] == pytest.approx(keras_default, rel=1e-6)


@pytest.mark.parametrize("kwargs,words", [
    ({"learning_rate": 0.0}, "learning rate"),
    ({"learning_rate": -0.1}, "learning rate"),
    ({"learning_rate": float("nan")}, "learning rate"),
    ({"epochs": 0}, "epochs"),
    ({"epochs": 10_000}, "epochs"),
    ({"batch_size": 0}, "batch size"),
    ({"batch_size": 60_001}, "batch size"),
    ({"optimizer": "nope"}, "optimizer"),
    ({"architecture": "transformer"}, "architecture"),
    ({"activation": "swishy"}, "activation"),
    ({"schedule": "sometimes"}, "schedule"),
    ({"early_stopping": 2}, "validation split"),
    ({"dropout": -0.1}, "dropout"),
    ({"dropout": 1.0}, "dropout"),
    ({"hidden_units": (0,)}, "hidden"),
    ({"validation_split": 0.5}, "validation split"),
    ({"momentum": 1.0}, "momentum"),
    ({"augment": 1.5}, "augmentation"),
    ({"label_smoothing": 0.6}, "label smoothing"),
    ({"kernel_size": 4}, "kernel size"),
    ({"padding": "full"}, "padding"),
    ({"architecture": "cnn", "conv_filters": (8, 8, 8), "kernel_size": 5, "padding": "valid"}, "nothing"),
    ({"architecture": "cnn", "conv_filters": (8, 8), "convs_per_block": 3, "kernel_size": 5,
      "padding": "valid"}, "nothing"),
])
def test_validation_errors(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(**kwargs)


def test_valid_edges_are_accepted():
    TrainConfig(epochs=1, batch_size=1, learning_rate=10)
    TrainConfig(epochs=200, batch_size=60_000)
    TrainConfig(validation_split=0.1, early_stopping=2)
    TrainConfig(architecture="cnn", conv_filters=(8, 8), kernel_size=5, padding="valid")  # 28 -> 12 -> 4
    TrainConfig(architecture="cnn", conv_filters=(8, 8, 8), convs_per_block=3)  # "same" never shrinks to 0


# --- the key ------------------------------------------------------------------

# A different valid value for every field; the base configs use every field.
CHANGES = {
    "architecture": "mlp", "hidden_units": (64,), "conv_filters": (16, 32), "convs_per_block": 2,
    "kernel_size": 5, "padding": "valid",
    "activation": "tanh", "optimizer": "adam", "learning_rate": 0.02, "momentum": 0.9, "nesterov": True,
    "weight_decay": 0.01, "schedule": "cosine", "batch_size": 64, "epochs": 4, "dropout": 0.2,
    "batch_norm": True, "l2": 1e-4, "augment": 0.3, "label_smoothing": 0.1, "validation_split": 0.2, "early_stopping": 3, "seed": 1,
    "drawings_weight": 3, "stroke_augment": 0.5, "precision": "bfloat16", "start_from": "0123456789ab",
}
SGD_CNN = TrainConfig(architecture="cnn", optimizer="sgd", validation_split=0.1, early_stopping=1)
ADAMW_CNN = dataclasses.replace(SGD_CNN, optimizer="adamw")


def test_every_field_is_covered():
    assert set(CHANGES) == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_key_changes_with_every_field(field):
    base = ADAMW_CNN if field == "weight_decay" else SGD_CNN
    changed = dataclasses.replace(base, **{field: CHANGES[field]})
    assert changed != base
    assert changed.key() != base.key()


def test_key_is_equal_for_equal_configs():
    a = TrainConfig(hidden_units=[64, 32], optimizer="adam", learning_rate=0.003)
    b = TrainConfig(hidden_units=(64, 32), optimizer="adam", learning_rate=0.003)
    assert a == b and a.key() == b.key()
    assert hash(a) == hash(b)
    assert TrainConfig().key() == TrainConfig().key()
    assert len(TrainConfig().key()) == 12


@pytest.mark.parametrize("field,as_int,as_float", [
    ("learning_rate", 1, 1.0), ("dropout", 0, 0.0),
])
def test_equal_configs_have_equal_keys_whatever_the_number_type(field, as_int, as_float):
    """1 and 1.0 (e.g. from hand-written JSON) are the same setting: the
    configs compare equal, so they must share a key and never train twice."""
    a, b = TrainConfig(**{field: as_int}), TrainConfig(**{field: as_float})
    assert a == b
    assert a.key() == b.key()


def test_the_key_names_the_training_recipe_version(monkeypatch):
    """Runs trained by older code are never reused as the same settings."""
    from model.training import config as config_module

    before = TrainConfig().key()
    monkeypatch.setattr(config_module, "RECIPE_VERSION", config_module.RECIPE_VERSION + 1)
    assert TrainConfig().key() != before
    assert TrainConfig(label_smoothing=0.1).key() != TrainConfig().key()


def test_default_learning_rate_and_its_value_share_a_key():
    assert TrainConfig(learning_rate=None).key() == TrainConfig(learning_rate=0.01).key()
    assert TrainConfig(optimizer="adam").key() == TrainConfig(optimizer="adam", learning_rate=0.001).key()
    assert TrainConfig(learning_rate=None).key() != TrainConfig(learning_rate=0.02).key()


def test_settings_that_do_not_apply_leave_the_key_alone():
    mlp = TrainConfig()
    assert dataclasses.replace(mlp, conv_filters=(8,), convs_per_block=3, kernel_size=5,
                               padding="valid").key() == mlp.key()
    adam = TrainConfig(optimizer="adam")
    assert dataclasses.replace(adam, momentum=0.9, nesterov=True, weight_decay=0.1).key() == adam.key()


# --- dict and JSON --------------------------------------------------------------

@pytest.mark.parametrize("config", [
    TrainConfig(),
    TrainConfig(architecture="cnn", conv_filters=(8, 16, 32), hidden_units=(), optimizer="adamw",
                weight_decay=0.01, learning_rate=0.003, schedule="onecycle", batch_norm=True, dropout=0.25,
                augment=0.5, label_smoothing=0.1, validation_split=0.1, early_stopping=2, seed=7),
], ids=["default", "everything"])
def test_dict_and_json_round_trip(config):
    d = config.to_dict()
    assert d["hidden_units"] == list(config.hidden_units)
    assert TrainConfig.from_dict(d) == config
    via_json = TrainConfig.from_dict(json.loads(json.dumps(d)))
    assert via_json == config and via_json.key() == config.key()
    assert isinstance(via_json.hidden_units, tuple) and isinstance(via_json.conv_filters, tuple)


def test_from_dict_rejects_unknown_keys():
    d = TrainConfig().to_dict() | {"learning_rat": 0.1}
    with pytest.raises(ConfigError, match="learning_rat"):
        TrainConfig.from_dict(d)


def test_from_dict_validates():
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"epochs": 0})


def test_configs_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().epochs = 5
