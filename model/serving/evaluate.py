"""How good is a model on MNIST's 10,000 test images, and where does it fail?

    python -m model evaluate mnist_model.h5
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Evaluation:
    probs: np.ndarray  # (N, 10) softmax outputs
    labels: np.ndarray  # (N,) true digits

    @cached_property
    def predictions(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @cached_property
    def correct(self) -> np.ndarray:
        return self.predictions == self.labels

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def loss(self) -> float:
        """Mean categorical cross-entropy, clipped as Keras clips it."""
        p = np.clip(self.probs[np.arange(len(self.labels)), self.labels], 1e-7, 1.0)
        return float(-np.log(p).mean())

    @cached_property
    def confusion(self) -> np.ndarray:
        """counts[true, predicted]"""
        counts = np.zeros((10, 10), dtype=np.int64)
        np.add.at(counts, (self.labels, self.predictions), 1)
        return counts

    @property
    def per_class_accuracy(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(1, self.confusion.sum(axis=1))

    def scores(self) -> dict[str, float]:
        """The figures every kept model carries in its meta."""
        return {"test_loss": self.loss, "test_accuracy": self.accuracy}

    def mistakes(self) -> np.ndarray:
        """Indices of the wrong predictions, the most confident first."""
        wrong = np.flatnonzero(~self.correct)
        return wrong[np.argsort(-self.probs[wrong].max(axis=1), kind="stable")]


def disagreements(probs_a: np.ndarray, probs_b: np.ndarray) -> np.ndarray:
    """Indices where two models predict different digits."""
    return np.flatnonzero(probs_a.argmax(axis=1) != probs_b.argmax(axis=1))


def test_metrics(model, test_data: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """Accuracy and cross-entropy on MNIST's 10,000 test images (loaded when
    ``test_data`` is not given): the figures every kept model carries."""
    if test_data is None:
        from model.data.mnist import load_mnist

        test_data = load_mnist()[1]
    return evaluate(model, *test_data).scores()


def evaluate(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 2000) -> Evaluation:
    """Run ``model`` on uint8 images (N, 28, 28) with true ``labels``."""
    from model.data.preprocess import scale_images
    from model.serving.predict import predict_batch

    x = scale_images(images)
    probs = np.concatenate([predict_batch(model, x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    return Evaluation(probs=probs, labels=np.asarray(labels, dtype=np.int64))
