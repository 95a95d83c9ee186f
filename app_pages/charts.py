"""Charts every page draws: training curves, probability bars, Matplotlib figures."""

from __future__ import annotations

import numpy as np
import streamlit as st

from model.data.preprocess import scale_images
from model.insight import figures, pictures


def show_history(where, history: dict[str, list[float]]) -> None:
    """Per-epoch curves: loss and accuracy (and validation, when there is one)."""
    epochs = list(range(1, len(next(iter(history.values()), [])) + 1))
    line_chart(where, epochs, history, x_title="epoch", title="Per epoch")


def line_chart(where, x: list[float], series: dict[str, list[float]], x_title: str, title: str) -> None:
    """A titled line chart with labelled axes. A plain Vega-Lite spec draws in
    about 4 ms; ``st.line_chart`` takes 140 ms, which would slow live training."""
    rows = [{x_title: xi, "metric": name, "value": v}
            for name, values in series.items() for xi, v in zip(x, values)]
    where.vega_lite_chart({
        "title": title, "height": 260, "autosize": {"type": "fit-x", "contains": "padding"}, "data": {"values": rows},
        "mark": {"type": "line", "point": len(x) < 30},
        "encoding": {"x": {"field": x_title, "type": "quantitative", "title": x_title,
                           "axis": {"format": "d", "tickMinStep": 1}},
                     "y": {"field": "value", "type": "quantitative", "title": "loss / accuracy"},
                     "color": {"field": "metric", "type": "nominal", "title": None}},
    }, width="stretch")


def probability_chart(where, probs, title: str, true: int | None = None, height: int = 150) -> None:
    """The 10 class probabilities as a bar chart in plain HTML: bars, the
    digits under them as the x axis, each probability written above its bar,
    the predicted digit in bold, green (red when ``true`` is given and it is
    another digit, which is then marked "true"). Drawn by the browser's layout
    alone: on the Draw page, where every stroke redraws it, a Vega-Lite
    chart cost each browser far more, and Matplotlib cost the server 170 ms."""
    predicted = int(np.argmax(probs))
    colour = figures.RIGHT if true is None or true == predicted else figures.WRONG
    bars = "".join(
        f'<div style="flex:1;display:flex;flex-direction:column;justify-content:flex-end;align-items:center;'
        f'height:100%;font-weight:{700 if d == predicted else 400}">'
        f'<span style="font-size:0.7rem">{p:.0%}</span>'
        f'<div style="width:70%;height:{max(p, 0.005) * 100:.1f}%;background:'
        f'{colour if d == predicted else figures.NEUTRAL}"></div></div>'
        for d, p in enumerate(probs))
    digits = "".join(f'<div style="flex:1;text-align:center;font-weight:{700 if d == predicted else 400}">{d}'
                     + ('<br><span style="font-size:0.7rem">true</span>' if d == true else "") + "</div>"
                     for d in range(10))
    described = ", ".join(f"{d}: {p:.1%}" for d, p in enumerate(probs))
    truth = f" The true digit is {true}." if true is not None else ""
    where.html(
        f'<figure role="img" aria-label="{title}. {described}.{truth}" style="margin:0">'
        f'<figcaption style="font-weight:600;margin-bottom:0.3rem">{title}</figcaption>'
        f'<div style="display:flex;align-items:stretch;gap:2px;height:{height}px;border-bottom:1px solid #8c959f">'
        f'{bars}</div><div style="display:flex;gap:2px">{digits}</div>'
        f'<div style="text-align:center;font-size:0.8rem;color:#57606a">digit (bar height: probability)</div>'
        f'</figure>')


def digit_grid(where, images, predicted, true, numbered: bool = False, other=None, min_px: int = 104) -> None:
    """Digits in a grid of real HTML: each image with its title, "#1 pred 7 /
    true 9 ✗" (green right, red and bold wrong), in text that screen readers
    read and that stays 13 px on any screen, as many columns as fit (a phone
    gets three, a desktop five or more). 25 tiny PNGs: no figure to draw."""
    cells = []
    for n, (image, p, t) in enumerate(zip(images, predicted, true)):
        ok = int(p) == int(t)
        said = f"pred {p}" if other is None else f"A {p} · B {other[n]}"
        title = (f"#{n + 1} " if numbered else "") + f"{said} / true {t}" + ("" if ok else " ✗")
        pixels = 255 - pictures.enlarged(scale_images(image), 2)
        cells.append(
            f'<figure style="margin:0;text-align:center"><figcaption style="font-size:13px;line-height:1.3;'
            f'color:{figures.RIGHT if ok else figures.WRONG};font-weight:{400 if ok else 700}">{title}</figcaption>'
            f'<img src="{pictures.png_data_url(pixels)}" alt="{title}" '
            f'style="width:100%;max-width:140px;image-rendering:pixelated"></figure>')
    where.html(f'<div class="digit-grid" style="display:grid;gap:8px 6px;'
               f'grid-template-columns:repeat(auto-fill,minmax({min_px}px,1fr))">{"".join(cells)}</div>')


def figure_png(fig, dpi: int = 150) -> bytes:
    """A Matplotlib figure as PNG bytes (cacheable, unlike the figure)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def show_figure(fig, where=st, alt: str | None = None) -> None:
    """A figure as an image with a text alternative (``alt``) for screen readers."""
    where.image(figure_png(fig), alt=alt, width="stretch")
