"""Pictures of digits, attributions and weights as small uint8 images, and
PNG data URLs of them: no Matplotlib, so the Draw page (every stroke reruns
it) makes a picture in well under a millisecond, where a Matplotlib figure
takes 40 ms."""

from __future__ import annotations

import numpy as np

RED, BLUE = np.array([214, 39, 40], np.float32), np.array([31, 119, 180], np.float32)


def blocks(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel of a uint8 image (grey or RGB) as a ``scale`` x ``scale``
    block: sharp pixels at any display size."""
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)


def heat_map(image: np.ndarray, attribution: np.ndarray, scale: int = 8, signed: bool = True) -> np.ndarray:
    """The image in grey with ``attribution`` over it, uint8 RGB (28*scale,
    28*scale, 3): red where a pixel speaks for the digit, blue against, the
    stronger the more opaque. Unsigned maps (Grad-CAM) are red only."""
    grey = (np.clip(np.asarray(image, dtype=np.float32).reshape(28, 28), 0, 1) * 0.55 * 255)[..., None].repeat(3, axis=2)
    a = np.asarray(attribution, dtype=np.float32).reshape(28, 28)
    peak = float(np.abs(a).max()) or 1.0
    strength = np.clip(np.abs(a) / peak, 0, 1)[..., None] ** 0.7
    colour = np.where((a >= 0)[..., None] | (not signed), RED, BLUE)
    rgb = grey * (1 - strength) + colour * strength
    return blocks(np.round(rgb).astype(np.uint8), scale)


def diverging(values: np.ndarray) -> np.ndarray:
    """Signed values as uint8 RGB: red positive, blue negative, white zero,
    scaled by the largest magnitude (weights of a layer)."""
    v = np.asarray(values, dtype=np.float32)
    peak = float(np.abs(v).max()) or 1.0
    t = np.clip(v / peak, -1, 1)[..., None]
    white = np.float32(255)
    rgb = np.where(t >= 0, white + (RED - white) * t, white + (BLUE - white) * -t)
    return np.round(rgb).astype(np.uint8)


def mosaic(images: np.ndarray, columns: int = 16, scale: int = 3, gap: int = 2, signed: bool = True) -> np.ndarray:
    """Small images (n, h, w) in a grid, uint8 RGB, each scaled by its own
    peak: weights in a diverging red/blue (``signed``), feature maps in grey
    (white = strongest)."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    cell_h, cell_w = h * scale + gap, w * scale + gap
    out = np.full((rows * cell_h - gap, columns * cell_w - gap, 3), 255, np.uint8)
    for i, im in enumerate(images):
        if signed:
            rgb = diverging(im)
        else:
            peak = float(im.max()) or 1.0
            rgb = np.round(np.clip(im / peak, 0, 1) * 255).astype(np.uint8)[..., None].repeat(3, axis=2)
        r, c = divmod(i, columns)
        out[r * cell_h:r * cell_h + h * scale, c * cell_w:c * cell_w + w * scale] = blocks(rgb, scale)
    return out


def enlarged(image: np.ndarray, scale: int = 8) -> np.ndarray:
    """A float image in [0, 1] as uint8 pixels, each a ``scale`` x ``scale``
    block: sharp pixels at any display size, and a PNG in well under a
    millisecond (a Matplotlib figure of it takes 40 ms)."""
    return blocks(np.round(np.clip(np.asarray(image, dtype=np.float32), 0, 1) * 255).astype(np.uint8), scale)


def png_data_url(pixels: np.ndarray) -> str:
    """A uint8 image as a ``data:image/png`` URL."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
