"""Every page of the dashboard in headless Chromium, asserting on what a
person sees: titles, messages, metrics, images, charts and the drawing canvas.

The tests share one server (and its work folder) and run in file order, the
order of a first visit: landing page, first launch without a current model
(the server makes its starter model current by itself), Train, Evaluate, Draw. Every later
test that needs a model gets it itself, so each also runs alone (-k). Two
tests at the end pin bugs found on the way. tests/browser/test_demo.py does
the same for a public demo server.

    pytest -m browser -s tests/browser   # -s shows the time-to-interactive figures

Screenshots go to test-artifacts/screenshots/, timings to test-artifacts/timings.json.
"""

from __future__ import annotations

import os
import re
import time

import pytest

if not os.environ.get("CI"):  # under CI a missing Playwright is an error, not a reason to skip
    pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install -r requirements-dev.txt")
from playwright.sync_api import Page, expect  # noqa: E402

from model.lab import jobs, starter, store  # noqa: E402

from .conftest import DOCS, PHONE, VIEWPORT, Server, run_server
from .ui import (
    DIGITS,
    PAGE_TIMEOUT,
    TRAIN_TIMEOUT,
    assert_no_console_errors,
    canvas,
    charts_rendered,
    clear,
    draw,
    expect_hint,
    idle,
    images_loaded,
    ink,
    metric_value,
    nav_link,
    open_page,
    percent,
    read_digit,
    reading,
    rendered,
    report,
    settled,
    snap,
    title,
    touch_draw,
    train_default_model,
    wait_until_drawable,
    watch_console,
)

pytestmark = pytest.mark.browser
STARTER_MODEL = starter.shipped_meta()["description"]  # the shipped starter, as it ran: the same on every CPU

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

    for name in ("Train", "Evaluate", "Draw", "Home"):
        nav_link(page, name).click()
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

def test_first_launch_makes_the_starter_model_current_by_itself(page: Page, server: Server, timings, screenshots):
    """The server has no current model, only the starter's kept run (as after
    a restart; a server with nothing trains it: tests/browser/test_demo.py in
    Chromium, tests/test_pages.py locally): its first visit (the landing
    page, above) made it current, so the Draw page shows the canvas without
    anybody pressing Train."""
    started = time.monotonic()
    open_page(page, server, "draw", "Draw")
    expect(canvas(page)).to_be_visible(timeout=TRAIN_TIMEOUT)
    report("first_launch_draw_ready_s", time.monotonic() - started, timings)
    expect(page.get_by_text(f"Model: {STARTER_MODEL}")).to_be_visible()
    expect_hint(page)
    expect(page.get_by_role("button", name=re.compile("^Train"))).to_have_count(0)
    assert (server.workdir / "mnist_model.h5").exists()

    open_page(page, server, "evaluate", "Evaluate")
    accuracy = metric_value(page, "Test accuracy")
    expect(accuracy).to_be_visible(timeout=PAGE_TIMEOUT)
    assert percent(accuracy.inner_text()) > 98.5

    open_page(page, server, "", "MNIST lab")
    expect(metric_value(page, "Current model: test accuracy")).to_be_visible()
    expect(page.get_by_text(STARTER_MODEL)).to_be_visible()
    expect(page.get_by_text("No model yet")).to_have_count(0)
    snap(page, screenshots / "home.png")
    assert_no_console_errors(page)


# --- c. Train page --------------------------------------------------------------

PROGRESS_JS = """(above) => {
    const bar = document.querySelector('[data-testid="stMain"] [data-testid="stProgress"] [role="progressbar"]');
    if (!bar) return false;
    const value = Number(bar.getAttribute('aria-valuenow'));
    return value > above ? {value, text: bar.closest('[data-testid="stProgress"]').innerText} : false;
}"""


def test_train_page_trains_shows_progress_and_reuses(page: Page, server: Server, screenshots):
    open_page(page, server, "train", "Train")
    epochs = page.get_by_role("spinbutton", name="Epochs")
    expect(epochs).to_have_value("3")
    epochs.fill("2")  # the server paces each epoch to at least 4 s: the bar is read twice while it runs
    epochs.press("Enter")
    two_epochs = "MLP 784-128-128-10, SGD lr 0.01, batch 32, 2 epochs"
    expect(page.get_by_text(two_epochs, exact=True)).to_be_visible()
    idle(page)

    model_file = server.workdir / "mnist_model.h5"
    before = model_file.stat().st_mtime_ns if model_file.exists() else None
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.locator('[data-testid="stMain"] [data-testid="stProgress"]')).to_be_visible(timeout=PAGE_TIMEOUT)
    # What the click started shows where the eye is: in the viewport, without scrolling.
    expect(page.locator('[data-testid="stMain"] [data-testid="stProgress"]')).to_be_in_viewport()
    # The bar moves: two readings, the second higher than the first.
    first = page.wait_for_function(PROGRESS_JS, arg=0, timeout=TRAIN_TIMEOUT, polling=100).json_value()
    second = page.wait_for_function(PROGRESS_JS, arg=first["value"], timeout=TRAIN_TIMEOUT,
                                    polling=100).json_value()
    print(f"\n[train] progress read {first['value']}% ({first['text']!r}), "
          f"then {second['value']}% ({second['text']!r})", flush=True)
    assert 0 < first["value"] < second["value"] <= 100
    assert re.search(r"epoch [12]/2 · step [\d,]+/3,750", first["text"]), first["text"]

    accuracy = metric_value(page, "Test accuracy")
    expect(accuracy).to_be_visible(timeout=TRAIN_TIMEOUT)
    idle(page)
    assert percent(accuracy.inner_text()) > 80
    expect(metric_value(page, "Test loss")).to_have_text(re.compile(r"^\d+\.\d{4}$"))
    expect(metric_value(page, "Training time")).to_have_text(re.compile(r"^\d+\.\d s$"))
    expect(page.locator('[data-testid="stMain"] [data-testid="stProgress"]')).to_have_count(0)
    expect(page.get_by_text("trained before")).to_have_count(0)
    # The saved run's per-epoch history replaces the live curves once training ends.
    drawn = charts_rendered(page, at_least=1)
    print(f"[train] {drawn} Vega-Lite charts drawn", flush=True)
    use = page.get_by_role("button", name="Use this model")
    if use.count():  # a better model was current (the starter): the training is kept, not made current
        assert model_file.stat().st_mtime_ns == before, "a worse training replaced the current model"
        use.click()
        deadline = time.monotonic() + TRAIN_TIMEOUT / 1000  # a hang guard, not a speed check
        while model_file.stat().st_mtime_ns == before and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        idle(page)
    assert model_file.exists()
    assert model_file.stat().st_mtime_ns != before, "mnist_model.h5 is not the new run"
    snap(page, screenshots / "train.png")

    # Same settings again: the saved run is reused, nothing is retrained. Read from the lab, not a
    # clock: the click's job is done as it is queued, from the kept run (no job process ran: it has no
    # log), and the run's files are those the training wrote.
    trained = jobs.list_jobs(server.workdir, limit=1)[0]
    assert trained.kind == "train" and trained.status == "done" and not trained.result["cached"], trained
    run_files = {p: p.stat().st_mtime_ns for p in store.run_dir(trained.result["run"], server.workdir).rglob("*")}
    assert run_files
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("These settings were trained before", exact=False)).to_be_visible(timeout=PAGE_TIMEOUT)
    new = [j for j in jobs.list_jobs(server.workdir) if j.id > trained.id]
    assert len(new) == 1, new
    again = new[0]
    assert again.status == "done" and again.result["cached"] and again.result["run"] == trained.result["run"], again
    assert again.started_at == again.finished_at  # never queued for a process
    assert not (server.workdir / store.RUNS / ".jobs" / f"{again.id}.log").exists()  # no job process ran
    assert {p: p.stat().st_mtime_ns for p in store.run_dir(again.result["run"], server.workdir).rglob("*")} == run_files
    print(f"[train] same settings again: job {again.id} reused run {again.result['run']}", flush=True)
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
    expect(page.get_by_role("tab", name="Test digits")).to_have_attribute("aria-selected", "true")
    expect(page.locator(".digit-grid").first).to_be_visible(timeout=PAGE_TIMEOUT)
    idle(page)
    images_loaded(page)

    grid = page.locator(".digit-grid").first  # the sample of 25 test digits comes first
    expect(grid.locator("figure")).to_have_count(25)
    box = grid.bounding_box()
    assert box["width"] > 600, box
    digit = grid.locator("img").first.bounding_box()
    assert digit["width"] >= 56 and digit["height"] >= 56, digit  # each 28x28 digit at least twice its size
    caption_px = grid.locator("figcaption").first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    assert caption_px >= 13, f"grid labels of {caption_px} px"
    text = grid.inner_text()

    only_mistakes = page.get_by_role("switch", name="Only mistakes")
    expect(only_mistakes).not_to_be_checked()
    page.get_by_text("Only mistakes", exact=True).click()
    expect(only_mistakes).to_be_checked()
    expect(grid).not_to_have_text(text, timeout=PAGE_TIMEOUT)
    # the run the switch starts may show an interim grid first: wait for the mistakes-only one
    expect(grid.locator("figure", has_text="✗")).to_have_count(25, timeout=PAGE_TIMEOUT)
    idle(page)
    mistakes = grid.inner_text()
    assert mistakes.count("✗") == 25, mistakes

    page.get_by_role("button", name="New sample").click()
    expect(grid).not_to_have_text(mistakes, timeout=PAGE_TIMEOUT)
    idle(page)
    assert grid.inner_text().count("✗") == 25
    expect(only_mistakes).to_be_checked()

    # Softmax probabilities of the three images chosen by default: each digit beside its chart.
    expect(page.get_by_role("heading", name="Softmax probabilities")).to_be_visible()
    charts = page.get_by_role("img", name=re.compile(r"^#\d+: test image \d+\. 0: "))
    expect(charts).to_have_count(3)
    pictures = page.locator('[data-testid="stImage"] img')
    expect(pictures).to_have_count(3)
    images_loaded(page)
    for i in range(3):
        expect(charts.nth(i)).to_be_visible()
        assert pictures.nth(i).bounding_box()["height"] > 40
    snap(page, screenshots / "evaluate.png")
    page.get_by_role("tab", name="Confusion matrix").click()
    expect(page.get_by_role("heading", name="Confusion matrix")).to_be_visible()
    expect(page.get_by_text("Worst mistakes")).to_be_visible()
    page.get_by_role("tab", name="Accuracy per digit").click()
    expect(page.get_by_role("heading", name="Accuracy per digit")).to_be_visible()
    charts_rendered(page, at_least=1)
    assert_no_console_errors(page)


# --- e. Draw page -----------------------------------------------------------------------

def test_draw_page_reads_drawn_digits(page: Page, server: Server, timings, screenshots):
    # A model to draw with: the default MLP if none is there yet (reused if trained before); a
    # worse model than the current one waits for "Use this model", so the Draw page may read
    # with the starter CNN, which reads these digits too.
    train_default_model(page, server)

    started = time.monotonic()
    page.goto(f"{server.url}/draw")
    expect(canvas(page)).to_be_visible(timeout=PAGE_TIMEOUT)
    report("draw_page_s", time.monotonic() - started, timings)
    box = wait_until_drawable(page, timeout=PAGE_TIMEOUT / 1000)  # the model loaded in the browser
    report("draw_page_reading_ready_s", time.monotonic() - started, timings)
    assert (box["width"], box["height"]) == (280, 280), box
    model = page.get_by_text(re.compile("^Model: ")).inner_text().removeprefix("Model: ").split(" · ")[0]
    expect(page.locator(".draw .how")).to_contain_text(f"read in your browser (LiteRT.js) · {model}")
    idle(page)
    expect_hint(page)  # an empty canvas: the hint, no reading

    read = {}
    for digit, strokes in DIGITS.items():
        clear(page)
        draw(page, strokes)
        drawn = ink(page)
        assert 0.03 < drawn < 0.4, f"the {digit} covers {drawn:.1%} of the canvas"
        read[digit] = (read_digit(page), reading(page).inner_text().replace("\n", " "))
        print(f"\n[draw] drew {digit}: {read[digit][1]}", flush=True)
        settled(page)  # the server got the drawing: what the model saw and the probabilities, under the canvas
        images_loaded(page)
        expect(page.locator('[data-testid="stImage"] img')).to_have_count(1)  # what the model saw
        expect(page.get_by_role("img", name=re.compile("^Probability of each digit"))).to_be_visible()
        expect(page.get_by_text(f"Why does it read {read[digit][0]}?")).to_be_visible()
        snap(page, screenshots / f"draw-{digit}.png")
    misread = {d: r for d, r in read.items() if r[0] != d}
    assert not misread, f"drawn digit -> (read, reading): {misread}"

    clear(page)
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
            # the app's seven pages and nothing else: no helper module of app_pages/ listed as a page
            expect(nav.locator("a")).to_have_count(7)
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


# --- f. a phone ---------------------------------------------------------------------------

def test_on_a_phone_the_reading_is_in_sight_while_drawing(browser, server: Server, screenshots):
    """390x664 with touch, as a phone shows the page: the reading sits above
    the canvas and stays in view while drawing with a finger."""
    context = browser.new_context(**{**PHONE, "viewport": {"width": 390, "height": 664}})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/draw")
        expect(canvas(page)).to_be_visible(timeout=TRAIN_TIMEOUT)
        idle(page)
        touch_draw(page, DIGITS["7"])
        assert read_digit(page) == "7"
        expect(reading(page)).to_be_in_viewport()
        expect(canvas(page)).to_be_in_viewport()
        settled(page)
        page.screenshot(path=str(screenshots / "draw-phone.png"))
    finally:
        context.close()


# --- g. Tune page ------------------------------------------------------------------------

def test_a_repeated_search_finishes_with_a_message(page: Page, server: Server, screenshots):
    open_page(page, server, "tune", "Tune")
    for label, value in (("Trials", "2"), ("Training images (fewer: faster)", "5000")):
        field = page.get_by_role("spinbutton", name=label, exact=True)
        field.fill(value)
        field.press("Enter")
        idle(page)
    search = page.locator('button[kind="primary"]', has_text="Search")  # not the table's own search
    search.click()
    expect(page.get_by_text("Best:", exact=False)).to_be_visible(timeout=TRAIN_TIMEOUT)
    idle(page)
    search.click()  # the same search again
    expect(page.get_by_text("its trials were reused", exact=False)).to_be_visible(timeout=TRAIN_TIMEOUT)
    expect(page.get_by_text("Best:", exact=False)).to_be_visible()
    idle(page)
    expect(page.locator('[data-testid="stMain"] [data-testid="stProgress"]')).to_have_count(0)
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1)  # the results, once
    snap(page, screenshots / "tune.png")
    assert_no_console_errors(page)


# --- h. every page as a person meets it, at both sizes; choices kept (issue 26) ------------------

SCREENS_TALL = 3.0  # Draw and Evaluate on a phone: "within about three screens"
PAGES = {"": "MNIST lab", "draw": "Draw", "train": "Train", "evaluate": "Evaluate", "inside": "Inside the model",
         "tune": "Tune", "drawings": "Drawings"}

# The page's full height and width: Streamlit scrolls its main section, not the document.
SIZE_JS = """() => {
    const boxes = [document.documentElement, document.body,
                   document.querySelector('[data-testid="stAppViewContainer"]'),
                   document.querySelector('[data-testid="stMain"]')].filter(Boolean);
    return {height: Math.max(...boxes.map(b => b.scrollHeight)),
            width: Math.max(...boxes.map(b => b.scrollWidth))};
}"""


def size(page: Page) -> dict:
    return page.evaluate(SIZE_JS)


def show(page: Page, server: Server, path: str, phone: bool) -> None:
    """Open a page and let it finish: Draw with a digit drawn and read, Evaluate with its charts."""
    open_page(page, server, path, PAGES[path])
    if path == "draw":
        expect(canvas(page)).to_be_visible(timeout=TRAIN_TIMEOUT)
        (touch_draw if phone else draw)(page, DIGITS["7"])
        read_digit(page)
        settled(page)
    elif path == "evaluate":
        expect(page.locator(".digit-grid").first).to_be_visible(timeout=PAGE_TIMEOUT)
        images_loaded(page)
    idle(page)
    rendered(page)


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_every_page_fits_the_screen_and_is_shown_in_docs(browser, server: Server, screen: str):
    phone = screen == "phone"
    context = browser.new_context(**(PHONE if phone else {"viewport": VIEWPORT}))
    context.set_default_timeout(30_000)
    try:
        page = watch_console(context.new_page())
        width, screen_height = (390, 844) if phone else (VIEWPORT["width"], VIEWPORT["height"])
        heights = {}
        for path, name in PAGES.items():
            show(page, server, path, phone)
            measured = size(page)
            heights[name] = measured["height"]
            assert measured["width"] <= width, f"{name} is {measured['width']} px wide on a {width} px screen"
            expect(page.locator('[data-testid="stAppDeployButton"]')).to_have_count(0)  # no developer toolbar
            shot = DOCS / "screens" / f"{path or 'home'}-{screen}.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=False)
        print(f"\n[{screen} {width}x{screen_height}] page heights: "
              + ", ".join(f"{name} {h} px ({h / screen_height:.1f} screens)" for name, h in heights.items()),
              flush=True)
        if phone:
            for name in ("Draw", "Evaluate"):
                assert heights[name] <= SCREENS_TALL * screen_height, \
                    f"{name} is {heights[name] / screen_height:.1f} phone screens tall"
        assert_no_console_errors(page)
    finally:
        context.close()


def combobox(page: Page, label: str):
    return page.get_by_role("combobox", name=label, exact=True)


def choose(page: Page, label: str, option: str) -> None:
    combobox(page, label).click()
    page.get_by_role("option", name=option, exact=True).click()
    idle(page)


def test_train_settings_and_the_chosen_model_survive_other_pages(page: Page, server: Server):
    """Issue 26: Adam, 256,128 and batch 64 on Train; the starter's kept run
    picked in Evaluate's sidebar; Draw, Evaluate and Train again: all still there."""
    open_page(page, server, "evaluate", "Evaluate")
    expect(page.locator(".digit-grid").first).to_be_visible(timeout=TRAIN_TIMEOUT)  # the starter model is current
    picker = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Model", exact=True)
    picker.click()
    options = page.get_by_role("option")
    kept = [t for t in options.all_inner_texts() if " · " in t]  # "description · 99.28% · key"
    assert kept, options.all_inner_texts()
    page.get_by_role("option", name=kept[0], exact=True).click()
    idle(page)
    expect(picker).to_have_value(kept[0])

    nav_link(page, "Train").click()
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=PAGE_TIMEOUT)
    idle(page)
    choose(page, "Optimizer", "ADAM")
    layers = page.get_by_role("textbox", name="Dense layer sizes", exact=True)
    layers.fill("256,128")
    layers.press("Enter")
    batch = page.get_by_role("spinbutton", name="Batch size", exact=True)
    batch.fill("64")
    batch.press("Enter")
    idle(page)

    for name in ("Draw", "Evaluate", "Train"):
        nav_link(page, name).click()
        idle(page)
    expect(combobox(page, "Optimizer")).to_have_value("ADAM")
    expect(page.get_by_role("textbox", name="Dense layer sizes", exact=True)).to_have_value("256,128")
    expect(page.get_by_role("spinbutton", name="Batch size", exact=True)).to_have_value("64")
    nav_link(page, "Draw").click()
    expect(canvas(page)).to_be_visible(timeout=PAGE_TIMEOUT)
    sidebar_picker = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Model", exact=True)
    expect(sidebar_picker).to_have_value(kept[0])  # the model chosen on Evaluate
    assert_no_console_errors(page)


def test_the_drawings_page_lists_each_retraining_and_the_owner_can_ask_for_one(browser, server: Server, screenshots):
    """Issue 23 on a phone: the section "How the lab learns" opens on a
    promotion and a refusal (the table within the screen's width, both rows
    drawn), and "Retrain now" says in view why nothing starts (no drawings
    saved on this server)."""
    from test_learning import seed_history

    from model.lab import drawings

    assert drawings.count(root=server.workdir) == 0, "this test needs a server without saved drawings"
    seed_history(server.workdir)
    context = browser.new_context(**PHONE)
    try:
        page = watch_console(context.new_page())
        open_page(page, server, "drawings", "Drawings")
        page.get_by_text(re.compile(r"^How the lab learns from them \(2 retrainings\)")).click()
        table = page.locator('[data-testid="stExpander"] [data-testid="stDataFrame"]')
        expect(table).to_be_visible()
        box = table.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["viewport"]["width"], box
        assert box["height"] >= 3 * 30, box  # a header and two rows of about 35 px
        page.get_by_role("button", name="Retrain now", exact=True).click()
        said = page.get_by_text("Not started: there are no saved drawings to learn from yet", exact=False)
        expect(said).to_be_in_viewport()
        snap(page, screenshots / "drawings-learning-phone.png")
        assert_no_console_errors(page)
    finally:
        context.close()
