"""Training in bfloat16 (``TrainConfig.precision``) and pen-like augmentation
(``TrainConfig.stroke_augment``, ``model.data.augment``): what they change while
training, and that what comes out is an ordinary float32 Keras model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from model.training.config import PRESETS, TrainConfig
from model.training.fit import fit, make_dataset

BF16_CNN = dataclasses.replace(PRESETS["strong-cnn"], precision="bfloat16", epochs=1, batch_size=256,
                               augment=0.0, stroke_augment=0.5)


@pytest.fixture(scope="module")
def bf16_fit(small_mnist):
    return fit(BF16_CNN, small_mnist[0])


def test_a_bfloat16_training_gives_a_float32_model(bf16_fit, small_mnist, tmp_path):
    import keras

    from model.training.architectures import build_model

    model, history = bf16_fit
    assert history["loss"][-1] < 2.3
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    mixed = build_model(BF16_CNN)
    assert {layer.dtype_policy.name for layer in mixed.layers} == {"mixed_bfloat16", "float32"}
    assert mixed.layers[-1].dtype_policy.name == "float32"  # the softmax
    # The float32 model computes what the trained mixed one does, to bfloat16's precision.
    mixed.set_weights(model.get_weights())
    images = small_mnist[1][0][:200, ..., None].astype(np.float32) / 255
    np.testing.assert_allclose(model.predict(images, verbose=0), mixed.predict(images, verbose=0), atol=0.05)
    assert (model.predict(images, verbose=0).argmax(1) == mixed.predict(images, verbose=0).argmax(1)).mean() > 0.95
    path = tmp_path / "bf16.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)


def test_precision_is_part_of_the_key_only_when_not_the_default():
    assert TrainConfig(precision="float32").key() == TrainConfig().key() == TrainConfig(precision="auto").key()
    assert TrainConfig(precision="bfloat16").key() != TrainConfig().key()
    assert "bfloat16" in TrainConfig(precision="bfloat16").describe()
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="float16")


def test_the_pipeline_applies_stroke_augmentation_only_when_asked(small_mnist):
    x = small_mnist[0][0][:64, ..., None].astype(np.float32) / 255
    y = small_mnist[0][1][:64]
    plain, = make_dataset(x, y, 64, seed=None).as_numpy_iterator()
    pen, = make_dataset(x, y, 64, seed=None, stroke_augment=0.8).as_numpy_iterator()
    np.testing.assert_array_equal(plain[0], x)
    assert pen[0].shape == x.shape and not np.allclose(pen[0], x, atol=1e-3)
    np.testing.assert_array_equal(pen[1], plain[1])


# --- one recipe per preset name, on either kind of machine (MNIST_LAB_BFLOAT16 plays the other kind) ---

KINDS = {"0": "float32", "1": "bfloat16"}  # the switch -> what "auto" computes in there


def test_a_preset_name_means_one_recipe_on_every_machine():
    """The presets as a fresh process builds them on each kind of machine: the same keys,
    epochs, batch and schedule."""
    import json
    import os
    import subprocess
    import sys

    show = ("import json; from model.training.config import PRESETS; "
            "print(json.dumps({n: [c.key(), c.to_dict()] for n, c in PRESETS.items()}))")
    seen = {switch: json.loads(subprocess.run([sys.executable, "-c", show], check=True, capture_output=True,
                                              text=True, env={**os.environ, "MNIST_LAB_BFLOAT16": switch}).stdout)
            for switch in KINDS}
    assert seen["0"] == seen["1"]
    assert seen["0"]["strong-cnn"][1]["epochs"] == 10 and seen["0"]["fast-cnn"][1]["epochs"] == 2
    assert seen["0"]["fast-cnn"][0] == PRESETS["fast-cnn"].key()


@pytest.mark.parametrize("switch", sorted(KINDS))
def test_auto_precision_computes_as_the_machine_can_and_says_so(switch, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_BFLOAT16", switch)
    fast = PRESETS["fast-cnn"]
    assert fast.precision == "auto" and fast.computed_in() == KINDS[switch]
    assert ("bfloat16" in fast.as_computed().describe()) == (switch == "1")
    assert "bfloat16" not in fast.describe()  # the recipe's own name is the same everywhere
    assert TrainConfig(precision="float32").computed_in() == "float32"  # explicit choices are kept
    assert TrainConfig(precision="bfloat16").computed_in() == "bfloat16"


@pytest.mark.parametrize("switch", sorted(KINDS))
def test_the_shipped_starter_is_the_fast_cnn_preset_on_either_kind(switch, monkeypatch):
    from model.lab import jobs, starter

    monkeypatch.setenv("MNIST_LAB_BFLOAT16", switch)
    meta = starter.shipped_meta()
    assert meta["key"] == PRESETS["fast-cnn"].key() == jobs.starter_key()
    assert "bfloat16" not in meta["description"]  # it was trained in float32, wherever it is shown


@pytest.mark.parametrize("switch", sorted(KINDS))
def test_a_run_records_what_it_computed_in(switch, monkeypatch, small_mnist):
    """The run's meta (what the model line shows) says the precision it ran in; its key does not."""
    from model.training import fit as fit_module

    monkeypatch.setenv("MNIST_LAB_BFLOAT16", switch)
    monkeypatch.setattr(fit_module, "load_mnist", lambda *a, **k: small_mnist)
    config = dataclasses.replace(PRESETS["fast-cnn"], epochs=1, batch_size=500)
    _, meta = fit_module.train_new(config)
    assert meta["key"] == config.key() and meta["config"]["precision"] == "auto"
    assert meta["computed_in"] == KINDS[switch]
    assert meta["description"] == config.as_computed().describe()
    assert ("bfloat16" in meta["description"]) == (switch == "1")


def test_the_switch_takes_0_or_1_only(monkeypatch):
    from model.settings import SettingError
    from model.training.config import native_bfloat16

    monkeypatch.setenv("MNIST_LAB_BFLOAT16", "yes")
    with pytest.raises(SettingError, match="MNIST_LAB_BFLOAT16 must be one of 0,1"):
        native_bfloat16()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_trains_on_a_subset(name, small_mnist):
    """Each preset as it is on this machine (bfloat16 where the CPU has it),
    one epoch on 2,000 images: it learns, and comes back as a float32 model
    (the full runs are bench.presets')."""
    from model.serving.predict import predict_batch

    model, history = fit(dataclasses.replace(PRESETS[name], epochs=1), small_mnist[0])
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    images, labels = small_mnist[1]
    accuracy = (predict_batch(model, images.astype(np.float32) / 255).argmax(1) == labels).mean()
    assert accuracy > 0.2, f"{name}: {accuracy:.2f} after one epoch on 2,000 images"  # chance: 0.1
