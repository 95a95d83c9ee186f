"""The Draw path is faithful to MNIST itself: MNIST's own test digits (writers
no training saw), drawn back onto a canvas at random size and place and read
through ``canvas_to_mnist``, are read as well as the same digits read
directly (bench/reading.py measures every preset and set)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.reading import mnist_test, on_canvas
from model.data.preprocess import canvas_to_mnist, scale_images
from model.serving.predict import predict_batch

N = 1000


@pytest.mark.slow
def test_mnist_test_digits_on_a_canvas_read_within_a_point_of_direct(default_run):
    x, y = mnist_test(N)
    rng = np.random.default_rng(0)
    drawn = np.stack([canvas_to_mnist(on_canvas(image, (120, 260), rng)) for image in x])
    direct = (predict_batch(default_run.model, scale_images(x)).argmax(1) == y).mean()
    through_canvas = (predict_batch(default_run.model, drawn).argmax(1) == y).mean()
    print(f"\nclassic MLP on {N} MNIST test digits: direct {direct:.2%}, drawn on a canvas {through_canvas:.2%}")
    assert abs(through_canvas - direct) <= 0.01  # the MLP within 1 point (was 4.25 points worse)
