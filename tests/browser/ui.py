"""What the browser tests share: waiting for Streamlit, reading metrics,
screenshots, and drawing digits on the canvas with the mouse."""

from __future__ import annotations

import math
import re
import time

from playwright.sync_api import Locator, Page, expect

from .conftest import VIEWPORT, Server, real_errors

TRAIN_TIMEOUT = 180_000  # ms: the default model trains in 10 to 40 s on two busy cores
PAGE_TIMEOUT = 60_000  # ms: a page's first visit imports TensorFlow and loads the model
DEFAULT_MODEL = "MLP 784-128-128-10, SGD lr 0.01, batch 32, 3 epochs"
# Playwright's default of 5 s per assertion is short for a rerun that draws
# matplotlib figures on two cores shared with other test runs.
expect.set_options(timeout=20_000)


def idle(page: Page, timeout: float = PAGE_TIMEOUT) -> None:
    """Wait until the app's script is not running. Only meaningful after
    waiting for something the rerun shows: a rerun may not have started yet."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout)


def title(page: Page) -> Locator:
    return page.locator('[data-testid="stHeading"] h1').first


def metric(page: Page, label: str) -> Locator:
    """The st.metric whose label starts with ``label``."""
    return page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile("^" + re.escape(label))))


def metric_value(page: Page, label: str) -> Locator:
    return metric(page, label).locator('[data-testid="stMetricValue"]')


def percent(text: str) -> float:
    match = re.fullmatch(r"\s*(\d{1,3}\.\d{2})%\s*", text)
    assert match, f"not a percentage: {text!r}"
    return float(match.group(1))


def images_loaded(page: Page, timeout: float = 30_000) -> None:
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stImage"] img')]
                                     .every(img => img.complete && img.naturalWidth > 0)""", timeout=timeout)


def charts_rendered(page: Page, at_least: int, timeout: float = 30_000) -> int:
    """Wait until ``at_least`` Vega-Lite charts have drawn (a canvas or svg with a size)."""
    handle = page.wait_for_function("""(n) => {
        const drawn = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].filter(chart =>
            [...chart.querySelectorAll('canvas, svg')].some(el => el.getBoundingClientRect().width > 50
                                                            && el.getBoundingClientRect().height > 50));
        return drawn.length >= n ? drawn.length : false;
    }""", arg=at_least, timeout=timeout, polling=200)
    return handle.json_value()


def snap(page: Page, path) -> None:
    """A screenshot of the whole page. Streamlit scrolls inside its main
    container, not the document, so full_page alone would stop at the
    viewport: the viewport is made as tall as the content for the shot."""
    idle(page)
    images_loaded(page)
    # Off the canvas (its toolbar shows only under the pointer) and off the sidebar.
    page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": int(min(max(height, VIEWPORT["height"]), 6000))})
    try:
        images_loaded(page)
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(VIEWPORT)


def report(name: str, seconds: float, timings: dict[str, float]) -> None:
    timings[name] = round(seconds, 2)
    print(f"\n[time to interactive] {name}: {seconds:.2f} s", flush=True)


def assert_no_console_errors(page: Page) -> None:
    errors = real_errors(page.console)
    assert not errors, "errors in the browser console:\n" + "\n".join(errors)


def open_page(page: Page, server: Server, path: str, heading: str) -> None:
    page.goto(f"{server.url}/{path}")
    expect(title(page)).to_contain_text(heading, timeout=PAGE_TIMEOUT)


def train_default_model(page: Page, server: Server) -> None:
    """Make the default MLP the current model through the Train page: trains
    it if no run has those settings yet, else reuses the saved run at once."""
    open_page(page, server, "train", "Train")
    expect(page.get_by_text(DEFAULT_MODEL, exact=True)).to_be_visible()
    page.get_by_role("button", name="Train", exact=True).click()
    expect(metric_value(page, "Test accuracy")).to_be_visible(timeout=TRAIN_TIMEOUT)
    idle(page)


# Strokes as fractions of the canvas: each digit large and centred, about 70%
# of the canvas high, like MNIST digits fill their 20x20 box.
N = 32
DIGITS = {
    "0": [[(0.5 + 0.21 * math.sin(2 * math.pi * i / N), 0.5 - 0.34 * math.cos(2 * math.pi * i / N))
           for i in range(N + 2)]],  # an ellipse, closed with a little overlap
    "1": [[(0.5, 0.15), (0.5, 0.85)]],  # a vertical bar
    "7": [[(0.28, 0.17), (0.72, 0.17), (0.42, 0.85)]],  # a top bar, then a diagonal down-left
}


def canvas(page: Page) -> Locator:
    return page.locator("canvas.upper-canvas")  # Fabric's input layer, in the component's shadow root


def wait_until_drawable(page: Page, timeout: float = 30.0) -> dict:
    """Wait until the canvas takes strokes and stays put; return its box.

    The component switches Fabric to drawing mode only once its first render
    has loaded the (empty) initial drawing, a moment after the canvas shows,
    and a stroke made before is lost. In drawing mode Fabric sets the
    crosshair cursor on every pointer move over the canvas, so hover a
    corner until the cursor says it is ready. The box is measured afresh each
    time: while a rerun settles the canvas may still move (the page's scroll
    and the elements around it change), and a stale box misses it."""
    deadline = time.monotonic() + timeout
    for i in range(10_000):
        canvas(page).scroll_into_view_if_needed()
        box = canvas(page).bounding_box()
        page.mouse.move(box["x"] + 4 + i % 2, box["y"] + 4)  # moves by a pixel each time: a new event
        if canvas(page).evaluate("el => el.style.cursor") == "crosshair" and canvas(page).bounding_box() == box:
            return box
        if time.monotonic() > deadline:
            raise AssertionError(f"the canvas did not enter drawing mode within {timeout:.0f} s: "
                                 + canvas_debug(page, box["x"] + 4, box["y"] + 4))
        page.wait_for_timeout(100)  # polling interval
    raise AssertionError("unreachable")


def canvas_debug(page: Page, x: float, y: float) -> str:
    """What is under the pointer at (x, y), through shadow roots, and the canvases' state."""
    return page.evaluate("""([x, y]) => {
        const describe = el => el ? `${el.tagName}.${el.className}` : 'nothing';
        let el = document.elementFromPoint(x, y), path = [describe(el)];
        while (el && el.shadowRoot) { el = el.shadowRoot.elementFromPoint(x, y); path.push(describe(el)); }
        const canvases = [];
        const walk = root => root.querySelectorAll('*').forEach(e => {
            if (e.tagName === 'CANVAS') canvases.push(`${e.className} ${e.width}x${e.height} cursor=${e.style.cursor}`);
            if (e.shadowRoot) walk(e.shadowRoot);
        });
        walk(document);
        return `under the pointer: ${path.join(' > ')}; canvases: ${canvases.join(' | ')}`;
    }""", [x, y])


def ink(page: Page) -> float:
    """The fraction of the drawing's pixels that hold white ink (the page
    draws white strokes on a black background), once the browser has
    painted: Fabric renders a finished stroke in a later animation frame."""
    return page.locator("canvas.dc-canvas.lower-canvas").evaluate("""async el => {
        await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
        const px = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
        let inked = 0;
        for (let i = 0; i < px.length; i += 4) {
            if (px[i + 3] > 128 && Math.min(px[i], px[i + 1], px[i + 2]) > 128) inked++;
        }
        return inked / (el.width * el.height);
    }""")


def draw(page: Page, strokes) -> None:
    box = wait_until_drawable(page)
    for stroke in strokes:
        points = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(x, y, steps=8)
        page.mouse.up()


def save_as(page: Page, digit: int | str) -> None:
    """Tap the chip of ``digit`` beside the reading ("Wrong? It's a"; the read
    digit's chip is "Right" too) and wait until the canvas says it was saved."""
    page.locator(f".draw button.chip[data-digit='{digit}']").click()
    expect(page.locator(".draw .status")).to_contain_text(f"Saved as {digit}", timeout=PAGE_TIMEOUT)
    idle(page)


def open_why(page: Page) -> str:
    """Open "Why does it read N?" under the canvas (the attribution is made
    only then); returns N."""
    digit = read_digit(page)
    settled(page)
    page.get_by_text(f"Why does it read {digit}?").click()
    idle(page)
    return digit


def clear(page: Page) -> None:
    """Press Clear and wait for the fresh, empty canvas that replaces the old one."""
    canvas(page).evaluate("el => { el.dataset.stale = 'yes'; }")
    page.get_by_role("button", name="Clear", exact=True).click()
    expect(page.locator("canvas.upper-canvas:not([data-stale])")).to_be_visible(timeout=PAGE_TIMEOUT)
    idle(page)


def expect_hint(page: Page) -> None:
    expect(page.get_by_text("Draw a digit on the canvas: the prediction appears here.")).to_be_visible()
    expect(metric(page, "Prediction")).to_have_count(0)


def nav_link(page: Page, name: str) -> Locator:
    """The sidebar's link to page ``name`` (exactly: "Draw" is not "Drawings")."""
    return page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=name, exact=True)
