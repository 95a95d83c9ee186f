"""model.insight: attributions that add up (completeness, ``attribution``),
Grad-CAM (``cam``), layer outputs and first-layer weights (``layers``),
embedding maps that separate the digits (``embeddings``), the pictures, and
the command line.

Quick models (one epoch on 3,000 images, seconds) check shapes, errors and
determinism; the presets trained on full MNIST (``classic`` about 10 s,
``fast-cnn`` about 25 s on two cores, once a session) check the figures
that matter: the completeness gap on many images and the digits' separation
on the t-SNE map. Those tests are marked ``slow``."""

from __future__ import annotations

import numpy as np
import pytest

from model.data.preprocess import canvas_to_mnist, scale_images
from model.cli import explain as explain_cli
from model.insight import attribution, cam, embeddings, layers, pictures
from model.serving.predict import predict_batch, predict_proba
from model.training.config import TrainConfig

GAP = 0.02  # the largest completeness gap allowed with the default steps


def _fit(config: TrainConfig, data):
    from model.training.fit import fit

    return fit(config, data)[0]


@pytest.fixture(scope="session")
def quick(mnist):
    """An MLP and a CNN, one epoch on 3,000 images each."""
    (x, y), _ = mnist
    return {"mlp": _fit(TrainConfig(epochs=1, learning_rate=0.1), (x[:3000], y[:3000])),
            "cnn": _fit(TrainConfig(architecture="cnn", conv_filters=(8, 16), kernel_size=5, padding="valid",
                                    hidden_units=(32,), optimizer="adam", epochs=1), (x[:3000], y[:3000]))}


@pytest.fixture(scope="session")
def presets(default_run, starter_run):
    """The classic MLP and the fast CNN, trained on full MNIST (conftest: once for the suite)."""
    return {"classic": default_run.model, "fast-cnn": starter_run.model}


@pytest.fixture(scope="session")
def images(mnist):
    """300 MNIST test images and 100 synthetic pen drawings, preprocessed as the app does."""
    from model.data.strokes import drawn_digits

    drawings, _ = drawn_digits(per_digit=10, seed=3)
    return np.concatenate([scale_images(mnist[1][0][:300]), np.stack([canvas_to_mnist(d) for d in drawings])])


def completeness_gaps(model, images: np.ndarray, other: bool = False) -> np.ndarray:
    """|sum of attributions - (p_t(image) - p_t(black))| for each image; the
    target is the prediction, or (``other``) the runner-up digit."""
    probs, black = predict_batch(model, images), predict_proba(model, np.zeros((28, 28)))
    targets = np.argsort(probs, axis=1)[:, -2 if other else -1]
    return np.array([abs(attribution.integrated_gradients(model, im, int(t)).sum() - (p[t] - black[t]))
                     for im, p, t in zip(images, probs, targets)])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["classic", "fast-cnn"])
def test_attributions_add_up_on_the_trained_presets(presets, images, name):
    gaps = completeness_gaps(presets[name], images)
    print(f"\n{name}: completeness gap max {gaps.max():.4f}, mean {gaps.mean():.4f} over {len(images)} images")
    assert gaps.max() <= GAP
    assert completeness_gaps(presets[name], images[::4], other=True).max() <= GAP


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_attributions_add_up_and_default_to_the_prediction(quick, images, kind):
    model = quick[kind]
    assert completeness_gaps(model, images[::5]).max() <= GAP
    image = images[0]
    predicted = int(predict_proba(model, image).argmax())
    attributions = attribution.integrated_gradients(model, image)
    assert attributions.shape == (28, 28) and attributions.dtype == np.float64
    np.testing.assert_allclose(attributions, attribution.integrated_gradients(model, image, predicted), atol=1e-7)
    assert not np.allclose(attributions, attribution.integrated_gradients(model, image, (predicted + 1) % 10))
    assert (attributions[image == 0] == 0).all()  # black pixels equal the baseline: no share
    assert np.abs(attribution.integrated_gradients(model, np.zeros((28, 28)))).max() == 0


def test_integrated_gradients_refuses_bad_input(quick):
    with pytest.raises(ValueError, match="28x28"):
        attribution.integrated_gradients(quick["mlp"], np.zeros((27, 28)))
    with pytest.raises(ValueError, match="digit 0-9"):
        attribution.integrated_gradients(quick["mlp"], np.zeros((28, 28)), target=10)
    with pytest.raises(ValueError, match="steps"):
        attribution.integrated_gradients(quick["mlp"], np.zeros((28, 28)), steps=0)


def test_grad_cam_maps_the_last_convolution(quick, images):
    model, image = quick["cnn"], images[1]
    heat = cam.grad_cam(model, image)
    assert heat.shape == (28, 28)
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    predicted = int(predict_proba(model, image).argmax())
    np.testing.assert_allclose(heat, cam.grad_cam(model, image, predicted))
    others = [cam.grad_cam(model, image, d) for d in range(10) if d != predicted]
    assert any(not np.allclose(heat, other) for other in others)


def test_grad_cam_refuses_a_model_without_convolution(quick):
    with pytest.raises(cam.NoConvolutionError) as caught:
        cam.grad_cam(quick["mlp"], np.zeros((28, 28)))
    assert isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value) and "no convolution" in str(caught.value)


def test_grad_cam_on_an_uploaded_style_model_with_a_separate_softmax():
    """Not every model ends in Dense(softmax): the scores before a separate softmax are used."""
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Activation("softmax")(keras.layers.Dense(10)(x))
    model = keras.Model(inp, out)
    image = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    heat = cam.grad_cam(model, image, 3)
    assert heat.shape == (28, 28) and np.isfinite(heat).all() and heat.max() <= 1


def test_layer_outputs_every_layer_in_order(quick, images):
    import keras

    for model in quick.values():
        outputs = layers.layer_outputs(model, images[2])
        assert list(outputs) == [layer.name for layer in model.layers
                                 if not isinstance(layer, keras.layers.InputLayer)]
        np.testing.assert_allclose(list(outputs.values())[-1], predict_proba(model, images[2]), atol=1e-5)
    cnn = layers.layer_outputs(quick["cnn"], images[2])
    shapes = [v.shape for v in cnn.values()]
    assert shapes[:3] == [(24, 24, 8), (24, 24, 8), (12, 12, 8)]  # conv, activation, pooling: feature maps
    assert all(v.ndim == 1 for v in layers.layer_outputs(quick["mlp"], images[2]).values())  # dense: vectors


def test_first_layer_weights(quick):
    mlp = layers.first_layer_weights(quick["mlp"])
    assert (mlp.kind, mlp.images.shape) == ("dense", (128, 28, 28))
    kernel = np.asarray(quick["mlp"].layers[1].kernel)
    np.testing.assert_array_equal(mlp.images[5].ravel(), kernel[:, 5])
    cnn = layers.first_layer_weights(quick["cnn"])
    assert (cnn.kind, cnn.images.shape) == ("conv", (8, 5, 5))


@pytest.mark.parametrize("kind", ["SeparableConv2D", "DepthwiseConv2D"])
def test_first_layer_weights_of_the_other_convolutions(kind):
    import keras

    inp = keras.Input((28, 28, 1))
    conv = keras.layers.SeparableConv2D(4, 3, depth_multiplier=2) if kind == "SeparableConv2D" else \
        keras.layers.DepthwiseConv2D(3, depth_multiplier=2)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(conv(inp))))
    first = layers.first_layer_weights(model)
    assert (first.name, first.kind, first.images.shape) == (conv.name, "conv", (2, 3, 3))  # its spatial kernels


def test_first_layer_weights_refuses_a_model_without_such_a_layer():
    import keras

    inp = keras.Input((784,))
    model = keras.Model(inp, keras.layers.Softmax()(keras.layers.Rescaling(1.0)(inp)[:, :10]))
    with pytest.raises(layers.UnsupportedModelError, match="first layer with weights"):
        layers.first_layer_weights(model)


def test_pca_map_and_placing_a_drawing(quick, mnist):
    model, test_images = quick["mlp"], mnist[1][0][:500]
    emb = embeddings.fit_embedding(model, test_images, "pca")
    assert emb.coords.shape == (500, 2) and emb.features.shape == (500, 128)
    np.testing.assert_array_equal(emb.coords, embeddings.embedding(model, test_images, "pca"))
    # A test image placed on the map lands where it already is.
    np.testing.assert_allclose(embeddings.place(model, emb, test_images[7] / 255), emb.coords[7], atol=1e-4)


def test_tsne_map_is_deterministic_with_a_seed_and_places_by_neighbours(quick, mnist):
    model, test_images = quick["cnn"], mnist[1][0][:300]
    emb = embeddings.fit_embedding(model, test_images, "tsne", seed=0)
    assert emb.coords.shape == (300, 2)
    np.testing.assert_array_equal(emb.coords, embeddings.embedding(model, test_images, "tsne", seed=0))
    placed = embeddings.place(model, emb, test_images[11] / 255)
    spread = np.median(np.linalg.norm(emb.coords - emb.coords.mean(axis=0), axis=1))
    assert np.linalg.norm(placed - emb.coords[11]) < 0.5 * spread  # among its own neighbours


def test_unknown_map_method_is_refused(quick, mnist):
    with pytest.raises(ValueError, match="unknown method 'umap'"):
        embeddings.embedding(quick["mlp"], mnist[1][0][:50], "umap")


@pytest.mark.slow
def test_tsne_map_of_the_fast_cnn_separates_the_digits(presets, mnist):
    """5 nearest neighbours on the 2-D map of 2,000 test images vote for the true digit."""
    images, labels = mnist[1][0][:2000], mnist[1][1][:2000]
    coords = embeddings.embedding(presets["fast-cnn"], images, "tsne")
    accuracy = embeddings.knn_accuracy(coords, labels, k=5)
    print(f"\nfast-cnn t-SNE map, 2,000 test images: 5-NN accuracy {accuracy:.3f}")
    assert accuracy >= 0.90


def test_knn_accuracy_tells_separated_from_mixed_maps():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 30)
    separated = np.c_[labels * 10.0, np.zeros(300)] + rng.normal(0, 0.5, (300, 2))
    assert embeddings.knn_accuracy(separated, labels) == 1.0
    assert embeddings.knn_accuracy(rng.normal(size=(300, 2)), labels) < 0.3


def test_heat_map_red_for_blue_against():
    image = np.zeros((28, 28), np.float32)
    attribution = np.zeros((28, 28))
    attribution[3, 3], attribution[20, 20] = 0.5, -0.25
    rgb = pictures.heat_map(image, attribution, scale=1)
    assert rgb.shape == (28, 28, 3) and rgb.dtype == np.uint8
    assert rgb[3, 3, 0] > 200 and rgb[3, 3, 2] < 60  # red
    assert rgb[20, 20, 2] > rgb[20, 20, 0]  # blue
    assert (rgb[10, 10] == 0).all()  # no attribution on black: black
    assert pictures.heat_map(image, attribution, scale=8).shape == (224, 224, 3)


def test_mosaic_lays_out_a_grid():
    tiles = np.arange(5 * 4 * 4, dtype=np.float32).reshape(5, 4, 4) - 40
    grid = pictures.mosaic(tiles, columns=3, scale=2, gap=1)
    assert grid.shape == (2 * 8 + 1, 3 * 8 + 2, 3)
    assert (grid[9:, 17:] == 255).all()  # the sixth cell is empty: white


def test_cli_writes_a_png(quick, tmp_path, capsys):
    from PIL import Image

    from model.lab import store

    path = tmp_path / "cnn.h5"
    store.save_model(quick["cnn"], path)
    out = tmp_path / "why.png"
    assert explain_cli.main([str(path), "--image", "3", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with Image.open(out) as png:
        assert png.width > 400 and png.height > 600


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert explain_cli.main([str(tmp_path / "missing.h5")]) == 1
    assert explain_cli.main([str(tmp_path / "missing.h5"), "--image", "10000"]) == 2
    assert explain_cli.main([str(tmp_path / "missing.h5"), "--out", "why.jpg"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: no model file at {tmp_path / 'missing.h5'}",
                   "error: --image must be between 0 and 9999, got 10000",
                   "error: --out must name a .png file, got why.jpg"]
