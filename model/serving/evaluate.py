"""How good is a model on MNIST's 10,000 test images, and where does it fail?

    python -m model.evaluate mnist_model.h5
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
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
        from model.data import load_mnist

        test_data = load_mnist()[1]
    result = evaluate(model, *test_data)
    return {"test_loss": result.loss, "test_accuracy": result.accuracy}


def evaluate(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 2000) -> Evaluation:
    """Run ``model`` on uint8 images (N, 28, 28) with true ``labels``."""
    from model.predict import predict_batch
    from model.preprocess import scale_images

    x = scale_images(images)
    probs = np.concatenate([predict_batch(model, x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    return Evaluation(probs=probs, labels=np.asarray(labels, dtype=np.int64))


def main(argv: Sequence[str] | None = None) -> int:
    from model.cli import FAILED, Parser, fail, start_tensorflow

    parser = Parser(prog="python -m model.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("path", help="a .h5 or .keras model file")
    parser.add_argument("--drawings", action="store_true",
                        help="also score the held-out part of the saved drawings (model.drawings)")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log messages")
    args = parser.parse_args(argv)
    from model.data import DataUnavailableError, load_mnist
    from model.predict import InvalidModelError, load_classifier

    try:
        start_tensorflow(verbose=args.verbose)
        model = load_classifier(args.path)
        _, (x_test, y_test) = load_mnist()
        result = evaluate(model, x_test, y_test)
        drawn = None
        if args.drawings:
            from model.drawings import held_out_evaluation

            drawn = held_out_evaluation(model)
            if drawn is None:
                return fail("no held-out saved drawings to score yet: save some on the Draw page, "
                            "or python -m model.drawings import FILE.npz", FAILED)
    except (InvalidModelError, DataUnavailableError) as exc:
        return fail(exc, FAILED)
    except Exception as exc:  # one line, never a traceback
        return fail(f"the evaluation failed: {exc}", FAILED)
    print(f"test loss {result.loss:.4f}  test accuracy {result.accuracy:.4f}")
    print("per-class accuracy  " + "  ".join(f"{d}: {a:.3f}" for d, a in enumerate(result.per_class_accuracy)))
    if drawn is not None:
        scored, held = drawn
        print(f"held-out drawings: accuracy {scored.accuracy:.4f} on {len(held)} "
              f"({int((~scored.correct).sum())} wrong; only the held-out fifth is scored)")
        print("per-class accuracy  " + "  ".join(f"{d}: {a:.3f}" if n else f"{d}: -" for d, (a, n) in
                                                enumerate(zip(scored.per_class_accuracy, scored.confusion.sum(1)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
