"""The synthetic pen-drawn digits: well-formed, varied, and readable."""

import numpy as np

from model.preprocess import canvas_to_mnist
from model.predict import predict_batch
from model.strokes import digit_strokes, drawn_digits, render


def test_drawn_digits_shapes_labels_and_variety():
    images, labels = drawn_digits(per_digit=3, seed=1)
    assert images.shape == (30, 280, 280, 4) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [3] * 10
    assert (images[..., 3] == 255).all()  # an opaque black canvas, as with a black background
    assert not np.array_equal(images[0], images[1])  # random size, slant, position, width
    again, _ = drawn_digits(per_digit=3, seed=1)
    assert np.array_equal(images, again)


def test_upright_templates_stay_inside_the_canvas():
    for digit in range(10):
        points = np.concatenate([np.array(s) for s in digit_strokes(digit)])
        assert points.min() > 20 and points.max() < 260


def test_the_default_model_reads_drawn_digits(default_run):
    """A model trained on scanned MNIST still reads most pen drawings."""
    upright = np.stack([canvas_to_mnist(render(digit_strokes(d))) for d in range(10)])
    assert predict_batch(default_run.model, upright).argmax(axis=1).tolist() == list(range(10))
    images, labels = drawn_digits(per_digit=10, seed=0)
    x = np.stack([canvas_to_mnist(i) for i in images])
    accuracy = (predict_batch(default_run.model, x).argmax(axis=1) == labels).mean()
    assert accuracy >= 0.85
