"""Synthetic pen-drawn digits, the way people draw on the canvas: strokes of
varied thickness, size, slant and position on a 280x280 black canvas.

They measure how well a model reads drawings it never trained on (MNIST is
scanned handwriting; the canvas is a mouse or a finger), and give tests and
benchmarks drawings whose digit is known.

    from model.data.strokes import drawn_digits, held_out_drawn
    images, labels = drawn_digits(per_digit=20, seed=0)   # RGBA (200, 280, 280, 4)
    sets = held_out_drawn(per_digit=50, seed=2026)        # {"thin pen": (images, labels), ...}

``HELD_OUT`` names drawing styles outside what training's augmentation makes
(shear up to +-0.3, stroke thickness +-1 px at 28x28, i.e. +-10 canvas px):
pens of 4-8 and 32-42 canvas pixels (the standard set uses 10-28) and slants
of 0.45-0.6 either way (standard: +-0.35). A model scored on them is scored
on drawings no training recipe here imitates.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

Stroke = list[tuple[float, float]]
Span = tuple[float, float]  # a uniform random range (low, high)
CANVAS = 280
WIDTHS: Span = (10, 28)  # the standard pen widths, canvas pixels (of CANVAS)
SLANTS: Span = (-0.35, 0.35)  # the standard slants: x shifts by -slant * y

# Held-out styles: keyword arguments of ``drawn_digits``, outside training's augmentation.
HELD_OUT: dict[str, dict[str, Span | Sequence[Span]]] = {
    "thin pen": {"widths": (4, 8)},
    "thick pen": {"widths": (32, 42)},
    "steep slant": {"slants": ((-0.6, -0.45), (0.45, 0.6))},
}


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24) -> Stroke:
    """Points on an ellipse from angle ``start`` to ``end`` (degrees, 0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


# Each digit as strokes in a unit box (x right, y down), drawn as people draw them.
TEMPLATES: dict[int, list[Stroke]] = {
    0: [_arc(0.5, 0.5, 0.2, 0.34, -90, 275, 32)],
    1: [[(0.5, 0.15), (0.5, 0.85)]],
    2: [_arc(0.5, 0.32, 0.18, 0.17, 190, 380, 14) + [(0.3, 0.85), (0.72, 0.85)]],
    3: [_arc(0.49, 0.32, 0.17, 0.16, 200, 450, 16) + _arc(0.49, 0.66, 0.19, 0.19, -90, 150, 16)],
    4: [[(0.56, 0.15), (0.28, 0.6), (0.74, 0.6)], [(0.6, 0.36), (0.6, 0.85)]],
    5: [[(0.68, 0.15), (0.36, 0.15), (0.33, 0.45)] + _arc(0.49, 0.63, 0.19, 0.2, -120, 150, 16)],
    6: [[(0.62, 0.14), (0.46, 0.26), (0.35, 0.44)] + _arc(0.5, 0.66, 0.17, 0.19, 180, 530, 24)],
    7: [[(0.28, 0.15), (0.72, 0.15), (0.44, 0.85)]],
    8: [[(0.5 + 0.16 * math.sin(2 * t), 0.5 - 0.34 * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 40)]],
    9: [_arc(0.48, 0.33, 0.18, 0.18, 0, 365, 24) + [(0.66, 0.33), (0.62, 0.85)]],
}


def uniform(rng: np.random.Generator, spans: Span | Sequence[Span]) -> float:
    """A number drawn uniformly from ``spans``: one range (low, high), or
    several, one of them picked at random first (weighted by length). One
    range draws exactly what ``rng.uniform(low, high)`` does."""
    if not isinstance(spans[0], Sequence):
        return rng.uniform(*spans)
    lengths = np.array([high - low for low, high in spans], dtype=float)
    low, high = spans[rng.choice(len(spans), p=lengths / lengths.sum())]
    return rng.uniform(low, high)


def digit_strokes(digit: int, rng: np.random.Generator | None = None, size: int = CANVAS,
                  slants: Span | Sequence[Span] = SLANTS) -> list[Stroke]:
    """The strokes of ``digit`` in canvas pixels, with a random size, slant
    (from ``slants``), rotation and position when ``rng`` is given (else
    upright and centred)."""
    strokes = TEMPLATES[digit]
    if rng is None:
        scale, aspect, slant, angle, dx, dy, wobble = 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0
    else:
        scale, aspect = rng.uniform(0.55, 1.1), rng.uniform(0.75, 1.25)
        slant, angle = uniform(rng, slants), math.radians(rng.uniform(-15, 15))
        room = (1.1 - scale) * 0.35
        dx, dy = rng.uniform(-room, room), rng.uniform(-room, room)
        wobble = rng.uniform(0, 0.025)  # an unsteady hand
    cos, sin = math.cos(angle), math.sin(angle)
    out = []
    for stroke in strokes:
        points = []
        for x, y in stroke:
            x, y = (x - 0.5) * aspect, y - 0.5
            if wobble:
                x, y = x + rng.normal(0, wobble), y + rng.normal(0, wobble)
            x = x - slant * y  # a right slant leans the top to the right
            x, y = cos * x - sin * y, sin * x + cos * y
            points.append(((0.5 + dx + scale * x) * size, (0.5 + dy + scale * y) * size))
        out.append(points)
    return out


def render(strokes: list[Stroke], width: float = 18, size: int = CANVAS) -> np.ndarray:
    """White round-capped strokes on a black RGBA canvas, as the canvas returns it."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    pen = ImageDraw.Draw(img)
    r = width / 2
    for stroke in strokes:
        pen.line(stroke, fill=(255, 255, 255, 255), width=int(round(width)), joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            pen.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, 255))
    return np.asarray(img)


def drawn_digits(per_digit: int = 20, seed: int | Sequence[int] = 0, size: int = CANVAS,
                 widths: Span | Sequence[Span] = WIDTHS,
                 slants: Span | Sequence[Span] = SLANTS) -> tuple[np.ndarray, np.ndarray]:
    """``per_digit`` random drawings of each digit: RGBA images (N, size, size, 4)
    and labels. Pen widths (canvas pixels of a CANVAS-wide canvas, scaled to
    ``size``) and slants are drawn from ``widths`` and ``slants``: one range
    (low, high) or several. The defaults are the standard set's."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for digit in range(10):
        for _ in range(per_digit):
            width = uniform(rng, widths) * size / CANVAS
            images.append(render(digit_strokes(digit, rng, size, slants), width, size))
            labels.append(digit)
    return np.stack(images), np.array(labels)


def held_out_drawn(per_digit: int = 50, seed: int = 0,
                   size: int = CANVAS) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each ``HELD_OUT`` style: name -> (RGBA images, labels), ``per_digit``
    drawings of each digit. Every style has its own random stream (``seed``
    and the name), so no two sets share a drawing."""
    return {name: drawn_digits(per_digit, (seed, zlib.crc32(name.encode())), size, **style)
            for name, style in HELD_OUT.items()}
