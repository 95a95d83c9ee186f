"""model.training.fit: the networks that fit() builds and trains, and train()'s files,
registry and cache. The full default training runs once, in default_run."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest

from model.lab import store
from model.lab.runs import train
from model.training.config import TrainConfig
from model.training.fit import fit

TINY = TrainConfig(epochs=1, batch_size=512, hidden_units=(16,))


def subset(small_mnist, n: int):
    (x, y), _ = small_mnist
    return x[:n], y[:n]


def weights_equal(a: keras.Model, b: keras.Model) -> bool:
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(u, v) for u, v in zip(wa, wb))


@pytest.fixture(scope="module")
def default_fit(small_mnist):
    """The classic recipe, fitted on 2,000 images."""
    return fit(TrainConfig(), small_mnist[0])


# --- the networks ---------------------------------------------------------------

def dense_stack(model: keras.Model) -> list[tuple[int, str]]:
    """The model as (units, activation) per Dense layer, with a following
    Activation layer folded into the Dense before it; any other layer fails."""
    stack: list[tuple[int, str]] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Dense):
            stack.append((layer.units, layer.activation.__name__))
        elif isinstance(layer, keras.layers.Activation):
            units, previous = stack[-1]
            assert previous == "linear", "two activations in a row"
            stack[-1] = (units, layer.activation.__name__)
        else:
            raise AssertionError(f"unexpected layer {type(layer).__name__} in the classic MLP")
    return stack


def test_default_architecture_is_the_classic_mlp(default_fit):
    model, history = default_fit
    assert model.input_shape == (None, 784)
    assert model.output_shape == (None, 10)
    assert dense_stack(model) == [(128, "relu"), (128, "relu"), (10, "softmax")]
    assert model.count_params() == 784 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
    assert len(history["loss"]) == 3 and len(history["accuracy"]) == 3


def test_default_model_computes_what_plain_keras_computes(default_fit, small_mnist):
    """The same weights in a plain Keras Sequential MLP give the same outputs."""
    model, _ = default_fit
    reference = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    reference.set_weights(model.get_weights())
    x = small_mnist[1][0][:200].reshape(200, 784).astype(np.float32) / 255
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-5)


def test_default_fit_learns(default_fit, small_mnist):
    model, history = default_fit
    assert history["loss"][-1] < history["loss"][0]
    x, y = small_mnist[1]
    predicted = model.predict(x.reshape(len(x), 784).astype(np.float32) / 255, verbose=0).argmax(1)
    assert (predicted == y).mean() > 0.5  # 2,000 images, 3 epochs of plain SGD: far above chance (0.1)


SMALL = TrainConfig(epochs=1, hidden_units=(16,), batch_size=50)


def test_same_config_and_seed_give_identical_weights(small_mnist):
    first, history = fit(SMALL, subset(small_mnist, 500))
    again, history_again = fit(SMALL, subset(small_mnist, 500))
    assert weights_equal(first, again)
    assert history == history_again
    other, _ = fit(dataclasses.replace(SMALL, seed=1), subset(small_mnist, 500))
    assert not weights_equal(first, other)
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])


def test_cnn_blocks_batch_norm_and_dropout_are_built():
    from model.training.architectures import build_model

    config = TrainConfig(architecture="cnn", conv_filters=(4, 8, 8), convs_per_block=2, hidden_units=(16,),
                         batch_norm=True, dropout=0.3)
    model = build_model(config)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 6
    assert kinds.count("MaxPooling2D") == 3
    assert kinds.count("FusedBatchNormalization") == 7  # after every convolution and the dense layer
    assert kinds.count("Dropout") == 2
    assert model.layers[-1].activation.__name__ == "softmax"


def test_fused_batch_normalization_is_keras_batch_normalization():
    """Same outputs, gradients and moving averages as Keras' own layer in
    training, and the same code in inference."""
    import tensorflow as tf

    from model.training.architectures import FusedBatchNormalization

    x = tf.constant(np.random.default_rng(0).normal(2, 3, (8, 5, 5, 4)).astype(np.float32))
    reference, fused = keras.layers.BatchNormalization(), FusedBatchNormalization()
    results = []
    for layer in (reference, fused):
        layer.build(x.shape)
        layer.gamma.assign(np.linspace(0.5, 2, 4))
        layer.beta.assign(np.linspace(-1, 1, 4))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.sin(y) * tf.range(1, 5, dtype=tf.float32))
        grads = tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])
        results.append([y, *grads, layer.moving_mean, layer.moving_variance, layer(x, training=False)])
    for expected, got in zip(*results):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-5)


def test_fit_returns_keras_batch_normalization_that_saves_and_loads_as_plain_keras(small_mnist, tmp_path):
    """Trained with the fused kernel, returned with Keras' own layer: plain
    ``model.save`` writes a file that ``load_classifier`` opens, and it
    computes what was trained."""
    from model.serving.predict import load_classifier

    config = TrainConfig(architecture="cnn", conv_filters=(4,), hidden_units=(8,), batch_norm=True,
                         augment=0.5, epochs=1, batch_size=256)
    model, history = fit(config, subset(small_mnist, 512))
    norms = [type(layer) for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms == [keras.layers.BatchNormalization] * 2
    assert int(model.optimizer.iterations.numpy()) == 2  # still the compiled, trained model
    x = small_mnist[1][0][:100].reshape(-1, 28, 28, 1).astype(np.float32) / 255
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        loaded = load_classifier(tmp_path / name)
        assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
        np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), atol=1e-6)


@pytest.mark.parametrize("kwargs", [
    {"conv_filters": (4, 8), "kernel_size": 5, "padding": "valid"},
    {"conv_filters": (4,), "kernel_size": 5, "padding": "valid", "convs_per_block": 3},
    {"conv_filters": (4, 4, 4), "kernel_size": 3, "padding": "valid"},
    {"conv_filters": (4, 4, 4), "kernel_size": 5, "padding": "same", "convs_per_block": 2},
], ids=["lenet", "3 convs a block", "3 valid blocks", "same"])
def test_feature_map_size_is_what_keras_builds(kwargs):
    from model.training.architectures import build_model

    config = TrainConfig(architecture="cnn", hidden_units=(), **kwargs)
    model = build_model(config)
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    side = config.feature_map_size()
    assert pools[-1].output.shape[1:3] == (side, side)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(c.kernel_size == (config.kernel_size,) * 2 and c.padding == config.padding for c in convs)


# Each optimizer and each schedule trains one epoch on 500 images; to keep the
# number of (slow to compile) fits down, each run also exercises one more feature.
OPTIMIZER_CLASSES = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam,
                     "adamw": keras.optimizers.AdamW, "rmsprop": keras.optimizers.RMSprop}
VARIANTS = {
    "sgd-onecycle-mlp": TrainConfig(optimizer="sgd", schedule="onecycle", momentum=0.9, nesterov=True,
                                    epochs=1, batch_size=50, hidden_units=(32,)),
    "adam-cosine-cnn": TrainConfig(architecture="cnn", conv_filters=(4, 8), hidden_units=(16,), optimizer="adam",
                                   schedule="cosine", label_smoothing=0.1, epochs=1, batch_size=50),
    "rmsprop-cosine-augment": TrainConfig(optimizer="rmsprop", schedule="cosine", augment=0.5, epochs=1,
                                          batch_size=50, hidden_units=(16,)),
    "adamw-constant-validation": TrainConfig(optimizer="adamw", weight_decay=0.01, validation_split=0.2,
                                             early_stopping=1, epochs=2, batch_size=50, hidden_units=(16,)),
}


@pytest.fixture(scope="module")
def trained(small_mnist):
    """trained(name): (config, model, history, images) of VARIANTS[name] fitted
    on 500 images, once per module."""
    x, y = subset(small_mnist, 500)
    fitted: dict[str, tuple] = {}

    def get(name: str):
        if name not in fitted:
            model, history = fit(VARIANTS[name], (x, y))
            fitted[name] = (VARIANTS[name], model, history, x)
        return fitted[name]

    return get


@pytest.fixture(params=sorted(VARIANTS))
def variant(request, trained):
    return trained(request.param)


def test_optimizer_trains(variant):
    config, model, history, x = variant
    assert type(model.optimizer) is OPTIMIZER_CLASSES[config.optimizer]
    assert history["loss"] and all(np.isfinite(history["loss"]))
    assert model.output_shape == (None, 10)
    if config.optimizer == "sgd":
        assert model.optimizer.momentum == 0.9 and model.optimizer.nesterov
    if config.optimizer == "adamw":
        assert model.optimizer.weight_decay == pytest.approx(0.01)
    probs = np.asarray(model(x[:4].reshape((4, *model.input_shape[1:])).astype(np.float32) / 255))
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_schedule(variant):
    config, model, history, x = variant
    train_size = len(x) - int(len(x) * config.validation_split)
    steps_per_epoch = -(-train_size // config.batch_size)
    steps = steps_per_epoch * config.epochs  # what the schedule spans
    lr = config.lr
    assert int(model.optimizer.iterations.numpy()) == steps_per_epoch * len(history["loss"])
    final = float(np.asarray(model.optimizer.learning_rate))
    if config.schedule == "constant":
        assert final == pytest.approx(lr, rel=1e-6)
        return
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    if config.schedule == "cosine":
        assert float(schedule(0)) == pytest.approx(lr, rel=1e-6)
        assert final == pytest.approx(0.0, abs=lr * 1e-3)  # annealed to zero by the last step
    else:  # one cycle: warm up from lr/25 to lr over 30% of the steps, then anneal to lr/250
        warmup = int(0.3 * steps)
        assert float(schedule(0)) == pytest.approx(lr / 25, rel=1e-5)
        assert float(schedule(warmup)) == pytest.approx(lr, rel=1e-5)
        assert max(float(schedule(s)) for s in range(steps + 1)) == pytest.approx(lr, rel=1e-5)
        assert final == pytest.approx(lr / 250, rel=1e-3)


def test_cnn_takes_images(trained):
    config, model, history, x = trained("adam-cosine-cnn")
    assert model.input_shape == (None, 28, 28, 1)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [4, 8]
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers) == 2


def test_label_smoothing_changes_the_training_loss_not_the_test_loss(trained, small_mnist):
    from model.serving.evaluate import test_metrics

    config, model, history, x = trained("adam-cosine-cnn")
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    images, labels = small_mnist[1]
    probs = model(images[..., None].astype(np.float32) / 255, training=False)
    plain = float(np.mean(keras.losses.categorical_crossentropy(keras.utils.to_categorical(labels, 10), probs)))
    assert test_metrics(model, (images, labels))["test_loss"] == pytest.approx(plain, rel=1e-4)


def test_augmentation_distorts_training_batches_not_the_model(trained, small_mnist):
    from model.training.fit import make_dataset

    config, model, history, x = trained("rmsprop-cosine-augment")
    assert model.input_shape == (None, 784)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Dense", "Activation", "Dense"]
    assert history["loss"][-1] < 2.3  # it trained on the distorted batches
    images = x[:64].reshape(64, 784).astype(np.float32) / 255
    labels = small_mnist[0][1][:64]
    plain, = make_dataset(images, labels, 64, seed=None).as_numpy_iterator()
    np.testing.assert_array_equal(plain[0], images)
    distorted, again = (next(make_dataset(images, labels, 64, seed=None, augment=0.5).as_numpy_iterator())
                        for _ in range(2))
    assert distorted[0].shape == (64, 784) and not np.allclose(distorted[0], images, atol=1e-3)
    np.testing.assert_array_equal(distorted[1], plain[1])  # labels untouched
    np.testing.assert_allclose(distorted[0].sum(axis=1), images.sum(axis=1), rtol=0.5)  # moved, not erased
    np.testing.assert_array_equal(distorted[0], again[0])  # the seed fixes the distortions


def test_training_batches_are_each_epoch_a_new_order_of_all_images_without_autotuning():
    """make_dataset with a seed: every epoch all images once, in an order of
    its own, the same orders for the same seed; tf.data's autotuning off
    (with it, some epochs ran on one core: bench.speed)."""
    from model.training.fit import make_dataset

    x = np.arange(100, dtype=np.float32).reshape(100, 1)
    y = np.arange(100) % 10

    def epochs(seed):
        ds = make_dataset(x, y, 32, seed=seed)
        return [np.concatenate([images[:, 0] for images, _ in ds.as_numpy_iterator()]) for _ in range(3)]

    first, again = epochs(0), epochs(0)
    for order, same in zip(first, again):
        assert sorted(order) == list(range(100))
        np.testing.assert_array_equal(order, same)
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[0], epochs(1)[0])
    assert make_dataset(x, y, 32, seed=0).options().autotune.enabled is False


def test_validation_split_and_early_stopping(trained, small_mnist):
    """The last 20% validates; early stopping leaves the weights of the epoch
    with the best validation accuracy (as a tuning trial is scored)."""
    config, model, history, x = trained("adamw-constant-validation")
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
    assert 1 <= len(history["val_loss"]) == len(history["loss"]) <= config.epochs
    n_val = int(len(x) * config.validation_split)
    images, labels = x[-n_val:], small_mnist[0][1][len(x) - n_val:len(x)]
    predicted = np.asarray(model(images.reshape(n_val, 784).astype(np.float32) / 255, training=False)).argmax(1)
    assert (predicted == labels).mean() == pytest.approx(max(history["val_accuracy"]), abs=1e-6)


def test_a_validation_split_too_small_for_one_image_still_trains(small_mnist):
    """1% of 50 images rounds down to no validation image: the data must still
    be trained on (keeping at least one image for validation), not emptied."""
    config = TrainConfig(validation_split=0.01, epochs=1, hidden_units=(8,), batch_size=16)
    model, history = fit(config, subset(small_mnist, 50))
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    assert int(model.optimizer.iterations.numpy()) >= 1


# --- train(): files, registry, cache ----------------------------------------------

def registry_files(root, key):
    folder = store.run_dir(key, root)
    return [folder / "model.h5", folder / "model.keras", folder / "meta.json"]


def temporary_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.startswith(".") and ".tmp" in p.name)


def test_train_writes_the_model_its_sidecar_and_the_registry(lab_dir, mnist):
    result = train(TINY, root=lab_dir)
    assert not result.cached
    assert result.path == lab_dir / "mnist_model.h5" and result.path.is_file()

    sidecar = json.loads((lab_dir / "mnist_model.json").read_text())
    assert sidecar == result.meta
    assert {"config", "metrics", "history", "train_seconds", "versions"} <= set(sidecar)
    assert TrainConfig.from_dict(sidecar["config"]) == TINY
    assert sidecar["key"] == TINY.key()
    assert set(sidecar["metrics"]) == {"test_loss", "test_accuracy"}
    assert 0.3 < sidecar["metrics"]["test_accuracy"] <= 1.0
    assert len(sidecar["history"]["loss"]) == 1
    assert sidecar["train_seconds"] > 0
    assert {"python", "tensorflow", "keras", "numpy"} <= set(sidecar["versions"])
    assert sidecar["versions"]["keras"] == keras.__version__

    for path in registry_files(lab_dir, TINY.key()):
        assert path.is_file(), path
    assert json.loads((store.run_dir(TINY.key(), lab_dir) / "meta.json").read_text()) == sidecar

    # The current model is a plain Keras file that computes what was trained.
    loaded = keras.models.load_model(lab_dir / "mnist_model.h5", compile=False)
    x = mnist[1][0][:100].reshape(100, 784).astype(np.float32) / 255
    np.testing.assert_allclose(loaded.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-6)
    keras_file = keras.models.load_model(store.run_dir(TINY.key(), lab_dir) / "model.keras", compile=False)
    assert weights_equal(keras_file, loaded)
    assert temporary_files(lab_dir) == []

    # Same settings again: the kept run is reused, nothing in the registry is rewritten.
    mtimes = [p.stat().st_mtime_ns for p in registry_files(lab_dir, TINY.key())]
    again = train(TrainConfig(epochs=1, batch_size=512, hidden_units=[16]), root=lab_dir)
    assert again.cached
    assert again.metrics == result.metrics and again.meta == result.meta
    assert weights_equal(again.model, result.model)
    assert [p.stat().st_mtime_ns for p in registry_files(lab_dir, TINY.key())] == mtimes
    assert (lab_dir / "mnist_model.h5").is_file()
    assert temporary_files(lab_dir) == []

    # out= also saves a copy elsewhere, with its own sidecar.
    out = lab_dir / "copies" / "mine.keras"
    copied = train(TINY, root=lab_dir, out=out)
    assert copied.cached and copied.path == out and out.is_file()
    assert json.loads(out.with_suffix(".json").read_text()) == result.meta
    assert weights_equal(keras.models.load_model(out, compile=False), loaded)
    assert temporary_files(lab_dir) == []


# --- the full default training ----------------------------------------------------

@pytest.mark.slow
def test_default_training_reaches_the_classic_accuracy(default_run, mnist):
    assert default_run.meta["train_seconds"] > 0  # trained by this run (the other xdist worker may reuse it)
    assert default_run.metrics["test_accuracy"] >= 0.935
    assert len(default_run.history["loss"]) == 3 and len(default_run.history["accuracy"]) == 3
    assert default_run.meta["epochs_run"] == 3
    assert default_run.meta["config"] == TrainConfig().to_dict()
    assert json.loads(default_run.path.with_suffix(".json").read_text()) == default_run.meta

    # Recomputed with plain Keras on the 10,000 test images, from the saved file.
    _, (x_test, y_test) = mnist
    model = keras.models.load_model(default_run.path, compile=False)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(x_test.reshape(-1, 784).astype(np.float32) / 255,
                                    keras.utils.to_categorical(y_test, 10), batch_size=1000, verbose=0)
    assert accuracy == pytest.approx(default_run.metrics["test_accuracy"], abs=1.5e-4)  # at most one image
    assert loss == pytest.approx(default_run.metrics["test_loss"], abs=1e-4)


# --- fine-tuning ------------------------------------------------------------------


def test_fine_tuning_starts_from_the_kept_runs_weights(lab_dir, small_mnist):
    """A fine-tuning at a vanishing learning rate is its base run (same
    weights, same test score); the key names the base; a base of another
    architecture or one not kept is refused in one line."""
    from model.training.config import ConfigError, fine_tuning

    base = train(TINY, root=lab_dir, make_current=False)
    tuned_config = fine_tuning(TINY, base.meta["key"], epochs=1, lr_factor=1e-9)
    assert tuned_config.start_from == base.meta["key"] and tuned_config.lr == pytest.approx(TINY.lr * 1e-9)
    assert tuned_config.key() != dataclasses.replace(tuned_config, start_from="").key()
    assert "fine-tuned from run " + base.meta["key"] in tuned_config.describe()
    tuned = train(tuned_config, root=lab_dir, make_current=False)
    for a, b in zip(tuned.model.get_weights(), base.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert tuned.metrics["test_accuracy"] == pytest.approx(base.metrics["test_accuracy"], abs=1e-3)
    fresh, _ = fit(dataclasses.replace(TINY, learning_rate=TINY.lr * 1e-9), subset(small_mnist, 500))
    assert not weights_equal(fresh, base.model)  # without start_from: fresh weights, the test is not vacuous

    again = fine_tuning(tuned_config, tuned.meta["key"])  # a fine-tuning fine-tuned keeps its own rate
    assert again.lr == tuned_config.lr and again.epochs == tuned_config.epochs
    with pytest.raises(ConfigError, match="another architecture"):
        train(fine_tuning(dataclasses.replace(TINY, hidden_units=(32,)), base.meta["key"]), root=lab_dir)
    with pytest.raises(ConfigError, match="no kept run 0123456789ab"):
        train(fine_tuning(TINY, "0123456789ab"), root=lab_dir)
    with pytest.raises(ConfigError, match="12-character key"):
        TrainConfig(start_from="../etc")
