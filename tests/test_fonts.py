"""Digits rendered from matplotlib's fonts: every chosen font draws ten real,
different digits; the set is canvas-like, sized as promised and repeatable."""

import numpy as np
import pytest
from PIL import Image

from model.data.fonts import (
    EXCLUDED,
    FONTS,
    HEIGHTS,
    MARGIN,
    _glyphs,
    font_digits,
    font_dir,
    font_names,
)
from model.data.preprocess import canvas_to_mnist

JUDGED = {"cmex10.ttf", "cmsy10.ttf", "cmmi10.ttf"}  # inked and distinct, left out by looking


def normalised(glyph: np.ndarray) -> np.ndarray:
    """A glyph squeezed into 20x20, 0..1: comparable across shapes."""
    return np.asarray(Image.fromarray(glyph).resize((20, 20), Image.Resampling.BILINEAR), np.float32) / 255


def distinct_digits(glyphs) -> int:
    """How many of the glyphs have ink and differ clearly from every other one."""
    inked = [normalised(g) for g in glyphs if g.size and g.max() > 0]
    return sum(all(np.abs(a - b).mean() > 0.05 for j, b in enumerate(inked) if j != i)
               for i, a in enumerate(inked))


@pytest.fixture(scope="module")
def fonts():
    return font_digits(per_font_digit=2, seed=0)


def test_every_font_matplotlib_ships_is_chosen_or_left_out_for_a_reason():
    shipped = {p.name for p in font_dir().glob("*.ttf")}
    assert not set(FONTS) & set(EXCLUDED)
    assert shipped == set(FONTS) | set(EXCLUDED), "a font came or went: look at it and list it"
    assert font_names() == [f.removesuffix(".ttf") for f in FONTS] and len(FONTS) == 21


@pytest.mark.parametrize("font", FONTS)
def test_each_chosen_font_draws_ten_distinct_digits(font):
    glyphs = _glyphs(font)
    assert len(glyphs) == 10 and all(g.dtype == np.uint8 and g.max() == 255 for g in glyphs)
    assert distinct_digits(glyphs) == 10


def test_fonts_left_out_have_no_real_digits():
    for font in sorted(set(EXCLUDED) - JUDGED):
        assert distinct_digits(_glyphs(font)) < 10, font


def test_font_digits_shapes_labels_and_canvas(fonts):
    images, labels = fonts
    assert images.shape == (len(FONTS) * 20, 280, 280, 4) and images.dtype == np.uint8
    assert labels.dtype.kind == "i" and np.bincount(labels).tolist() == [len(FONTS) * 2] * 10
    assert labels[:20].tolist() == [d for d in range(10) for _ in range(2)]  # font by font, digit by digit
    assert (images[..., 3] == 255).all()
    assert (images[..., 0] == images[..., 1]).all() and (images[..., 0] == images[..., 2]).all()
    assert (images[:, :MARGIN, :, 0] == 0).all() and (images[:, :, -MARGIN:, 0] == 0).all()


def test_digit_heights_and_variety(fonts):
    images, _ = fonts
    ink = images[..., 0] >= 128
    rows = ink.any(axis=2)
    heights = np.array([np.flatnonzero(r)[-1] - np.flatnonzero(r)[0] + 1 for r in rows]) / 280
    low, high = HEIGHTS
    assert heights.min() >= low - 0.02 and heights.max() <= high + 0.1  # a turn makes a digit taller
    assert heights.max() - heights.min() > 0.3
    centres = np.array([np.flatnonzero(r).mean() for r in rows])
    assert centres.max() - centres.min() > 100  # anywhere on the canvas
    assert len({im.tobytes() for im in images}) == len(images)


def test_font_digits_are_repeatable_per_seed(fonts):
    images, labels = fonts
    again, again_labels = font_digits(per_font_digit=2, seed=0)
    assert np.array_equal(images, again) and np.array_equal(labels, again_labels)
    other, _ = font_digits(per_font_digit=1, seed=1)
    assert not np.array_equal(images[::2], other)


def test_canvas_to_mnist_reads_every_font_digit(fonts):
    x = np.stack([canvas_to_mnist(image) for image in fonts[0]])
    assert x.shape == (len(fonts[0]), 28, 28) and np.isfinite(x).all() and (x.max(axis=(1, 2)) > 0.5).all()
