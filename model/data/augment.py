"""Training-time distortions of digit batches: where a digit sits and how a
pen and a hand drew it, each image anew every epoch.

    from model.data.augment import distortion
    distort = distortion(placement=0.6, pen=0.5, seed=0)
    distorted = distort(images)        # float (N, 28, 28, 1) in [0, 1]

``model.training.fit.make_dataset`` calls it on every batch, in the input pipeline.

Two strengths, each 0 (off) to 1:

- ``placement``: rotation up to 15 degrees, zoom up to 15% and a shift up to
  3 pixels (each at strength 1, uniform, either way);
- ``pen``: strokes thickened or thinned by a pixel (2x2 dilation or erosion,
  each with probability ``pen``/3), a slant (shear up to 0.3) and an elastic
  wobble (a smooth random displacement field: normal displacements of 0.75
  pixel standard deviation on a 4x4 grid, bicubically interpolated).

Everything geometric is one map from output to input pixels (the affine part
composed with the elastic field) sampled once, bilinearly: one resampling
blurs a digit less than three, and costs less than half (``bench.augment``).
It replaced three Keras preprocessing layers and
``keras.layers.RandomElasticTransform``,
whose TensorFlow code, on batches of unknown size as in a tf.data pipeline,
gave every image it wobbled one and the same picture (the batch's first,
distorted) with the original labels, and displaced x and y by the same noise
(Keras 3.15.1; a test here keeps every image its own).
"""

from __future__ import annotations

import math
from collections.abc import Callable

SIZE = 28
CENTRE = (SIZE - 1) / 2
MAX_DEGREES, MAX_ZOOM, MAX_SHIFT = 15.0, 0.15, 3.0  # placement at strength 1
MAX_SHEAR, MAX_WOBBLE = 0.3, 1.5  # pen at strength 1 (shear dx/dy; wobble: twice its std, pixels)
WOBBLE_GRID = 4  # the elastic field: random displacements on a 4x4 grid, smoothly interpolated


def distortion(placement: float, pen: float, seed: int) -> Callable:
    """A function distorting float image batches (N, 28, 28, 1) at these
    strengths (see the module docstring), drawn from a generator seeded with
    ``seed``: the same seed and the same calls make the same distortions."""
    import tensorflow as tf

    generator = tf.random.Generator.from_seed(seed)

    def uniform(shape, limit):
        return generator.uniform(shape, -limit, limit)

    def distort(images):
        n = tf.shape(images)[0]
        if pen:
            images = _thicken_or_thin(images, generator.uniform((n, 1, 1, 1)), pen / 3)
        angle = uniform((n, 1, 1), placement * MAX_DEGREES * math.pi / 180)
        zoom = 1 + uniform((n, 1, 1), placement * MAX_ZOOM)  # > 1 reads a larger area: the digit shrinks
        shift_x, shift_y = uniform((n, 1, 1), placement * MAX_SHIFT), uniform((n, 1, 1), placement * MAX_SHIFT)
        shear = uniform((n, 1, 1), pen * MAX_SHEAR)
        # Output pixel (x, y), about the centre, reads input c + zoom * R(angle) * (x + shear * y, y) - shift.
        cos, sin = tf.cos(angle) * zoom, tf.sin(angle) * zoom
        a, b, d, e = cos, cos * shear - sin, sin, sin * shear + cos  # source = (a x + b y, d x + e y) + ...
        if not pen:  # affine only: TensorFlow's own kernel, faster than gathering (1.0 against 1.6 s an epoch)
            c = CENTRE
            transforms = tf.concat([t[:, 0] for t in (a, b, c - (a + b) * c - shift_x, d, e,
                                                      c - (d + e) * c - shift_y, 0 * a, 0 * a)], axis=1)
            return tf.raw_ops.ImageProjectiveTransformV3(
                images=images, transforms=transforms, output_shape=(SIZE, SIZE), fill_value=0.0,
                interpolation="BILINEAR", fill_mode="CONSTANT")
        grid = tf.range(SIZE, dtype=tf.float32) - CENTRE
        y, x = grid[None, :, None], grid[None, None, :]
        field = generator.normal((n, WOBBLE_GRID, WOBBLE_GRID, 2)) * pen * MAX_WOBBLE / 2
        field = tf.image.resize(field, (SIZE, SIZE), method="bicubic")
        source_x = CENTRE + a * x + b * y - shift_x + field[..., 0]
        source_y = CENTRE + d * x + e * y - shift_y + field[..., 1]
        return tf.clip_by_value(sample(images, source_x, source_y), 0.0, 1.0)

    return distort


def _thicken_or_thin(images, pick, p: float):
    """Each image dilated (``pick`` < p), eroded (``pick`` > 1 - p) or kept."""
    import tensorflow as tf

    dilated = tf.nn.max_pool2d(images, 2, 1, "SAME")
    eroded = -tf.nn.max_pool2d(-images, 2, 1, "SAME")
    return tf.where(pick < p, dilated, tf.where(pick > 1 - p, eroded, images))


def sample(images, x, y):
    """Bilinear samples of ``images`` (N, H, W, 1) at the points ``x``, ``y``
    (N, H, W, in pixels); points outside the image read black."""
    import tensorflow as tf

    n, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
    padded = tf.reshape(tf.pad(images[..., 0], [[0, 0], [1, 1], [1, 1]]), [-1])  # a black border
    # Corners clipped into the border: anything beyond reads black.
    x = tf.clip_by_value(x, -1.0, float(w))
    y = tf.clip_by_value(y, -1.0, float(h))
    x0, y0 = tf.floor(x), tf.floor(y)
    fx, fy = x - x0, y - y0
    x0, y0 = tf.cast(x0, tf.int32) + 1, tf.cast(y0, tf.int32) + 1
    x1, y1 = tf.minimum(x0 + 1, w + 1), tf.minimum(y0 + 1, h + 1)
    row = (w + 2) * (h + 2) * tf.range(n)[:, None, None]

    def at(yi, xi):
        return tf.gather(padded, row + yi * (w + 2) + xi)

    top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
    return (top * (1 - fy) + bottom * fy)[..., None]
