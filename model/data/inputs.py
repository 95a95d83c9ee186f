"""How images go into a digit classifier: the input shapes a model may take
(``INPUT_SHAPES``), one image checked as 28x28 (``one_image``), and a batch
of images shaped for a model's input (``model_inputs``). Everything that
feeds a model (training, prediction, export, insight) shapes its images here.

    from model.data.inputs import model_inputs
    x = model_inputs(x_test, model.input_shape[1:])   # uint8 (N, 28, 28) -> float32 in [0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.data.preprocess import scale_images

INPUT_SHAPES = {(784,), (28, 28), (28, 28, 1)}


def one_image(image: np.ndarray) -> np.ndarray:
    """One image of 784 pixels as float32 (28, 28); ``ValueError`` for any other size."""
    image = np.asarray(image, dtype=np.float32)
    if image.size != 784:
        raise ValueError(f"expected a 28x28 image, got shape {image.shape}")
    return image.reshape(28, 28)


def model_inputs(images: np.ndarray, shape: Sequence[int | None]) -> np.ndarray:
    """uint8 or float images (N, 28, 28) as float32 in the model's input shape."""
    x = scale_images(images) if images.dtype == np.uint8 else np.asarray(images, np.float32)
    return x.reshape((len(x), *[d for d in shape if d is not None]))
