"""The training-time distortions: ``model.data.augment`` against the Keras layers it
replaced, in training's own input pipeline (``model.training.fit.make_dataset``:
60,000 images an epoch, in batches of unknown size, as ``model.fit`` gets them).

    python -m bench.augment              # 3 epochs of each pipeline, medians
    python -m bench.augment --epochs 5

For each: seconds to produce one epoch of distorted batches, and the share of
images that are copies of another image of their batch. The copies are
counted on the pen alone: with placement after it, each copy is turned and
shifted anew, so it is no longer identical, but still another digit's picture
under this image's label. The Keras distortion is the one the lab used
before: RandomRotation, RandomZoom and RandomTranslation, and for the pen,
2x2 dilation/erosion, a shear, and ``keras.layers.RandomElasticTransform``,
which on batches of unknown size gives every image it wobbles one and the
same picture (the batch's first). Goal: no copies, and the pipelines
training uses no slower than before.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext

import numpy as np

from bench.common import footer, header, median, table, verdict
from model.data import augment
from model.data.inputs import model_inputs
from model.data.mnist import load_mnist
from model.training.fit import make_dataset


def keras_distortion(placement: float, pen: float, seed: int):
    """The distortion as it was, from Keras' preprocessing layers."""
    import keras
    import tensorflow as tf
    from keras import layers

    place = keras.Sequential([
        layers.RandomRotation(placement * 15 / 360, fill_mode="constant", seed=seed),
        layers.RandomZoom(placement * 0.15, fill_mode="constant", seed=seed + 1),
        layers.RandomTranslation(placement * 3 / 28, placement * 3 / 28, fill_mode="constant", seed=seed + 2),
    ])
    wobble = layers.RandomElasticTransform(factor=pen / 2, scale=0.4 * pen, fill_mode="constant",
                                           value_range=(0, 1), seed=seed)
    generator = tf.random.Generator.from_seed(seed + 10)

    def distort(images):
        if pen:
            n = tf.shape(images)[0]
            dilated = tf.nn.max_pool2d(images, 2, 1, "SAME")
            eroded = -tf.nn.max_pool2d(-images, 2, 1, "SAME")
            pick = generator.uniform((n, 1, 1, 1))
            images = tf.where(pick < pen / 3, dilated, tf.where(pick > 1 - pen / 3, eroded, images))
            k = generator.uniform((n, 1), -0.3 * pen, 0.3 * pen)
            one, zero = tf.ones_like(k), tf.zeros_like(k)
            images = tf.raw_ops.ImageProjectiveTransformV3(
                images=images, transforms=tf.concat([one, k, -13.5 * k, zero, one, zero, zero, zero], axis=1),
                output_shape=(28, 28), fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
            images = wobble(tf.reshape(images, (-1, 28, 28, 1)), training=True)
        return place(images, training=True) if placement else images

    return distort


@contextmanager
def keras_layers():
    """``model.training.fit.make_dataset`` distorting with ``keras_distortion``."""
    kept = augment.distortion
    augment.distortion = keras_distortion
    try:
        yield
    finally:
        augment.distortion = kept


def copies(images: np.ndarray) -> int:
    """Images of the batch that are a copy of another one of it."""
    flat = images.reshape(len(images), -1).round(4)
    return len(flat) - len(np.unique(flat, axis=0))


def measure(x, y, batch: int, placement: float, pen: float, epochs: int) -> tuple[float, float]:
    """Training's own pipeline (``make_dataset``, shuffled) at these
    strengths: (median seconds an epoch over ``epochs``, after one that
    traces the map function; the share of copied images in one more epoch,
    untimed)."""
    ds = make_dataset(x, y, batch, seed=0, augment=placement, stroke_augment=pen)
    seconds = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        for _batch in ds:
            pass
        seconds.append(time.perf_counter() - start)
    copied = sum(copies(images) for images, _labels in ds.as_numpy_iterator())
    return median(seconds[1:]), copied / len(x)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each pipeline (default 3)")
    args = parser.parse_args(argv)
    header("training-time distortions: model.data.augment against the Keras layers it replaced",
           "no copied images; training's pipelines no slower than with the Keras layers")
    (x_train, y_train), _ = load_mnist()
    x = model_inputs(x_train, (28, 28, 1))
    # (name, batch, placement, pen, timed against Keras: the pipelines training uses; the pen
    # alone is there to count copies, which Keras' elastic layer makes cheaply: it warps one image)
    cases = [("no distortion", 256, 0.0, 0.0, False), ("placement 0.3 (fast-cnn's variant)", 256, 0.3, 0.0, True),
             ("pen 0.5 alone", 128, 0.0, 0.5, False), ("placement 0.6, pen 0.5 (strong-cnn)", 128, 0.6, 0.5, True)]
    rows, ok = [], True
    for name, batch, placement, pen, timed in cases:
        results = {}
        for source, patched in (("model.data.augment", nullcontext), ("Keras layers", keras_layers)):
            with patched():
                results[source] = seconds, copied = measure(x, y_train, batch, placement, pen, args.epochs)
            source = source if placement or pen else "-"
            print(f"{name}, {source}: {seconds:.2f} s an epoch, {copied:.1%} copies", flush=True)
            rows.append([name, source, str(batch), f"{seconds:.2f}", f"{copied:.1%}"])
            if not (placement or pen):
                break
        if len(results) == 2:
            (mine, copied), (theirs, _) = results["model.data.augment"], results["Keras layers"]
            ok &= copied == 0 and (mine <= theirs or not timed)
    print(table(["pipeline", "distortion", "batch", "s an epoch", "copied images"], rows))
    verdict(ok, "model.data.augment: no copied images; the presets' pipelines no slower than with the Keras layers")
    footer()


if __name__ == "__main__":
    main()
