"""Turning pixels into model inputs: MNIST arrays, and drawings from the canvas.

``canvas_to_mnist`` makes a drawing look like an MNIST digit the way MNIST
itself was made: crop to the ink, scale the longer side to 20 pixels keeping
the aspect ratio (anti-aliased), and shift it by whole pixels so its centre
of mass lands on pixel (14, 14), where MNIST's own digits have theirs (mean
(13.99, 14.00) over the test set, the fractions evenly spread: a whole-pixel
shift to the centre, 28 / 2). Before scaling, it normalises what MNIST never
varies as much as a canvas does. The pen: strokes thinner or thicker than
nearly all of MNIST's (a thin pen on a large digit, a thick finger on a small
one) are thinned or thickened to the edge of MNIST's range; others are left
as drawn. The slant: a digit leaning further than nearly all of MNIST's (a
hurried hand, a backhand) is sheared back to the edge of MNIST's range; one
within it is left as drawn.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

DIGIT_BOX = 20  # MNIST's digits fit a 20x20 box inside the 28x28 image
SIZE = 28
INK_LEVEL = 0.2  # a pixel at least this bright (0..1) counts as ink
MIN_DRAWING_FRACTION = 0.08  # a drawing smaller than this part of the canvas is a dot
SMALL_DRAWING_FRACTION = 0.35  # smaller than this, a drawing is read, with a word of advice
OFF_CENTRE_FRACTION = 0.25  # its middle this far from the canvas's middle: advice too
# MNIST's stroke widths in pixels of the 20-pixel digit box (``stroke_width`` of the ink at
# half its peak, digits upscaled 10x): median 2.7, p5 and p95 over all 60,000 training digits
# (the first 5,000: 1.79, 4.11; tests/test_preprocess.py checks it)
MNIST_STROKE_WIDTH = 2.7
MNIST_STROKE_WIDTHS = (1.75, 4.16)
# MNIST's slants (``slant``: dx/dy of the ink's axis, negative leaning right): p5 -0.58,
# median -0.13, p95 0.33 over the first 5,000 training digits (all 60,000: -0.57, -0.10, 0.34;
# tests/test_preprocess.py checks it). Not narrower: a 4, 7 or 9 leans left by its shape (p95 0.41-0.47).
MNIST_SLANTS = (-0.58, 0.33)
MAX_SHEAR = 0.6  # at most this much straightening: a flat stroke is no slanted digit, and stays flat


class DrawingError(ValueError):
    """The image holds no digit the model could read; the message says why."""


class EmptyDrawingError(DrawingError):
    """Nothing drawn: the image is blank or uniform."""


class DrawingTooSmallError(DrawingError):
    """The ink covers too little of the canvas to be a digit (a dot, a speck)."""


def scale_images(x: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) to float32 in [0, 1], shape (N, 28, 28)."""
    return np.asarray(x, dtype=np.float32) / 255.0


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """A canvas image (H, W, 4) RGBA, (H, W, 3) RGB or (H, W) gray, uint8 or
    float, to float32 brightness in [0, 1]: light ink on a dark background."""
    a = np.asarray(image)
    if a.dtype == bool:
        a = a.astype(np.float32)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise DrawingError(f"expected an image of numbers, got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        # element-wise over the channels: 15x faster than .max(axis=-1) on (H, W, 3)
        gray = np.maximum(np.maximum(a[..., 0], a[..., 1]), a[..., 2]).astype(np.float32)
        if a.shape[-1] == 4:  # transparent pixels carry no ink, whatever their colour
            alpha = a[..., 3].astype(np.float32)
            opaque = 255.0 if np.issubdtype(a.dtype, np.integer) or (alpha.size and alpha.max() > 1.0) else 1.0
            gray = gray * (alpha / opaque)
    elif a.ndim == 2:
        gray = a.astype(np.float32)
    else:
        raise DrawingError(f"expected an image (H, W), (H, W, 3) or (H, W, 4), got shape {a.shape}")
    if gray.size == 0:
        raise EmptyDrawingError("the image is empty")
    if not np.isfinite(gray).all():
        raise DrawingError("the image holds NaN or infinite values")
    if np.issubdtype(a.dtype, np.integer) or gray.max() > 1.0:
        gray = gray / 255.0
    return np.clip(gray, 0.0, 1.0)


def canvas_to_mnist(image: np.ndarray, normalize_width: bool = True, normalize_slant: bool = True) -> np.ndarray:
    """A drawing (light ink on dark) to a 28x28 float32 image in [0, 1],
    MNIST-style; ``normalize_slant``: a slant beyond MNIST's range sheared
    back to its edge first; ``normalize_width``: strokes thinner or thicker
    than MNIST's range made its edge.

    Raises ``EmptyDrawingError`` for a blank or uniform image and
    ``DrawingTooSmallError`` for a dot; both are ``ValueError``s.
    """
    gray = to_grayscale(image)
    if gray.max() - gray.min() < INK_LEVEL:
        raise EmptyDrawingError("nothing is drawn: the canvas is blank or uniform")
    ink = gray >= INK_LEVEL
    if ink.all():
        raise EmptyDrawingError("the whole canvas is ink: clear it and draw one digit")
    top, bottom, left, right = ink_box(ink)
    height, width = bottom - top, right - left
    if max(height, width) < MIN_DRAWING_FRACTION * max(gray.shape):
        raise DrawingTooSmallError("the drawing is too small to read: draw the digit larger")

    crop = gray[top:bottom, left:right]
    if normalize_slant:
        crop = clamp_slant(crop)
    if normalize_width:
        crop = clamp_stroke_width(crop)
    digit = _fit_box(crop, DIGIT_BOX)
    return _centre_by_mass(digit, SIZE)


def ink_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the True pixels of a 2-D mask that has
    some, bottom and right exclusive: ``mask[top:bottom, left:right]``."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def stroke_width(ink: np.ndarray) -> float:
    """The mean stroke width in pixels of a boolean ink image: a stroke of
    width w and length L has an area of w L and a boundary about 2 L long."""
    boundary = ink & ~ndimage.binary_erosion(ink)
    return 2.0 * ink.sum() / max(1, boundary.sum())


def slant(image: np.ndarray) -> np.ndarray:
    """The slant of each image (..., H, W) of ink brightness: the shear dx/dy
    of its ink's second moments (0 upright; negative leaning right, as most
    handwriting does, since rows count downwards); 0 for ink in one row."""
    image = np.asarray(image, dtype=np.float64)
    ys, xs = np.indices(image.shape[-2:])
    mass = np.maximum(image.sum(axis=(-2, -1)), 1e-12)
    cy = (ys * image).sum(axis=(-2, -1)) / mass
    cx = (xs * image).sum(axis=(-2, -1)) / mass
    dy, dx = ys - cy[..., None, None], xs - cx[..., None, None]
    var_y = (dy * dy * image).sum(axis=(-2, -1)) / mass
    cov = (dx * dy * image).sum(axis=(-2, -1)) / mass
    return np.where(var_y > 1e-6, cov / np.maximum(var_y, 1e-6), 0.0)


def clamp_slant(crop: np.ndarray, span: tuple[float, float] = MNIST_SLANTS) -> np.ndarray:
    """A cropped drawing whose ``slant`` lies outside ``span`` sheared (rows
    kept, each shifted sideways about the centre of mass) to the nearer edge
    of ``span`` (by ``MAX_SHEAR`` at most), then cropped to its ink again;
    others returned as they are."""
    now = float(slant(crop))
    shear = float(np.clip(now - np.clip(now, *span), -MAX_SHEAR, MAX_SHEAR))
    if abs(shear) < 1e-3:
        return crop
    height = crop.shape[0]
    cy = float((np.arange(height) * crop.sum(axis=1)).sum() / crop.sum())
    pad = int(np.ceil(abs(shear) * height)) + 1
    padded = np.pad(crop, ((0, 0), (pad, pad)))
    # the output's pixel (row, col) is the input's (row, col + shear * (row - cy))
    sheared = ndimage.affine_transform(padded, np.array([[1.0, 0.0], [shear, 1.0]]),
                                       offset=(0.0, -shear * cy), order=1)
    ink = sheared >= INK_LEVEL
    if not ink.any():  # a faint hairline lost in the interpolation: read it as drawn
        return crop
    top, bottom, left, right = ink_box(ink)
    return sheared[top:bottom, left:right].astype(np.float32)


def crop_stroke_width(crop: np.ndarray, box: int = DIGIT_BOX) -> float:
    """The stroke width of a cropped drawing (float, ink bright) in pixels of
    the ``box`` its longer side is scaled to: ``stroke_width`` of the ink at
    half its peak brightness (a soft, faint or anti-aliased edge counts half,
    as MNIST_STROKE_WIDTHS was measured)."""
    return stroke_width(crop >= 0.5 * float(crop.max())) * box / max(crop.shape)


def clamp_stroke_width(crop: np.ndarray, span: tuple[float, float] = MNIST_STROKE_WIDTHS) -> np.ndarray:
    """A cropped drawing whose strokes are thinner or thicker than ``span``
    (``crop_stroke_width``) redrawn at the nearer edge of ``span``; others
    returned as they are."""
    width = crop_stroke_width(crop)
    target = float(np.clip(width, *span))
    return crop if target == width else normalize_stroke_width(crop, target)


def normalize_stroke_width(crop: np.ndarray, target: float = MNIST_STROKE_WIDTH, box: int = DIGIT_BOX) -> np.ndarray:
    """A cropped drawing (float, ink bright) redrawn so its strokes come out
    ``target`` pixels wide once its longer side is scaled to ``box``: grown
    or shrunk by a grey dilation or erosion with a disc (the ink keeps its
    own brightness and soft edges), then cropped to the ink again. Drawings
    whose strokes already have that width, and drawings too coarse to
    measure, are returned as they are."""
    ink = crop >= 0.5 * float(crop.max())
    side = max(crop.shape)
    width = stroke_width(ink)
    # Growing by 2r also grows the side by 2r: solve (width + 2r) / (side + 2r) = target / box.
    grow = (target * side / box - width) / (1 - target / box)
    if abs(grow) < 1.0 or side < 2 * box:  # within a pixel, or too small to redraw finer than the result
        return crop
    r = grow / 2
    if r > 0:
        redrawn = ndimage.grey_dilation(np.pad(crop, int(np.ceil(r)) + 1), footprint=_disc(r))
    else:  # thinner, never below 2 pixels: a stroke is not erased
        redrawn = ndimage.grey_erosion(crop, footprint=_disc(-max(r, 1.0 - width / 2)))
    kept = redrawn >= INK_LEVEL
    if not kept.any():
        return crop
    top, bottom, left, right = ink_box(kept)
    return redrawn[top:bottom, left:right].astype(np.float32)


def _disc(radius: float) -> np.ndarray:
    """A disc of ``radius`` pixels, a boolean footprint."""
    r = int(radius)
    ys, xs = np.mgrid[-r:r + 1, -r:r + 1]
    return ys * ys + xs * xs <= radius * radius


def drawing_advice(image: np.ndarray) -> str | None:
    """A word for a drawing that is read, but less surely than it could be:
    small (a few pixels of detail, however its strokes are normalised) or
    far from the middle. None for a good drawing (or no drawing)."""
    gray = to_grayscale(image)
    ink = gray >= INK_LEVEL
    if not ink.any() or ink.all():
        return None
    top, bottom, left, right = ink_box(ink)
    side = max(gray.shape)
    if max(bottom - top, right - left) < SMALL_DRAWING_FRACTION * side:
        return "The digit is small: draw it larger, filling most of the canvas, for a surer reading."
    middle = np.array([(top + bottom - 1) / 2, (left + right - 1) / 2])
    if np.abs(middle - np.array(gray.shape) / 2).max() > OFF_CENTRE_FRACTION * side:
        return "The digit is far from the middle: draw it in the middle of the canvas for a surer reading."
    return None


def _fit_box(crop: np.ndarray, box: int) -> np.ndarray:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio."""
    h, w = crop.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL wants (w, h)
    resized = Image.fromarray(crop.astype(np.float32)).resize(
        size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _centre_by_mass(digit: np.ndarray, size: int) -> np.ndarray:
    """Place ``digit`` in a size x size image, shifted by whole pixels so its
    centre of mass is on pixel (size / 2, size / 2), as MNIST's are."""
    h, w = digit.shape
    mass = digit.sum()
    ys, xs = np.indices(digit.shape)
    cy, cx = (ys * digit).sum() / mass, (xs * digit).sum() / mass
    top = int(np.clip(round(size / 2 - cy), 0, size - h))
    left = int(np.clip(round(size / 2 - cx), 0, size - w))
    out = np.zeros((size, size), dtype=np.float32)
    out[top:top + h, left:left + w] = digit
    return out
