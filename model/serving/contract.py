"""What the lab calls a digit classifier, and how images go into one.

Any Keras model with one input of shape (784,), (28, 28) or (28, 28, 1) and
10 softmax outputs. Every module that feeds a model (training, prediction,
export, attributions) shapes its images here, and every check that refuses a
file raises ``InvalidModelError``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.data.preprocess import scale_images

INPUT_SHAPES = {(784,), (28, 28), (28, 28, 1)}
MAX_MODEL_BYTES = 200 * 1024 * 1024


class InvalidModelError(ValueError):
    """The file is not a usable, safe digit classifier; the message says why."""


def model_inputs(images: np.ndarray, shape: Sequence[int | None]) -> np.ndarray:
    """uint8 or float images (N, 28, 28) as float32 in the model's input shape."""
    x = scale_images(images) if images.dtype == np.uint8 else np.asarray(images, np.float32)
    return x.reshape((len(x), *[d for d in shape if d is not None]))
