"""What the browser tests share: waiting for Streamlit, reading metrics,
screenshots, and drawing digits on the Draw page's canvas with the mouse or a finger."""

from __future__ import annotations

import math
import re
import time

from playwright.sync_api import Locator, Page, expect

from .conftest import VIEWPORT, Server, real_errors

# ms: a guard against a hang, not a speed check. A training takes what the machine and the pace
# (MNIST_LAB_MIN_EPOCH_S) make it: the starter 151 s on CI's two cores beside the other worker.
TRAIN_TIMEOUT = 900_000
PAGE_TIMEOUT = 60_000  # ms: a page's first visit imports TensorFlow and loads the model
DEFAULT_MODEL = "MLP 784-128-128-10, SGD lr 0.01, batch 32, 3 epochs"
# Playwright's default of 5 s per assertion is short for a rerun that draws
# matplotlib figures on two cores shared with other test runs.
expect.set_options(timeout=20_000)


def idle(page: Page, timeout: float = PAGE_TIMEOUT) -> None:
    """Wait until the app's script is not running. Only meaningful after
    waiting for something the rerun shows: a rerun may not have started yet."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout)


def rendered(page: Page, timeout: float = 30_000) -> None:
    """Wait until every element is drawn: the first time a page uses a kind of widget, Streamlit
    shows a grey box in its place while that widget's code loads (the screenshots caught them)."""
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=timeout)


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
    rendered(page)
    images_loaded(page)
    screen = page.viewport_size or VIEWPORT  # a phone's shot stays a phone's
    # Off the canvas and off the sidebar (no hover state in the picture).
    page.mouse.move(screen["width"] - 5, screen["height"] - 5)
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))")
    page.set_viewport_size({"width": screen["width"], "height": int(min(max(height, screen["height"]), 6000))})
    try:
        images_loaded(page)
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(screen)


def report(name: str, seconds: float, timings: dict[str, float]) -> None:
    timings[name] = round(seconds, 2)
    print(f"\n[time to interactive] {name}: {seconds:.2f} s", flush=True)


def watch_console(page: Page) -> Page:
    """Collect ``page``'s console errors (but 404s: Streamlit's deep-link probe) and page errors in ``page.console``."""
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and "404" not in m.text and errors.append(m.text))
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.console = type("Console", (), {"errors": errors})()
    return page


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
    """The Draw page's canvas (in its component's shadow root: Playwright's CSS selectors pierce it)."""
    return page.locator(".draw canvas")


def reading(page: Page) -> Locator:
    """The reading beside the canvas: "7 Reads 7 · 99% sure" (``data-digit`` once a digit is read)."""
    return page.locator(".draw .what")


def read_digit(page: Page, timeout: float = PAGE_TIMEOUT) -> str:
    """The digit read on the drawing now on the canvas (waits for a reading that is not stale)."""
    page.locator(".draw[data-stale='0'] .what[data-digit]").wait_for(timeout=timeout)
    return reading(page).get_attribute("data-digit")


def wait_until_drawable(page: Page, timeout: float = 30.0) -> dict:
    """Wait until the canvas reads drawings (in the browser, or on the server
    when the browser can't) and stays put; return its box. Strokes drawn while
    the model loads are kept and read once it has loaded, but a test that
    times the reading wants the model there first."""
    ready = page.locator(".draw[data-reader='browser'], .draw[data-reader='server']")
    ready.wait_for(timeout=timeout * 1000)
    canvas(page).scroll_into_view_if_needed()
    deadline = time.monotonic() + timeout
    box = canvas(page).bounding_box()
    while True:
        page.wait_for_timeout(150)
        again = canvas(page).bounding_box()
        if again == box:
            return box
        if time.monotonic() > deadline:
            raise AssertionError(f"the canvas kept moving: {box} -> {again}")
        box = again


def ink(page: Page) -> float:
    """The fraction of the canvas's pixels that hold white ink (white strokes on black)."""
    return canvas(page).evaluate("""el => {
        const px = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
        let inked = 0;
        for (let i = 0; i < px.length; i += 4) {
            if (px[i + 3] > 128 && Math.min(px[i], px[i + 1], px[i + 2]) > 128) inked++;
        }
        return inked / (el.width * el.height);
    }""")


def stroke_points(box: dict, stroke) -> list[tuple[float, float]]:
    return [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in stroke]


def draw(page: Page, strokes, pause_ms: float = 0, steps: int = 8) -> None:
    """Draw ``strokes`` (fractions of the canvas) with the mouse, ``pause_ms`` between strokes."""
    box = wait_until_drawable(page)
    for i, stroke in enumerate(strokes):
        if i and pause_ms:
            page.wait_for_timeout(pause_ms)
        points = stroke_points(box, stroke)
        page.mouse.move(*points[0])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(x, y, steps=steps)
        page.mouse.up()


def touch_draw(page: Page, strokes, pause_ms: float = 0, steps: int = 8) -> None:
    """Draw ``strokes`` with a finger: touch events through the DevTools
    protocol (Playwright's touchscreen only taps), one point every ``steps``-th of a segment."""
    box = wait_until_drawable(page)
    cdp = page.context.new_cdp_session(page)
    try:
        for i, stroke in enumerate(strokes):
            if i and pause_ms:
                page.wait_for_timeout(pause_ms)
            points = stroke_points(box, stroke)
            start = {"x": points[0][0], "y": points[0][1]}
            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [start]})
            for (x0, y0), (x1, y1) in zip(points, points[1:]):
                for k in range(1, steps + 1):
                    x, y = x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps
                    cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def settled(page: Page, timeout: float = PAGE_TIMEOUT) -> None:
    """Wait until the server has the drawing now on the canvas (sent when it
    settled, 0.3 s after the pen was lifted) and shows it under the canvas."""
    page.locator(".draw[data-sent]").wait_for(timeout=timeout)
    page.wait_for_function("""() => {
        const el = [...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean)
            .map(r => r.querySelector('.draw')).find(Boolean);
        return el && el.dataset.sent === el.dataset.seq && el.dataset.sent === el.dataset.shown;
    }""", timeout=timeout, polling=100)
    expect(page.get_by_text("What the model sees (28x28)")).to_be_visible(timeout=timeout)
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
    """Press the canvas's Clear (if there is anything to clear) and wait for the empty canvas."""
    button = page.locator(".draw button.clear")
    if button.is_enabled():
        button.click()
    expect_hint(page)
    idle(page)


def expect_hint(page: Page) -> None:
    """An empty canvas: "Draw a digit", no reading, nothing under the canvas."""
    expect(reading(page)).to_contain_text("Draw a digit")
    expect(page.locator(".draw .what[data-digit]")).to_have_count(0)
    expect(page.get_by_text("What the model sees (28x28)")).to_have_count(0)


def nav_link(page: Page, name: str) -> Locator:
    """The sidebar's link to page ``name`` (exactly: "Draw" is not "Drawings")."""
    return page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=name, exact=True)


def go_to(page: Page, name: str) -> None:
    """Pick page ``name`` in the sidebar as a person does: on a phone the sidebar is first
    opened with its » button (Streamlit closes it again once the page is picked)."""
    opener = page.get_by_test_id("stExpandSidebarButton")
    if opener.is_visible():
        opener.click()
    nav_link(page, name).click()
