"""Every page of the dashboard in headless Chromium, asserting on what a
person sees: titles, messages, metrics, images, charts and the drawing canvas.

The tests share one server (and its work folder) and run in file order, the
order of a first visit: landing page, first launch without a model (trains
the default model from the Draw page), Train, Evaluate, Draw. The first-launch
test needs the still empty work folder; every later test that needs a model
gets it itself, so each also runs alone (-k). Two tests at the end pin bugs
found on the way.

    pytest -m browser -s tests/browser   # -s shows the time-to-interactive figures

Screenshots go to test-artifacts/screenshots/, timings to test-artifacts/timings.json.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time

import pytest

if not os.environ.get("CI"):  # under CI a missing Playwright is an error, not a reason to skip
    pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install -r requirements-dev.txt")
from playwright.sync_api import Locator, Page, expect  # noqa: E402

from .conftest import VIEWPORT, Server, real_errors, run_server

pytestmark = pytest.mark.browser

TRAIN_TIMEOUT = 180_000  # ms: the default model trains in 10 to 40 s on two busy cores
PAGE_TIMEOUT = 60_000  # ms: a page's first visit imports TensorFlow and loads the model
DEFAULT_MODEL = "MLP 784-128-128-10, SGD lr 0.01, batch 32, 3 epochs"
# Playwright's default of 5 s per assertion is short for a rerun that draws
# matplotlib figures on two cores shared with other test runs.
expect.set_options(timeout=20_000)


# --- helpers ----------------------------------------------------------------

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


def png_hash(locator: Locator) -> str:
    return hashlib.sha256(locator.screenshot()).hexdigest()


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


# --- a. landing page and navigation -----------------------------------------

def test_landing_page_and_sidebar_navigation(page: Page, server: Server, timings, screenshots):
    started = time.monotonic()
    page.goto(server.url)
    links = page.locator('[data-testid="stPageLink"]')
    wanted = [links.filter(has_text=text) for text in ("Train a model", "Evaluate it", "Draw a digit")]
    for link in wanted:
        expect(link).to_be_visible(timeout=PAGE_TIMEOUT)
    report("landing_first_visit_s", time.monotonic() - started, timings)
    expect(title(page)).to_contain_text("MNIST lab")
    idle(page)
    snap(page, screenshots / "home-first-launch.png")

    nav = page.locator('[data-testid="stSidebarNav"]')
    for name in ("Train", "Evaluate", "Draw", "Home"):
        nav.locator('[data-testid="stSidebarNavLink"]', has_text=name).click()
        expect(title(page)).to_contain_text("MNIST lab" if name == "Home" else name, timeout=PAGE_TIMEOUT)
        expect(page).to_have_url(re.compile(rf"/{name.lower()}$" if name != "Home" else r"/$"))
        idle(page)

    # The links in the page itself lead to the same pages.
    page.locator('[data-testid="stPageLink"]', has_text="Train a model").click()
    expect(title(page)).to_contain_text("Train")
    idle(page)

    # A second visit of the landing page: the server is warm now.
    started = time.monotonic()
    page.goto(server.url)
    for link in wanted:
        expect(link).to_be_visible(timeout=PAGE_TIMEOUT)
    report("landing_warm_s", time.monotonic() - started, timings)
    idle(page)
    assert_no_console_errors(page)
    assert not [e for e in page.console.errors if "BENIGN" in e], "the landing page was opened at / only"


# --- b. first launch, no saved model -----------------------------------------

def test_first_launch_offers_the_default_model(page: Page, server: Server, screenshots):
    assert not (server.workdir / "mnist_model.h5").exists(), (
        "this test needs the server's empty work folder: it must run before the tests that train")
    train_button = page.get_by_role("button", name=re.compile(r"^Train the default model"))
    for path, heading in (("evaluate", "Evaluate"), ("draw", "Draw")):
        open_page(page, server, path, heading)
        expect(page.get_by_text("No model yet", exact=False)).to_be_visible(timeout=PAGE_TIMEOUT)
        expect(train_button).to_be_visible()
        expect(train_button).to_contain_text(DEFAULT_MODEL)
        idle(page)
        expect(page.locator('[data-testid="stMetric"]')).to_have_count(0)
        expect(page.locator("canvas.upper-canvas")).to_have_count(0)
    snap(page, screenshots / "draw-no-model.png")

    started = time.monotonic()
    train_button.click()
    expect(page.locator('[data-testid="stProgress"]')).to_be_visible(timeout=PAGE_TIMEOUT)
    canvas = page.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible(timeout=TRAIN_TIMEOUT)
    print(f"\n[first launch] the default model trained and the Draw page showed its canvas in "
          f"{time.monotonic() - started:.1f} s", flush=True)
    expect(page.get_by_text("No model yet")).to_have_count(0)
    expect(page.get_by_text(f"Model: {DEFAULT_MODEL}")).to_be_visible()
    expect(page.get_by_text("Draw a digit on the canvas")).to_be_visible()
    assert (server.workdir / "mnist_model.h5").exists()

    # The other page now has its content too, and so has the landing page.
    open_page(page, server, "evaluate", "Evaluate")
    accuracy = metric_value(page, "Test accuracy")
    expect(accuracy).to_be_visible(timeout=PAGE_TIMEOUT)
    assert percent(accuracy.inner_text()) > 90
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible(timeout=PAGE_TIMEOUT)
    expect(train_button).to_have_count(0)

    open_page(page, server, "", "MNIST lab")
    expect(metric_value(page, "Current model: test accuracy")).to_be_visible()
    expect(page.get_by_text(DEFAULT_MODEL)).to_be_visible()
    expect(page.get_by_text("No model yet")).to_have_count(0)
    snap(page, screenshots / "home.png")
    assert_no_console_errors(page)


# --- c. Train page --------------------------------------------------------------

PROGRESS_JS = """(above) => {
    const bar = document.querySelector('[data-testid="stProgress"] [role="progressbar"]');
    if (!bar) return false;
    const value = Number(bar.getAttribute('aria-valuenow'));
    return value > above ? {value, text: bar.closest('[data-testid="stProgress"]').innerText} : false;
}"""


def test_train_page_trains_shows_progress_and_reuses(page: Page, server: Server, screenshots):
    open_page(page, server, "train", "Train")
    epochs = page.get_by_label("Epochs")
    expect(epochs).to_have_value("3")
    epochs.fill("1")
    epochs.press("Enter")
    one_epoch = "MLP 784-128-128-10, SGD lr 0.01, batch 32, 1 epoch"
    expect(page.get_by_text(one_epoch, exact=True)).to_be_visible()
    idle(page)

    model_file = server.workdir / "mnist_model.h5"
    before = model_file.stat().st_mtime_ns if model_file.exists() else None
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.locator('[data-testid="stProgress"]')).to_be_visible(timeout=PAGE_TIMEOUT)
    # The bar moves: two readings, the second higher than the first.
    first = page.wait_for_function(PROGRESS_JS, arg=0, timeout=TRAIN_TIMEOUT, polling=100).json_value()
    second = page.wait_for_function(PROGRESS_JS, arg=first["value"], timeout=TRAIN_TIMEOUT,
                                    polling=100).json_value()
    print(f"\n[train] progress read {first['value']}% ({first['text']!r}), "
          f"then {second['value']}% ({second['text']!r})", flush=True)
    assert 0 < first["value"] < second["value"] <= 100
    assert re.search(r"Epoch 1/1 · step [\d,]+/1,875", first["text"]), first["text"]

    accuracy = metric_value(page, "Test accuracy")
    expect(accuracy).to_be_visible(timeout=TRAIN_TIMEOUT)
    idle(page)
    assert percent(accuracy.inner_text()) > 80
    expect(metric_value(page, "Test loss")).to_have_text(re.compile(r"^\d+\.\d{4}$"))
    expect(metric_value(page, "Training time")).to_have_text(re.compile(r"^\d+\.\d s$"))
    expect(page.locator('[data-testid="stProgress"]')).to_contain_text("Done in")
    expect(page.get_by_text("Saved as", exact=False)).to_be_visible()
    expect(page.get_by_text("trained before")).to_have_count(0)
    # The live batch curves, and the saved run's per-epoch history (which
    # replaces the live per-epoch chart once training ends).
    drawn = charts_rendered(page, at_least=2)
    print(f"[train] {drawn} Vega-Lite charts drawn", flush=True)
    assert model_file.exists()
    assert model_file.stat().st_mtime_ns != before, "mnist_model.h5 was not replaced by the new run"
    snap(page, screenshots / "train.png")

    # Same settings again: the saved run is reused, nothing is retrained.
    started = time.monotonic()
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("These settings were trained before", exact=False)).to_be_visible(timeout=30_000)
    seconds = time.monotonic() - started
    print(f"[train] same settings again: reused in {seconds:.2f} s", flush=True)
    assert seconds < 10
    expect(page.locator('[data-testid="stProgress"]')).to_contain_text("Reused the earlier run")
    expect(metric_value(page, "Test accuracy")).to_have_text(accuracy.inner_text())
    idle(page)
    snap(page, screenshots / "train-reused.png")
    assert_no_console_errors(page)


# --- d. Evaluate page ---------------------------------------------------------------

def test_evaluate_page_metrics_grid_and_probabilities(page: Page, server: Server, screenshots):
    if not (server.workdir / "mnist_model.h5").exists():
        train_default_model(page, server)
    open_page(page, server, "evaluate", "Evaluate")
    accuracy = metric_value(page, "Test accuracy")
    expect(accuracy).to_be_visible(timeout=PAGE_TIMEOUT)
    assert percent(accuracy.inner_text()) > 80
    expect(metric_value(page, "Mistakes")).to_have_text(re.compile(r"^[\d,]+ of 10,000$"))
    expect(page.get_by_text("Worst mistakes")).to_be_visible(timeout=PAGE_TIMEOUT)
    idle(page)
    images_loaded(page)

    grid = page.locator('[data-testid="stImage"] img').first  # the 5x5 grid comes first
    expect(grid).to_be_visible()
    box = grid.bounding_box()
    assert box["width"] > 300 and box["height"] > 300, box
    src, digest = grid.get_attribute("src"), png_hash(grid)

    only_mistakes = page.get_by_role("switch", name="Only mistakes")
    expect(only_mistakes).not_to_be_checked()
    page.get_by_text("Only mistakes", exact=True).click()
    expect(only_mistakes).to_be_checked()
    expect(grid).not_to_have_attribute("src", src, timeout=PAGE_TIMEOUT)
    idle(page)
    images_loaded(page)
    mistakes_src, mistakes_digest = grid.get_attribute("src"), png_hash(grid)
    assert mistakes_digest != digest, "the grid looks the same with only mistakes"

    page.get_by_role("button", name="New sample").click()
    expect(grid).not_to_have_attribute("src", mistakes_src, timeout=PAGE_TIMEOUT)
    idle(page)
    images_loaded(page)
    assert png_hash(grid) != mistakes_digest, "a new sample shows the same grid"
    expect(only_mistakes).to_be_checked()

    # Softmax probabilities of the three images chosen by default, one chart each.
    expect(page.get_by_role("heading", name="Softmax probabilities")).to_be_visible()
    probability_row = page.locator('[data-testid="stHorizontalBlock"]').filter(
        has=page.locator('[data-testid="stImage"]')).filter(has_not_text="Confusion matrix")
    probability_images = probability_row.locator('[data-testid="stImage"] img')
    expect(probability_images).to_have_count(3)
    for i in range(3):
        expect(probability_images.nth(i)).to_be_visible()
        assert probability_images.nth(i).bounding_box()["height"] > 100
    expect(page.get_by_role("heading", name="Confusion matrix")).to_be_visible()
    page.get_by_role("heading", name="Accuracy per digit").scroll_into_view_if_needed()
    charts_rendered(page, at_least=1)
    snap(page, screenshots / "evaluate.png")
    assert_no_console_errors(page)


# --- e. Draw page -----------------------------------------------------------------------

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


def clear(page: Page) -> None:
    """Press Clear and wait for the fresh, empty canvas that replaces the old one."""
    canvas(page).evaluate("el => { el.dataset.stale = 'yes'; }")
    page.get_by_role("button", name="Clear", exact=True).click()
    expect(page.locator("canvas.upper-canvas:not([data-stale])")).to_be_visible(timeout=PAGE_TIMEOUT)
    idle(page)


def expect_hint(page: Page) -> None:
    expect(page.get_by_text("Draw a digit on the canvas: the prediction appears here.")).to_be_visible()
    expect(metric(page, "Prediction")).to_have_count(0)


def test_draw_page_reads_drawn_digits(page: Page, server: Server, timings, screenshots):
    train_default_model(page, server)  # the default MLP, current again (reused if trained before)

    started = time.monotonic()
    page.goto(f"{server.url}/draw")
    expect(canvas(page)).to_be_visible(timeout=PAGE_TIMEOUT)
    report("draw_page_s", time.monotonic() - started, timings)
    box = canvas(page).bounding_box()
    assert (box["width"], box["height"]) == (280, 280), box
    expect(page.get_by_text(f"Model: {DEFAULT_MODEL}")).to_be_visible()
    idle(page)
    expect_hint(page)  # an empty canvas: the hint, no prediction

    read = {}
    for digit, strokes in DIGITS.items():
        clear(page)
        expect_hint(page)
        draw(page, strokes)
        drawn = ink(page)
        assert 0.03 < drawn < 0.4, f"the {digit} covers {drawn:.1%} of the canvas"
        prediction = metric_value(page, "Prediction")
        expect(prediction).to_be_visible(timeout=PAGE_TIMEOUT)
        idle(page)
        confidence = page.get_by_text("Confidence:")
        read[digit] = (prediction.inner_text(), confidence.inner_text())
        print(f"\n[draw] drew {digit}: read {read[digit][0]} ({read[digit][1]})", flush=True)
        expect(page.get_by_text("Draw a digit on the canvas")).to_have_count(0)
        images_loaded(page)
        expect(page.locator('[data-testid="stImage"] img')).to_have_count(1)  # what the model saw
        expect(page.get_by_role("img", name=re.compile("^Probability of each digit"))).to_be_visible()
        snap(page, screenshots / f"draw-{digit}.png")
    misread = {d: r for d, r in read.items() if r[0] != d}
    assert not misread, f"drawn digit -> (prediction, confidence): {misread}"

    clear(page)
    expect_hint(page)
    assert ink(page) == 0
    expect(page.locator('[data-testid="stImage"]')).to_have_count(0)
    snap(page, screenshots / "draw-cleared.png")
    assert_no_console_errors(page)


# --- bugs found while writing these tests, fixed ----------------------------------------

def test_deep_link_as_first_request_shows_the_app_navigation(browser, tmp_path, screenshots):
    (tmp_path / "lab").mkdir()
    with run_server(tmp_path / "lab", tmp_path / "streamlit.log") as fresh:
        context = browser.new_context(viewport=VIEWPORT)
        try:
            page = context.new_page()
            page.goto(f"{fresh.url}/train")  # the first request this server sees
            expect(title(page)).to_contain_text("Train", timeout=PAGE_TIMEOUT)
            idle(page)
            snap(page, screenshots / "deep-link-first-request.png")
            nav = page.locator('[data-testid="stSidebarNav"]')
            for name in ("Home", "Train", "Evaluate", "Draw"):  # the page has run: no need to wait long
                expect(nav.get_by_text(name, exact=True)).to_be_visible(timeout=5_000)
            for name in ("dashboard", "shared"):
                expect(nav.get_by_text(name, exact=True)).to_have_count(0)
        finally:
            context.close()


def test_upload_limit_is_stated_once(page: Page, server: Server):
    open_page(page, server, "draw", "Draw")
    uploader = page.locator('[data-testid="stSidebar"] [data-testid="stFileUploader"]')
    expect(uploader).to_be_visible(timeout=PAGE_TIMEOUT)
    label = uploader.locator('[data-testid="stWidgetLabel"]').inner_text()
    widget = uploader.locator('[data-testid="stFileUploaderDropzoneInstructions"]').inner_text()
    promised = re.search(r"up to (\d+) MiB", label)
    taken = re.search(r"(\d+)\s*MB per file", widget)
    assert promised and taken, (label, widget)
    assert promised.group(1) == taken.group(1), f"label: {label!r}; widget: {widget!r}"
