"""Exporting a classifier (model.serving.export): the TFLite file predicts what the
Keras model predicts on all 10,000 test images, for the classic MLP and a
small CNN with batch norm (each fitted on 2,000 images); .keras and .h5 bytes
load back and predict identically."""

from __future__ import annotations

import numpy as np
import pytest

from model.data.preprocess import scale_images
from model.serving.export import export_model, file_name, tflite_predict
from model.serving.predict import load_classifier, predict_batch
from model.training.config import TrainConfig


@pytest.fixture(scope="module")
def tiny_cnn(small_mnist):
    """A CNN with batch normalization trained for one epoch on 2,000 images (a few seconds)."""
    from model.training.fit import fit

    config = TrainConfig(architecture="cnn", conv_filters=(8,), hidden_units=(16,), optimizer="adam",
                         batch_norm=True, batch_size=64, epochs=1)
    model, _ = fit(config, small_mnist[0])
    return model


@pytest.fixture(scope="module")
def classic_mlp(small_mnist):
    """The default MLP (784-128-128-10) fitted on 2,000 images."""
    from model.training.fit import fit

    return fit(TrainConfig(), small_mnist[0])[0]


@pytest.fixture(params=["classic_mlp", "tiny_cnn"])
def classifier(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def test_images(mnist):
    return scale_images(mnist[1][0])


def test_tflite_predicts_like_keras_on_the_whole_test_set(classifier, test_images):
    data = export_model(classifier, "tflite")
    assert data[4:8] == b"TFL3"  # the flatbuffer's file identifier
    lite = tflite_predict(data, test_images)
    keras_probs = predict_batch(classifier, test_images)
    assert lite.shape == keras_probs.shape == (10_000, 10)
    # Same float32 arithmetic, other kernels: equal up to rounding.
    agreement = (lite.argmax(axis=1) == keras_probs.argmax(axis=1)).mean()
    assert agreement >= 0.999
    np.testing.assert_allclose(lite, keras_probs, atol=1e-4, rtol=0)


def test_tflite_takes_uint8_images_and_any_batch(tiny_cnn, mnist):
    data = export_model(tiny_cnn, "tflite")
    x = mnist[1][0][:7]
    from_uint8 = tflite_predict(data, x, batch_size=3)  # batches of 3, 3, 1
    np.testing.assert_allclose(from_uint8, tflite_predict(data, scale_images(x)), atol=1e-6)
    assert tflite_predict(data, x[:0]).shape == (0, 10)
    with pytest.raises(ValueError):
        tflite_predict(data, np.zeros((2, 27, 27), np.float32))


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_saved_bytes_load_back_and_predict_identically(fmt, classifier, test_images, tmp_path):
    path = tmp_path / file_name("exported", fmt)
    path.write_bytes(export_model(classifier, fmt))
    loaded = load_classifier(path)
    assert all(type(layer).__module__.startswith("keras.") for layer in loaded.layers)  # plain Keras opens it
    x = test_images[:2000]
    np.testing.assert_array_equal(predict_batch(loaded, x), predict_batch(classifier, x))


def test_unknown_format_is_refused(tiny_cnn):
    with pytest.raises(ValueError, match="unknown export format"):
        export_model(tiny_cnn, "onnx")
