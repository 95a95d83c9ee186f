"""Seeing inside the model, in headless Chromium: the attribution heat map on
the Draw page after drawing, the "Inside the model" page's map (a click on
a point chooses that image) and the Evaluate page's confusion matrix (a
click on a cell lists its images).

The module's server holds the starter model's run (the fast CNN), made
current by the first visit; each test also runs alone (-k).
Screenshots of the new views go to docs/ (the README shows them).

    pytest -m browser tests/browser/test_explain.py
"""

from __future__ import annotations

import os
import re

import pytest

if not os.environ.get("CI"):  # under CI a missing Playwright is an error, not a reason to skip
    pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install -r requirements-dev.txt")
from playwright.sync_api import Page, expect  # noqa: E402

from .conftest import DOCS, Server
from .ui import (
    DIGITS,
    PAGE_TIMEOUT,
    TRAIN_TIMEOUT,
    assert_no_console_errors,
    canvas,
    charts_rendered,
    draw,
    idle,
    images_loaded,
    open_page,
    open_why,
    read_digit,
    settled,
    snap,
)

pytestmark = pytest.mark.browser
HEAT_MAP = 'img[alt^="Attribution for"]'


def ready(page: Page, server: Server) -> None:
    """The Draw page with its canvas: the starter model exists (trained on the first visit)."""
    open_page(page, server, "draw", "Draw")
    expect(canvas(page)).to_be_visible(timeout=TRAIN_TIMEOUT)
    idle(page)


def test_draw_shows_why_it_reads_a_digit(page: Page, server: Server):
    ready(page, server)
    expect(page.locator(HEAT_MAP)).to_have_count(0)  # nothing drawn, nothing to explain
    draw(page, DIGITS["7"])
    digit = open_why(page)  # the attribution is made only on request
    heat = page.locator(HEAT_MAP)
    expect(heat).to_have_attribute("alt", f"Attribution for {digit} (Integrated gradients)")
    expect(page.get_by_text(f"Why {digit}: red pixels count for it, blue against")).to_be_visible()
    box = heat.bounding_box()
    assert box["width"] >= 200 and box["height"] >= 200, box
    assert heat.evaluate("img => img.complete && img.naturalWidth") == 28  # a 28x28 PNG, scaled by the browser

    other = "1" if digit != "1" else "7"
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Why not").click()
    page.get_by_role("option", name=f"why (not) {other}?", exact=True).click()
    expect(heat).to_have_attribute("alt", f"Attribution for {other} (Integrated gradients)")
    idle(page)

    page.get_by_text("Grad-CAM", exact=True).click()  # the starter model is a CNN
    expect(heat).to_have_attribute("alt", f"Attribution for {other} (Grad-CAM)")
    page.get_by_text("Integrated gradients", exact=True).click()
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Why not").click()
    page.get_by_role("option", name="why the prediction?", exact=True).click()
    expect(heat).to_have_attribute("alt", f"Attribution for {digit} (Integrated gradients)")
    idle(page)
    snap(page, DOCS / "draw-attribution.png")
    assert_no_console_errors(page)


def test_inside_map_click_chooses_an_image(page: Page, server: Server):
    ready(page, server)
    draw(page, DIGITS["0"])  # the last drawing is placed on the map
    read_digit(page)
    settled(page)  # the server has it
    page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]',
                 has_text="Inside the model").click()
    expect(page.get_by_role("heading", name=re.compile(r"^The image: test image 0, a 7"))).to_be_visible(
        timeout=PAGE_TIMEOUT)
    expect(page.get_by_role("heading", name="What the first layer looks for")).to_be_visible()
    charts_rendered(page, at_least=2, timeout=PAGE_TIMEOUT)  # bar strips and the map
    idle(page)

    chart = page.locator('[data-testid="stVegaLiteChart"]').last  # the map
    points = chart.locator("g.mark-symbol path")
    assert points.count() >= 2000
    point = points.nth(1234)
    point.scroll_into_view_if_needed()
    point.hover(force=True)
    expect(page.locator("#vg-tooltip-element img")).to_be_visible()  # the digit's picture in the tooltip
    point.click(force=True)
    expect(page.get_by_role("heading", name=re.compile(r"^The image: test image 0,"))).to_have_count(
        0, timeout=PAGE_TIMEOUT)
    heading = page.get_by_role("heading", name=re.compile(r"^The image: test image \d+, a \d, read as \d$"))
    expect(heading).to_be_visible()
    chosen = re.search(r"test image (\d+)", heading.inner_text()).group(1)
    expect(page.get_by_label(re.compile(r"^Test image \("))).to_have_value(chosen)
    # the picked image is shown beside the map too, where the click was: in view, not 2,000 px up
    expect(page.get_by_text(re.compile(rf"^test image {chosen}, a \d, read as \d$"))).to_be_in_viewport()
    expect(page.get_by_role("heading", name=f"Every layer's output for test image {chosen}, in network order"))\
        .to_be_visible()
    idle(page)
    images_loaded(page)
    snap(page, DOCS / "inside.png")

    page.get_by_text("Your last drawing", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile(r"^The image: your last drawing, read as \d$"))).to_be_visible()
    idle(page)
    assert_no_console_errors(page)


def test_confusion_cell_click_lists_its_images(page: Page, server: Server):
    ready(page, server)
    open_page(page, server, "evaluate", "Evaluate")
    page.get_by_role("tab", name="Confusion matrix").click()
    expect(page.get_by_text("Click a cell of the confusion matrix to see its test images.")).to_be_visible(
        timeout=PAGE_TIMEOUT)
    idle(page)
    cells = page.locator('[data-testid="stVegaLiteChart"] path[aria-label*="true digit"]')
    expect(cells).to_have_count(100)  # the SVG marks carry their data in their ARIA labels
    labels = cells.evaluate_all("paths => paths.map(p => p.getAttribute('aria-label'))")
    three = [i for i, label in enumerate(labels) if re.search(r"true digit: 3\b", label)
             and re.search(r"predicted digit: 3\b", label)]
    assert len(three) == 1, labels[:3]
    cell = cells.nth(three[0])
    cell.scroll_into_view_if_needed()
    cell.click(force=True)
    listed = page.get_by_text(re.compile(r"^[\d,]+ test images of digit 3 read as 3"))
    expect(listed).to_be_visible(timeout=PAGE_TIMEOUT)
    idle(page)
    shown = page.locator('img[alt^="Test image"]')
    expect(shown).to_have_count(20)
    expect(shown.first).to_be_in_viewport()  # where the eye is: no scrolling after the click (issue 26)
    page.get_by_text("Show why they read as 3 (attribution)").click()
    expect(page.locator('img[alt="Attribution for 3 (Integrated gradients)"]')).to_have_count(20)
    idle(page)
    page.get_by_role("heading", name="Confusion matrix").scroll_into_view_if_needed()
    images_loaded(page)
    page.screenshot(path=str(DOCS / "evaluate-confusion.png"))  # the matrix and the cell's images
    assert_no_console_errors(page)
