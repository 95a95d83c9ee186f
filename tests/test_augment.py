"""Training-time distortions (``model.data.augment``): each image distorted on its
own, as far as the strengths say, and no further; the affine kernel and the
sampler agree; seeds repeat."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.data.augment import CENTRE, MAX_DEGREES, SIZE, distortion, sample
from model.training.fit import make_dataset


def batch(small_mnist, n: int = 256) -> np.ndarray:
    return small_mnist[0][0][:n, ..., None].astype(np.float32) / 255


def ink_mass(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).sum(axis=1)


def bar() -> np.ndarray:
    """An upright bar, 3 pixels wide and 18 high, in the middle."""
    image = np.zeros((SIZE, SIZE, 1), np.float32)
    image[5:23, 13:16] = 1.0
    return image


def lean(image: np.ndarray) -> float:
    """Degrees between the ink's long axis and the vertical, signed."""
    ys, xs = np.nonzero(image[..., 0] > 0.5)
    vx, vy = np.linalg.eigh(np.cov(np.stack([xs, ys])))[1][:, -1]
    return math.degrees(math.atan(vx / vy))


@pytest.mark.parametrize("placement, pen", [(0.6, 0.0), (0.6, 0.5), (0.0, 1.0)])
def test_in_the_pipeline_every_image_stays_its_own(placement, pen, small_mnist):
    """In tf.data, where a batch's size is unknown, each image is distorted
    as the same function distorts it in a batch of known size, and no two
    alike (Keras' elastic layer gave an eighth of each such batch one and
    the same image, with their own labels)."""
    x, y = batch(small_mnist), small_mnist[0][1][:256]
    (images, labels), = make_dataset(x, y, 256, seed=None, augment=placement, stroke_augment=pen).as_numpy_iterator()
    np.testing.assert_allclose(images, distortion(placement, pen, seed=0)(x).numpy(), atol=1e-4)
    assert len(np.unique(images.reshape(256, -1).round(4), axis=0)) == 256
    np.testing.assert_array_equal(labels.argmax(1), y)


def test_zero_strength_is_the_identity_and_a_seed_repeats(small_mnist):
    images = batch(small_mnist, 64)
    np.testing.assert_array_equal(distortion(0.0, 0.0, seed=1)(images).numpy(), images)
    first, again = (distortion(0.5, 0.5, seed=3)(images).numpy() for _ in range(2))
    np.testing.assert_array_equal(first, again)
    other = distortion(0.5, 0.5, seed=4)(images).numpy()
    assert not np.allclose(first, other, atol=1e-3)
    assert first.min() >= 0 and first.max() <= 1


def test_placement_turns_a_bar_up_to_its_limit_either_way():
    bars = np.repeat(bar()[None], 400, axis=0)
    leans = np.array([lean(image) for image in distortion(1.0, 0.0, seed=0)(bars).numpy()])
    # Turned uniformly up to 15 degrees either way (resampling blurs the measure by a degree).
    assert np.abs(leans).max() <= MAX_DEGREES + 1.5
    assert leans.min() < -11 and leans.max() > 11
    assert abs(np.median(leans)) < 2


def test_pen_thickens_thins_and_never_erases(small_mnist):
    images = batch(small_mnist, 512)
    ratio = ink_mass(distortion(0.0, 1.0, seed=3)(images).numpy()) / ink_mass(images)
    # about a third each thickened (more ink), thinned (less ink), kept
    assert (ratio > 1.2).mean() > 0.2 and (ratio < 0.8).mean() > 0.2
    assert np.percentile(ratio, 10) > 0.2


def test_the_wobble_moves_x_and_y_independently():
    """One bar, wobbled 600 times: among the copies whose strokes kept their
    thickness (dilation and erosion shift ink by half a pixel both ways at
    once), the ink's centre moves in x and in y, and not by the same noise
    (Keras' elastic layer moved both by one)."""
    bars = np.repeat(bar()[None], 600, axis=0)
    out = distortion(0.0, 1.0, seed=5)(bars).numpy()[..., 0]
    kept = np.abs(out.sum(axis=(1, 2)) / bar().sum() - 1) < 0.1
    assert kept.sum() > 100
    ys, xs = np.mgrid[:SIZE, :SIZE]
    out = out[kept]
    mass = out.sum(axis=(1, 2))
    cx, cy = (out * xs).sum(axis=(1, 2)) / mass, (out * ys).sum(axis=(1, 2)) / mass
    assert cx.std() > 0.1 and cy.std() > 0.1
    assert abs(np.corrcoef(cx, cy)[0, 1]) < 0.3


def test_the_sampler_reads_what_tensorflows_affine_kernel_reads(small_mnist):
    """``sample`` at an affine map's points equals ImageProjectiveTransformV3
    with that map (same pixel convention, black outside)."""
    import tensorflow as tf

    images = batch(small_mnist, 32)
    rng = np.random.default_rng(0)
    angle, zoom = rng.uniform(-0.4, 0.4, 32), rng.uniform(0.8, 1.2, 32)
    shift = rng.uniform(-4, 4, (32, 2))
    a, b, d, e = zoom * np.cos(angle), -zoom * np.sin(angle), zoom * np.sin(angle), zoom * np.cos(angle)
    grid = np.arange(SIZE) - CENTRE
    y, x = grid[None, :, None], grid[None, None, :]
    col = (lambda v: v[:, None, None])
    source_x = CENTRE + col(a) * x + col(b) * y - col(shift[:, 0])
    source_y = CENTRE + col(d) * x + col(e) * y - col(shift[:, 1])
    mine = sample(tf.constant(images), tf.constant(source_x, tf.float32), tf.constant(source_y, tf.float32))
    c = CENTRE
    transforms = np.stack([a, b, c - (a + b) * c - shift[:, 0], d, e, c - (d + e) * c - shift[:, 1],
                           0 * a, 0 * a], axis=1).astype(np.float32)
    theirs = tf.raw_ops.ImageProjectiveTransformV3(images=images, transforms=transforms, output_shape=(SIZE, SIZE),
                                                   fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
    np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-4)
