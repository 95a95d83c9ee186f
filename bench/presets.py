"""Accuracy and training time of each preset, from scratch, on MNIST's test
set and on pen-drawn digits the models never trained on.

    python -m bench.presets                       # classic and fast-cnn
    python -m bench.presets strong-cnn            # aimed at 99.6% in <= 10 minutes
    python -m bench.presets classic --drawn 100   # more drawn digits a class

Goals (2 CPU cores): classic >= 93.5% in 3 epochs; fast-cnn reaches 99.0% in
<= 45 s of training (stretch 30 s); strong-cnn >= 99.6% in <= 10 minutes.
The test set is scored after every epoch; that time is not counted.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from model.config import PRESETS  # noqa: E402
from model.data import load_mnist  # noqa: E402
from model.predict import predict_batch  # noqa: E402
from model.preprocess import canvas_to_mnist, scale_images  # noqa: E402
from model.strokes import drawn_digits  # noqa: E402
from model.train import fit  # noqa: E402

TARGET = 0.99


class EpochScore(keras.callbacks.Callback):
    """Test accuracy after each epoch, and training seconds spent until then."""

    def __init__(self, x_test: np.ndarray, y_test: np.ndarray) -> None:
        super().__init__()
        self.x_test, self.y_test = x_test, y_test
        self.rows: list[tuple[int, float, float]] = []

    def on_train_begin(self, logs=None) -> None:
        self.start, self.paused = time.perf_counter(), 0.0

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        t = time.perf_counter()
        trained = t - self.start - self.paused
        probs = np.concatenate([predict_batch(self.model, self.x_test[i:i + 2000])
                                for i in range(0, len(self.x_test), 2000)])
        accuracy = float((probs.argmax(axis=1) == self.y_test).mean())
        self.paused += time.perf_counter() - t
        self.rows.append((epoch + 1, trained, accuracy))
        print(f"  epoch {epoch + 1:2d}  {trained:7.1f} s  test accuracy {accuracy:.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("presets", nargs="*", default=["classic", "fast-cnn"], choices=sorted(PRESETS))
    parser.add_argument("--drawn", type=int, default=50, help="drawn digits a class (default 50)")
    args = parser.parse_args()
    (x_train, y_train), (x_test, y_test) = load_mnist()
    drawn, drawn_labels = drawn_digits(per_digit=args.drawn, seed=2026)
    drawn_x = np.stack([canvas_to_mnist(image) for image in drawn])
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for name in args.presets:
        config = PRESETS[name]
        print(f"{name}: {config.describe()}", flush=True)
        score = EpochScore(scale_images(x_test), y_test.astype(np.int64))
        model, _ = fit(config, (x_train, y_train), [score])
        epoch, seconds, accuracy = score.rows[-1]
        reached = next(((e, s) for e, s, a in score.rows if a >= TARGET), None)
        drawn_accuracy = float((predict_batch(model, drawn_x).argmax(axis=1) == drawn_labels).mean())
        to_target = f"{reached[1]:.1f} s (epoch {reached[0]})" if reached else "not reached"
        print(f"RESULT {name}: test accuracy {accuracy:.4f} after {epoch} epochs, {seconds:.1f} s of training; "
              f"time to {TARGET:.1%}: {to_target}; drawn digits {drawn_accuracy:.3f} "
              f"({len(drawn_labels)} drawings)", flush=True)


if __name__ == "__main__":
    main()
