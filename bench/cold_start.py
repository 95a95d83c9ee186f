"""Cold start of the dashboard, as a user meets it, in headless Chromium.

    python -m bench.cold_start                 # 3 cold starts (about 1.5 minutes on 2 cores)
    python -m bench.cold_start --repeats 5

Goal: the landing page is interactive <= 3 s after the server process starts.

A default model is trained first into a temporary work folder (not timed). Then,
each repeat: ``python -m streamlit run dashboard.py`` starts (headless, a free
loopback port, no file watcher, ``MNIST_LAB_DIR`` = that folder) and a fresh
browser context (Debian's Chromium, launched beforehand) measures:

  1. process start -> ``/_stcore/health`` answers ok;
  2. process start -> the landing page interactive (its link "Draw a digit and
     see what the model reads" visible), the page opened as soon as 1. holds;
  3. a click on that link -> the Draw page's canvas visible (URL path /draw;
     this includes importing TensorFlow and loading the model, which the page
     does before it draws the canvas);
  4. the same click -> the canvas ready for strokes (drawing mode on, the
     page settled for 300 ms: strokes drawn sooner are lost);
  5. a drawn "1" (mouse down, move, up: a vertical bar in the canvas) -> the
     first "Prediction" metric visible.

The server is always stopped at the end of each repeat (its own process group).
"""

from __future__ import annotations

import argparse
import time

from bench import common

GOAL_LANDING_S = 3.0


def draw(page, digit: int = 1) -> float:
    """Draw ``digit`` with the mouse on the canvas; returns the mouse-up time."""
    box = page.locator(common.CANVAS).bounding_box()
    for stroke in common.digit_strokes(box, digit):
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*point, steps=2)
        page.mouse.up()
    return time.perf_counter()


def one_cold_start(browser, lab, timeout_ms: float) -> dict:
    console_errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
    page.on("pageerror", lambda e: console_errors.append(f"page error: {e}"))
    server = common.Server(lab)
    try:
        server.start()
        r = {"health": server.wait_healthy()}
        page.goto(server.url)
        page.get_by_text(common.LANDING_TEXT).wait_for(state="visible")
        r["landing"] = time.perf_counter() - server.started
        r["rss_landing"] = server.rss_mib()

        t0 = time.perf_counter()
        page.get_by_text(common.LANDING_TEXT).click()
        page.wait_for_url("**/draw")
        page.locator(common.CANVAS).wait_for(state="visible")
        r["canvas"] = time.perf_counter() - t0
        page.wait_for_function(common.READY_TO_DRAW_JS, polling=100)  # strokes drawn sooner are lost
        r["drawable"] = time.perf_counter() - t0

        up = draw(page, 1)
        prediction = page.locator(common.PREDICTION)
        prediction.wait_for(state="visible")
        r["prediction"] = time.perf_counter() - up
        r["digit"] = prediction.inner_text().split()[-1]
        r["rss_end"] = server.rss_mib()
        r["errors"] = console_errors
        return r
    finally:
        context.close()
        server.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold starts (default 3)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for any one step")
    args = parser.parse_args(argv)
    common.header("cold_start: streamlit run -> landing page -> Draw page -> first prediction",
                  f"landing page interactive <= {GOAL_LANDING_S:g} s after the process starts")

    from playwright.sync_api import sync_playwright

    runs = []
    with common.temp_dir("cold") as lab:
        t = time.perf_counter()
        common.train_into(lab)
        print(f"(default model trained into the work folder in {time.perf_counter() - t:.1f} s; not timed)")
        with sync_playwright() as p:
            browser = p.chromium.launch(**common.chromium_options())
            try:
                for i in range(args.repeats):
                    r = one_cold_start(browser, lab, args.timeout * 1000)
                    runs.append(r)
                    print(f"  repeat {i + 1}: health {r['health']:.2f} s, landing {r['landing']:.2f} s, "
                          f"Draw canvas {r['canvas']:.2f} s, first prediction {r['prediction']:.2f} s "
                          f"(read {r['digit']}), server RSS {r['rss_landing']:.0f} -> {r['rss_end']:.0f} MiB, "
                          f"console errors {len(r['errors'])}  [{common.load_short()}]", flush=True)
                    for e in r["errors"]:
                        print(f"    console error: {e[:300]}")
            finally:
                browser.close()

    def med(key: str) -> float:
        return common.median([r[key] for r in runs])

    print()
    print(common.table(["figure (median of %d cold starts)" % len(runs), "seconds", "all runs"], [
        [label, f"{med(k):.2f}", " ".join(f"{r[k]:.2f}" for r in runs)] for label, k in [
            ("process start -> health endpoint ok", "health"),
            ("process start -> landing page interactive", "landing"),
            ("click 'Draw' -> canvas visible (imports TF, loads the model)", "canvas"),
            ("click 'Draw' -> canvas ready to draw (stable 300 ms)", "drawable"),
            ("mouse-up -> first 'Prediction' visible", "prediction"),
        ]]))
    print(f"server RSS: {med('rss_landing'):.0f} MiB on the landing page, {med('rss_end'):.0f} MiB after the "
          f"first prediction; digits read: {[r['digit'] for r in runs]}; console errors: "
          f"{sum(len(r['errors']) for r in runs)}")
    common.footer()
    landing = med("landing")
    common.verdict(landing <= GOAL_LANDING_S,
                   f"landing page interactive {landing:.2f} s after process start (goal <= {GOAL_LANDING_S:g}); "
                   f"Draw canvas {med('canvas'):.2f} s, first prediction {med('prediction'):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
