"""The Inside page draws every layer's output for an MLP and for a CNN, in
headless Chromium: each activation chart's bars have height on the screen
(measured in its pixels, not only found in the page), each feature-map mosaic
is not blank, and the attribution picture has its heat drawn over the digit
(integrated gradients; for the CNN Grad-CAM too): the digit under it is grey
(R = G = B), the heat red or blue, in full colour at its peak. Negative
control: an empty map drawn over the digit, put on the same page the same
way (a PNG 224 px wide, sharp pixels), fails that check (it passes "not
blank": the grey digit alone has a standard deviation of about 36).

Its own server, over a work folder where the classic MLP is the current
model, then the starter fast-cnn (both trained once for the suite, conftest.py).

    pytest -m browser tests/browser/test_inside.py
"""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest

if not os.environ.get("CI"):
    pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install -r requirements-dev.txt")
from PIL import Image  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402

from model.data.preprocess import scale_images  # noqa: E402
from model.insight import pictures  # noqa: E402
from model.lab import store  # noqa: E402

from .conftest import VIEWPORT, run_server
from .ui import PAGE_TIMEOUT, idle, images_loaded, open_page, snap

pytestmark = pytest.mark.browser
BAR_COLOURS = np.array([[0xB2, 0x18, 0x2B], [0x21, 0x66, 0xAC]], np.int16)  # inside.vector_chart's red and blue


def pixels(locator) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"), np.int16)


def bar_height(chart) -> int:
    """Rows of the chart's screenshot with a bar's colour in them: the bars' height in pixels."""
    rgb = pixels(chart)
    near = (np.abs(rgb[:, :, None, :] - BAR_COLOURS[None, None]).sum(axis=-1) < 60).any(axis=-1)
    return int(near.any(axis=1).sum())


def heat_drawn(rgb: np.ndarray) -> tuple[bool, str]:
    """Whether a heat map's colour is on a picture, and the figures: its
    chroma (max - min of R, G, B) is 0 on the grey digit and rises with the
    map's strength, to 175 (red) or 149 (blue) at the map's peak, which
    ``pictures.heat_map`` always draws in full colour. An empty map leaves the
    grey digit alone: chroma 0 everywhere."""
    chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
    figures = (f"chroma max {chroma.max()}, std {chroma.std():.1f}, "
               f"{(chroma > 30).mean():.1%} of pixels coloured; pixel std {rgb.std():.1f}")
    return bool(chroma.max() >= 100 and chroma.std() > 5), figures


def shown_as_the_page_shows_it(page: Page, picture: np.ndarray) -> np.ndarray:
    """The screenshot of a uint8 picture put on the page as the attribution
    is (a PNG data URL, 224 px wide, sharp pixels): the same path through the browser."""
    page.evaluate("""async (src) => {
        const img = document.createElement('img');
        img.id = 'negative-control';
        img.width = 224;
        img.style.cssText = 'image-rendering:pixelated;display:block;position:fixed;left:0;top:0;z-index:999999';
        img.src = src;
        document.body.appendChild(img);
        await img.decode();
    }""", pictures.png_data_url(picture))
    try:
        return pixels(page.locator("#negative-control"))
    finally:
        page.evaluate("document.getElementById('negative-control').remove()")


def layer_charts(page: Page):
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text("Every layer's output", exact=False)).to_be_visible(timeout=PAGE_TIMEOUT * 3)
    idle(page)
    images_loaded(page)
    charts = main.locator('[data-testid="stVegaLiteChart"]').filter(has_text="values")
    return charts


@pytest.fixture(scope="module")
def lab(tmp_path_factory, default_run, starter_run):
    workdir = tmp_path_factory.mktemp("inside_lab")
    shutil.copytree(default_run.path.parent, workdir, symlinks=True, dirs_exist_ok=True)  # the classic MLP, current
    shutil.copytree(starter_run.path.parent, store.run_dir(starter_run.meta["key"], workdir))  # fast-cnn, kept
    with run_server(workdir, tmp_path_factory.mktemp("inside_server") / "streamlit.log") as srv:
        yield srv


def check_heat(page: Page, name: str, method: str) -> None:
    main = page.locator('[data-testid="stMain"]')
    heat = main.locator(f'img[alt^="Attribution for"][alt$="({method})"]').first
    expect(heat).to_be_visible(timeout=PAGE_TIMEOUT)
    heat.scroll_into_view_if_needed()
    drawn, figures = heat_drawn(pixels(heat))
    print(f"[inside] {name}, {method}: {figures}", flush=True)
    assert drawn, f"the attribution picture ({method}) shows no heat over the digit: {figures}"


def check_layers(page: Page, name: str, want_mosaics: bool) -> None:
    charts = layer_charts(page)
    page.wait_for_timeout(500)  # Vega draws after the element appears
    heights = []
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        heights.append(bar_height(chart))
    print(f"\n[inside] {name}: {len(heights)} activation charts, bar heights {heights} px", flush=True)
    assert heights, "no activation chart"
    assert min(heights) >= 15, f"a chart's bars are (nearly) flat: {heights}"
    main = page.locator('[data-testid="stMain"]')
    pictures = main.locator('[data-testid="stImage"] img')  # the input, first-layer weights, feature maps
    assert pictures.count() >= (3 if want_mosaics else 2), pictures.count()
    for i in range(pictures.count()):
        pictures.nth(i).scroll_into_view_if_needed()
        assert pixels(pictures.nth(i)).std() > 5, f"picture {i} is blank"
    check_heat(page, name, "Integrated gradients")


def test_every_layer_draws_for_an_mlp_then_a_cnn(browser, lab, starter_run, screenshots, mnist):
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        open_page(page, lab, "inside", "Inside the model")
        check_layers(page, "classic MLP", want_mosaics=False)
        snap(page, screenshots / "inside-mlp.png")

        # The negative control: the page's digit (test image 0) under an empty map fails the same check.
        digit = scale_images(mnist[1][0][:1])[0]
        shot = shown_as_the_page_shows_it(page, pictures.heat_map(digit, np.zeros((28, 28)), scale=1))
        drawn, figures = heat_drawn(shot)
        print(f"[inside] an empty map over the digit: {figures}", flush=True)
        assert not drawn, f"the check finds heat in an empty map: {figures}"
        assert shot.std() > 5  # where "not blank" alone was fooled

        store.make_current(starter_run.meta["key"], lab.workdir)
        page.reload()
        open_page(page, lab, "inside", "Inside the model")
        check_layers(page, "fast-cnn", want_mosaics=True)
        snap(page, screenshots / "inside-cnn.png")
        page.locator('[data-testid="stMain"] [data-testid="stRadio"]').get_by_text("Grad-CAM", exact=True).click()
        check_heat(page, "fast-cnn", "Grad-CAM")
    finally:
        context.close()
