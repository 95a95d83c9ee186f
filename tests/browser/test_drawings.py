"""The drawings loop in headless Chromium, as a visitor lives it: draw a
digit on a fresh server (its starter model trains by itself first), say
which digit it really is with one click, and find the drawing on the
Drawings page.

    pytest -m browser -s tests/browser/test_drawings.py
"""

from __future__ import annotations

import os
import re

import pytest

if not os.environ.get("CI"):
    pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install -r requirements-dev.txt")
from playwright.sync_api import Page, expect  # noqa: E402

from .conftest import Server  # noqa: E402
from .ui import (  # noqa: E402
    DIGITS,
    PAGE_TIMEOUT,
    TRAIN_TIMEOUT,
    assert_no_console_errors,
    canvas,
    draw,
    idle,
    images_loaded,
    metric,
    open_page,
    title,
)

pytestmark = pytest.mark.browser


def test_a_drawing_marked_with_its_digit_appears_on_the_drawings_page(page: Page, server: Server):
    open_page(page, server, "draw", "Draw")
    expect(canvas(page)).to_be_visible(timeout=TRAIN_TIMEOUT)  # after the starter model's training
    idle(page)
    draw(page, DIGITS["7"])
    expect(metric(page, "Prediction")).to_be_visible(timeout=PAGE_TIMEOUT)
    expect(page.get_by_text("Was it right?")).to_be_visible()
    page.get_by_role("button", name="7", exact=True).click()  # the right digit, whatever the model read
    expect(page.get_by_text("Saved as a 7")).to_be_visible()
    expect(page.get_by_text("this drawing is now stored")).to_be_visible()
    idle(page)

    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Drawings").click()
    expect(title(page)).to_contain_text("Drawings", timeout=PAGE_TIMEOUT)
    expect(page.get_by_text("1 saved drawing,")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^7 · read \d"))).to_be_visible()  # its card: the label, the reading
    images_loaded(page)
    assert page.locator('[data-testid="stImage"] img').count() >= 1
    assert_no_console_errors(page)
