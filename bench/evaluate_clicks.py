"""The Evaluate page's controls, clicked as a person would, in headless Chromium.

    python -m bench.evaluate_clicks              # 6 rounds (about a minute on 2 cores)
    python -m bench.evaluate_clicks --rounds 10

Goal: each interaction shows its result in < 0.5 s (median): each section of
the page is a fragment that reruns alone, and the figures are cached per model
version and sample.

The default model is trained into a temporary work folder (not timed), the
server started, the Evaluate page opened once (TensorFlow's import, the model's
load and the evaluation of the 10,000 test images are not counted: bench.cold_start
has those). Then each round: click "New sample" and time click -> the test-digit
grid showing other digits and the app idle; flip "Only mistakes" and time the same.
"""

from __future__ import annotations

import argparse
import time

from bench import common

GOAL_S = 0.5
GRID = ".digit-grid"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def timed_change(page, action) -> float:
    """Seconds from ``action()`` to the test-digit grid showing other digits, the app idle."""
    before = page.locator(GRID).first.inner_html()
    started = time.perf_counter()
    action()
    page.wait_for_function("""(before) => {
        const grid = document.querySelector('.digit-grid');
        return grid && grid.innerHTML !== before
            && [...grid.querySelectorAll('img')].every(img => img.complete && img.naturalWidth > 0);
    }""", arg=before, polling=20)
    page.locator(IDLE).wait_for()
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds of the two clicks (default 6)")
    args = parser.parse_args(argv)
    common.header("evaluate_clicks: the Evaluate page's controls, click -> result shown",
                  f"median < {GOAL_S:g} s per interaction")
    from playwright.sync_api import sync_playwright

    sample, mistakes = [], []
    with common.temp_dir("evaluate") as lab:
        common.train_into(lab)
        with common.Server(lab) as server, sync_playwright() as p:
            server.wait_healthy()
            browser = p.chromium.launch(**common.chromium_options())
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(60_000)
                t0 = time.perf_counter()
                page.goto(f"{server.url}/evaluate")
                page.locator(GRID).first.wait_for()
                page.locator(IDLE).wait_for()
                print(f"(first visit: TensorFlow, the model and the test set's evaluation in "
                      f"{time.perf_counter() - t0:.1f} s; not counted)", flush=True)
                for _ in range(args.rounds):
                    sample.append(timed_change(page, page.get_by_role("button", name="New sample").click))
                    mistakes.append(timed_change(page, page.get_by_text("Only mistakes", exact=True).click))
            finally:
                browser.close()
    print(common.latency_line("click 'New sample' -> new grid shown", sample))
    print(common.latency_line("flip 'Only mistakes' -> new grid shown", mistakes))
    common.footer()
    median = common.median(sample + mistakes)
    common.verdict(median < GOAL_S, f"median of {len(sample + mistakes)} interactions {median:.2f} s "
                                    f"(goal < {GOAL_S:g} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
