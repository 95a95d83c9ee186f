"""model.data.preprocess: MNIST arrays to model inputs, and canvas drawings to
MNIST-style 28x28 digits (crop, longer side 20 px, centre of mass centred)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import drawn_digit
from PIL import Image

from model.data.preprocess import (
    DrawingError,
    DrawingTooSmallError,
    EmptyDrawingError,
    canvas_to_mnist,
    scale_images,
)

SEVEN = [[(60, 50), (220, 50), (120, 250)]]
FOUR = [[(90, 30), (50, 170), (210, 170)], [(170, 60), (170, 260)]]
TALL_BAR = [[(140, 40), (140, 240)]]


def ink_box(img: np.ndarray, level: float = 0.0) -> tuple[int, int]:
    """(height, width) of the pixels brighter than ``level``."""
    rows, cols = np.flatnonzero((img > level).any(axis=1)), np.flatnonzero((img > level).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(img.shape)
    return (ys * img).sum() / img.sum(), (xs * img).sum() / img.sum()


# --- MNIST arrays -----------------------------------------------------------

def test_scale_images():
    x = np.array([[[0, 51], [255, 128]]], np.uint8)
    out = scale_images(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, x.astype(np.float64) / 255, rtol=1e-6)
    assert out.min() == 0.0 and out.max() == 1.0


# --- drawings: the MNIST recipe ----------------------------------------------

@pytest.mark.parametrize("strokes", [SEVEN, FOUR, TALL_BAR], ids=["seven", "four", "bar"])
def test_canvas_to_mnist_follows_the_mnist_recipe(strokes):
    out = canvas_to_mnist(drawn_digit(strokes))
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0 and out.max() > 0.9
    assert 19 <= max(ink_box(out)) <= 20  # the longer side fits MNIST's 20-pixel box
    cy, cx = centre_of_mass(out)  # on pixel (14, 14), as MNIST's (whole-pixel shifts)
    assert abs(cy - 14.0) <= 0.5 and abs(cx - 14.0) <= 0.5


def test_aspect_ratio_is_kept():
    tall = canvas_to_mnist(drawn_digit(TALL_BAR, width=18))  # about 218 x 18 pixels
    height, width = ink_box(tall, 0.1)
    assert height >= 19 and width <= 4
    wide = canvas_to_mnist(drawn_digit([[(40, 140), (240, 140)]], width=18))
    height, width = ink_box(wide, 0.1)
    assert width >= 19 and height <= 4


def test_position_and_size_on_the_canvas_do_not_matter():
    big = canvas_to_mnist(drawn_digit([[(60, 20), (220, 20), (120, 260)]], width=20))
    small = canvas_to_mnist(drawn_digit([[(10, 10), (90, 10), (40, 130)]], width=10))
    assert np.abs(big - small).mean() < 0.05


def gray_of(rgba: np.ndarray) -> np.ndarray:
    return rgba[..., 0].copy()


def soft_digit() -> np.ndarray:
    """An anti-aliased drawing: white ink with soft edges on an opaque black canvas."""
    from PIL import ImageFilter

    soft = Image.fromarray(drawn_digit(FOUR)).filter(ImageFilter.GaussianBlur(3))
    rgba = np.asarray(soft).copy()
    rgba[..., 3] = 255
    return rgba


def test_equivalent_input_formats_give_the_same_digit():
    rgba = soft_digit()
    assert len(np.unique(rgba[..., 0])) > 100  # many grey levels, not just ink and background
    reference = canvas_to_mnist(rgba)
    gray = gray_of(rgba)
    variants = {
        "RGB uint8": rgba[..., :3],
        "gray uint8": gray,
        "gray (H, W, 1)": gray[..., None],
        "gray float [0, 1]": gray.astype(np.float64) / 255,
        "gray float32 [0, 1]": gray.astype(np.float32) / 255,
        "gray float [0, 255]": gray.astype(np.float32),
        "RGB float [0, 255]": rgba[..., :3].astype(np.float32),
        "RGBA float [0, 1]": rgba.astype(np.float32) / 255,
    }
    for name, image in variants.items():
        np.testing.assert_allclose(canvas_to_mnist(image), reference, atol=1e-5, err_msg=name)


def test_rgba_float_in_0_255_gives_the_same_digit():
    """Float RGBA with values 0..255 (as a float canvas buffer holds them)
    is the same drawing as its uint8 twin: soft edges must stay soft."""
    rgba = soft_digit()
    np.testing.assert_allclose(canvas_to_mnist(rgba.astype(np.float32)), canvas_to_mnist(rgba), atol=1e-5)


def test_semi_transparent_ink_is_fainter():
    rgba = drawn_digit(SEVEN)
    half = rgba.copy()
    ink = rgba[..., 0] > 0
    half[..., 3] = np.where(ink, 128, 0)
    full = canvas_to_mnist(rgba)
    faint = canvas_to_mnist(half)
    unclipped = full < 0.99  # resampling overshoots at sharp edges; the full-strength ink is clipped at 1
    np.testing.assert_allclose(faint[unclipped], full[unclipped] * 128 / 255, atol=0.02)
    assert 0.45 < faint.max() < 0.65


@pytest.mark.parametrize("background", [(0, 0, 0, 0), (255, 255, 255, 0), (40, 200, 90, 0)])
def test_transparent_background(background):
    rgba = drawn_digit(SEVEN)
    ink = rgba[..., 0] > 0
    transparent = np.empty_like(rgba)
    transparent[...] = background
    transparent[ink] = rgba[ink]
    np.testing.assert_allclose(canvas_to_mnist(transparent), canvas_to_mnist(rgba), atol=1e-6)


def test_coloured_ink_counts_as_ink():
    rgba = drawn_digit(SEVEN)
    red = rgba.copy()
    red[..., 1:3] = 0  # red ink on black
    np.testing.assert_allclose(canvas_to_mnist(red), canvas_to_mnist(rgba), atol=1e-6)


def test_ink_touching_the_edges():
    # an L hugging the left and bottom edges of the canvas
    out = canvas_to_mnist(drawn_digit([[(0, 0), (0, 279), (279, 279)]], width=24))
    assert max(ink_box(out)) <= 20
    cy, cx = centre_of_mass(out)
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0


# --- drawings that are no digit ------------------------------------------------

def uniform(fill: int, alpha: int = 255) -> np.ndarray:
    img = np.full((280, 280, 4), fill, np.uint8)
    img[..., 3] = alpha
    return img


@pytest.mark.parametrize("image", [
    uniform(0, alpha=0),  # an untouched canvas: fully transparent
    uniform(0),  # all black
    uniform(255),  # all white
    uniform(128),  # all grey
    np.zeros((280, 280), np.float32),
    np.ones((280, 280), np.float32),
    np.zeros((0, 0, 4), np.uint8),
], ids=["transparent", "black", "white", "grey", "float zeros", "float ones", "zero size"])
def test_empty_or_uniform_canvas(image):
    with pytest.raises(EmptyDrawingError):
        canvas_to_mnist(image)


def test_a_dot_is_too_small():
    with pytest.raises(DrawingTooSmallError):
        canvas_to_mnist(drawn_digit([[(150, 150), (151, 150)]], width=5))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input(bad):
    img = gray_of(drawn_digit(SEVEN)).astype(np.float32) / 255
    img[5, 5] = bad
    with pytest.raises(DrawingError):
        canvas_to_mnist(img)
    rgba = drawn_digit(SEVEN).astype(np.float32) / 255
    rgba[7, 7, 3] = bad  # in the alpha channel too
    with pytest.raises(DrawingError):
        canvas_to_mnist(rgba)


@pytest.mark.parametrize("image", [np.zeros((280, 280, 2), np.uint8), np.zeros((3, 280, 280, 4), np.uint8),
                                   np.array([["a", "b"], ["c", "d"]])], ids=["2 channels", "4d", "strings"])
def test_not_an_image(image):
    with pytest.raises(DrawingError):
        canvas_to_mnist(image)


# --- real digits through the drawing path ------------------------------------

def test_upscaled_mnist_digits_are_still_read_the_same(mnist, default_run):
    """An MNIST test digit blown up to canvas size and brought back by
    canvas_to_mnist is still what the default model read in the original."""
    x, _ = mnist[1]
    digits = x[:50]
    canvases = [np.asarray(Image.fromarray(d).resize((280, 280), Image.Resampling.BICUBIC)) for d in digits]
    processed = np.stack([canvas_to_mnist(c) for c in canvases])
    model = default_run.model
    original = np.asarray(model(digits.reshape(50, 784).astype(np.float32) / 255, training=False)).argmax(1)
    redrawn = np.asarray(model(processed.reshape(50, 784), training=False)).argmax(1)
    agree = int((original == redrawn).sum())
    assert agree >= 45, f"only {agree} of 50 digits read the same after canvas_to_mnist"


def test_advice_for_a_small_or_off_centre_drawing_but_not_for_a_good_one():
    from conftest import drawn_digit

    from model.data.preprocess import drawing_advice

    good = drawn_digit([[(140, 40), (140, 240)]], width=22)  # a 1 down the middle
    small = drawn_digit([[(40, 30), (40, 90)]], width=10)  # 70 px high, in a corner
    off = drawn_digit([[(250, 60), (250, 260)]], width=18)  # large, at the right edge
    assert drawing_advice(good) is None
    assert drawing_advice(small).startswith("The digit is small")
    assert drawing_advice(off).startswith("The digit is far from the middle")
    assert drawing_advice(drawn_digit([])) is None


# --- stroke width ------------------------------------------------------------

def test_stroke_width_measures_a_bar():
    from model.data.preprocess import stroke_width

    bar = np.zeros((200, 200), bool)
    bar[20:180, 90:110] = True  # 20 pixels wide
    assert stroke_width(bar) == pytest.approx(20, rel=0.15)


def width_of(digit: np.ndarray) -> float:
    """A 28x28 digit's stroke width in its pixels, measured as MNIST_STROKE_WIDTHS was."""
    from model.data.preprocess import stroke_width

    big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BILINEAR))
    return stroke_width(big >= 0.5 * big.max()) / 10


def half_size(strokes):
    return [[(70 + x / 2, 70 + y / 2) for x, y in stroke] for stroke in strokes]


def test_mnist_stroke_widths_are_what_the_constant_says(mnist):
    """MNIST_STROKE_WIDTHS is MNIST's 5th and 95th percentile of stroke width."""
    from model.data.preprocess import MNIST_STROKE_WIDTH, MNIST_STROKE_WIDTHS

    widths = [width_of(d) for d in scale_images(mnist[0][0][:5000])]
    assert np.percentile(widths, [5, 95]) == pytest.approx(MNIST_STROKE_WIDTHS, abs=0.1)
    assert np.median(widths) == pytest.approx(MNIST_STROKE_WIDTH, abs=0.05)


@pytest.mark.parametrize("strokes", [SEVEN, FOUR], ids=["seven", "four"])
def test_a_pen_outside_mnists_widths_is_brought_to_its_edge(strokes):
    """A thin pen, and a thick pen on a small digit, reach the model with
    strokes at the edge of MNIST's widths; read raw, they are far outside."""
    from model.data.preprocess import MNIST_STROKE_WIDTHS

    low, high = MNIST_STROKE_WIDTHS
    for drawing, edge in ((drawn_digit(strokes, width=5), low), (drawn_digit(half_size(strokes), width=40), high)):
        raw = width_of(canvas_to_mnist(drawing, normalize_width=False))
        assert abs(raw - edge) > 1.0
        assert width_of(canvas_to_mnist(drawing)) == pytest.approx(edge, abs=0.3)


@pytest.mark.parametrize("strokes", [SEVEN, FOUR], ids=["seven", "four"])
def test_a_pen_within_mnists_widths_is_left_as_drawn(strokes):
    drawing = drawn_digit(strokes, width=30)
    np.testing.assert_array_equal(canvas_to_mnist(drawing), canvas_to_mnist(drawing, normalize_width=False))


# --- slant -------------------------------------------------------------------

def test_mnist_slants_are_what_the_constant_says(mnist):
    """MNIST_SLANTS is MNIST's 5th and 95th percentile of ``slant``."""
    from model.data.preprocess import MNIST_SLANTS, slant

    slants = slant(scale_images(mnist[0][0][:5000]))
    assert np.percentile(slants, [5, 95]) == pytest.approx(MNIST_SLANTS, abs=0.01)


def test_slant_of_a_leaning_bar():
    from model.data.preprocess import slant

    bar = gray_of(drawn_digit([[(100, 40), (200, 240)]], width=12)).astype(np.float32) / 255
    assert float(slant(bar)) == pytest.approx(0.5, abs=0.03)  # 100 across for 200 down
    for upright in (TALL_BAR, [[(40, 140), (240, 140)]], [[(60, 60), (220, 60), (220, 220), (60, 220), (60, 60)]]):
        assert float(slant(gray_of(drawn_digit(upright)).astype(np.float32))) == pytest.approx(0.0, abs=0.01)
    assert slant(np.zeros((3, 28, 28))).tolist() == [0.0, 0.0, 0.0]  # no ink: no slant


@pytest.mark.parametrize("line, edge", [([(80, 40), (200, 240)], 1), ([(230, 40), (50, 240)], 0)],
                         ids=["leaning left", "leaning right"])
def test_a_steep_slant_is_sheared_to_the_edge_of_mnists(line, edge):
    from model.data.preprocess import MNIST_SLANTS, slant

    drawing = drawn_digit([line], width=18)
    raw = canvas_to_mnist(drawing, normalize_slant=False)
    assert abs(float(slant(raw))) > abs(MNIST_SLANTS[edge]) + 0.2
    read = canvas_to_mnist(drawing)
    assert float(slant(read)) == pytest.approx(MNIST_SLANTS[edge], abs=0.04)
    assert read.sum() == pytest.approx(raw.sum(), rel=0.1)  # sheared, not erased or smeared


@pytest.mark.parametrize("strokes", [SEVEN, FOUR, TALL_BAR], ids=["seven", "four", "bar"])
def test_a_slant_within_mnists_is_left_as_drawn(strokes):
    drawing = drawn_digit(strokes)
    np.testing.assert_array_equal(canvas_to_mnist(drawing), canvas_to_mnist(drawing, normalize_slant=False))


def test_a_flat_stroke_is_not_stood_up():
    """A tilted dash has a huge slant (dx/dy): straightened by MAX_SHEAR at
    most, it stays a wide stroke."""
    from model.data.preprocess import slant

    dash = drawn_digit([[(40, 130), (240, 150)]], width=14)
    assert float(slant(gray_of(dash).astype(np.float32))) > 5
    height, width = ink_box(canvas_to_mnist(dash), 0.1)
    assert width >= 19 and height <= 6
