"""Digits 0-9 rendered from the TrueType fonts matplotlib ships: a held-out
set no training ever sees, in printed styles (sans, serif, mono, bold,
italic, Computer Modern) unlike MNIST's scanned handwriting.

The fonts come with matplotlib (``matplotlib.get_data_path()/fonts/ttf``),
which requirements.txt pins, and are drawn by Pillow's own FreeType with its
basic layout, so the set is the same, pixel for pixel, on every machine.
Each image is like the canvas returns a drawing (``model.data.strokes.render``):
white ink on an opaque black 280x280 RGBA canvas, the digit 40-80% of the
canvas high, anywhere on it, turned up to 8 degrees either way.

    from model.data.fonts import font_digits, font_names
    images, labels = font_digits(per_font_digit=2, seed=0)  # RGBA (420, 280, 280, 4)
    # images come font by font, in font_names() order: image i is in
    # font_names()[i // (10 * per_font_digit)]

    x = np.stack([canvas_to_mnist(image) for image in images])   # model inputs
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from model.data.strokes import CANVAS

# The fonts whose "0".."9" are real lining digits, by file name.
FONTS: tuple[str, ...] = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmti10.ttf", "cmtt10.ttf",
)
# The other fonts matplotlib ships, and why they are left out (looked at, one by one).
EXCLUDED: dict[str, str] = {
    "DejaVuSansDisplay.ttf": "no digit glyphs",
    "DejaVuSerifDisplay.ttf": "no digit glyphs",
    "LastResortHE-Regular.ttf": "the same placeholder box for every character",
    **{f"STIXNonUni{style}.ttf": "no digit glyphs (private-use symbols)" for style in ("", "Bol", "BolIta", "Ita")},
    **{f"STIXSiz{size}Sym{weight}.ttf": "no digit glyphs (large math delimiters)"
       for size, weight in (("One", "Reg"), ("One", "Bol"), ("Two", "Reg"), ("Two", "Bol"), ("Three", "Reg"),
                            ("Three", "Bol"), ("Four", "Reg"), ("Four", "Bol"), ("Five", "Reg"))},
    "cmex10.ttf": "math extension: delimiters where the digits would be",
    "cmsy10.ttf": "math symbols where the digits would be",
    "cmmi10.ttf": "math italic with old-style figures (x-high 0-2, descending 3-5, 7, 9): not how digits are drawn",
}
HEIGHTS = (0.4, 0.8)  # the digit's height, a fraction of the canvas
MAX_ANGLE = 8.0  # degrees, either way
MARGIN = 4  # pixels kept clear at the canvas's edges
REFERENCE_PX = 240  # glyphs are rendered this high once, then scaled down


def font_dir() -> Path:
    """matplotlib's folder of TrueType fonts."""
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font_names() -> list[str]:
    """The fonts of the set (file names without .ttf), in the order ``font_digits`` uses."""
    return [name.removesuffix(".ttf") for name in FONTS]


@functools.cache
def _glyphs(font_file: str) -> tuple[np.ndarray, ...]:
    """The digits 0-9 of ``font_file``, each cropped to its ink (uint8 0..255),
    scaled together so the font's tallest digit is ``REFERENCE_PX`` high
    (empty arrays for a font without digits)."""
    path = font_dir() / font_file
    probe = [_ink(ImageFont.truetype(str(path), 100, layout_engine=ImageFont.Layout.BASIC), str(d))
             for d in range(10)]
    tallest = max(g.height for g in probe)
    if not tallest:  # no digit has ink
        return tuple(np.asarray(g) for g in probe)
    font_px = round(100 * REFERENCE_PX / tallest)
    font = ImageFont.truetype(str(path), font_px, layout_engine=ImageFont.Layout.BASIC)
    return tuple(np.asarray(_ink(font, str(d))) for d in range(10))


def _ink(font: ImageFont.FreeTypeFont, text: str) -> Image.Image:
    """``text`` in ``font``, white on black ("L"), cropped to its ink (empty if none)."""
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(image).text((2 - left, 2 - top), text, fill=255, font=font)
    box = image.getbbox()
    return image.crop(box) if box else Image.new("L", (0, 0))


def place(glyph: np.ndarray, height: float, angle: float, where: tuple[float, float],
          size: int = CANVAS) -> np.ndarray:
    """``glyph`` (a cropped ink bitmap) scaled to ``height`` pixels, turned
    ``angle`` degrees (counter-clockwise), on a black RGBA canvas of ``size``;
    ``where`` (0..1, 0..1) says where in the room left around it."""
    scale = height / glyph.shape[0]
    ink = Image.fromarray(glyph).resize((max(1, round(glyph.shape[1] * scale)), max(1, round(height))),
                                        Image.Resampling.LANCZOS)
    ink = ink.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    ink = ink.crop(ink.getbbox() or (0, 0, 1, 1))
    room_x, room_y = size - 2 * MARGIN - ink.width, size - 2 * MARGIN - ink.height
    gray = Image.new("L", (size, size), 0)
    gray.paste(ink, (MARGIN + round(max(room_x, 0) * where[0]), MARGIN + round(max(room_y, 0) * where[1])))
    a = np.asarray(gray)
    return np.dstack([a, a, a, np.full_like(a, 255)])


def font_digits(per_font_digit: int = 2, seed: int = 0, size: int = CANVAS) -> tuple[np.ndarray, np.ndarray]:
    """``per_font_digit`` renderings of each digit in each font: RGBA images
    (len(FONTS) * 10 * per_font_digit, size, size, 4), font by font in
    ``font_names()`` order, and their labels. Size, position and turn are
    random, from ``seed``."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for font_file in FONTS:
        glyphs = _glyphs(font_file)
        for digit in range(10):
            for _ in range(per_font_digit):
                height = rng.uniform(*HEIGHTS) * size
                angle = rng.uniform(-MAX_ANGLE, MAX_ANGLE)
                where = (rng.uniform(), rng.uniform())
                images.append(place(glyphs[digit], height, angle, where, size))
                labels.append(digit)
    return np.stack(images), np.array(labels)
