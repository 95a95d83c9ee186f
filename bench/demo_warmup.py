"""A fresh public demo server: how long until its first visitor can draw, and is read.

    python -m bench.demo_warmup                 # 2 fresh servers each way (about 3 minutes on 2 cores)
    python -m bench.demo_warmup --repeats 3 --ways shipped
    python -m bench.demo_warmup --repeats 1 --upgrade   # and then the stronger model (about 6 minutes)

Goal (issue 23): the first visitor draws within 20 s of arriving, on a server
with no model at all, and the stronger model serves within 5 minutes of that
first visit. Two ways of getting a starter, compared in one run (``--ways``):
"shipped", the run that ships with the repository (``model.lab.starter``, what a
fresh lab does), and a preset's name, that preset trained by the lab as its
starter (``MNIST_LAB_WARMUP=NAME``, what it did before).

Each repeat: an empty work folder, ``streamlit run dashboard.py`` with
``MNIST_LAB_DEMO=1`` (headless, a free loopback port), and a fresh Chromium
context that opens /draw as soon as the server answers; measured from that
first visit: the canvas visible, the page ready to draw (its model loaded in the
browser, the page at rest: ``common.READY_TO_DRAW_JS``), and a 7 drawn then read.
With ``--upgrade``: then, the page left as it is, until the stronger model
(``jobs.ensure_upgrade``, its epochs cut to serve within ``jobs.UPGRADE_WITHIN_S``)
is the demo model, with nothing but the first visit to set it going.
"""

from __future__ import annotations

import argparse
import time

from bench import common

GOAL_S = 20.0
UPGRADE_GOAL_S = 300.0
SHIPPED = "shipped"


def one_fresh_server(browser, timeout_ms: float, way: str = SHIPPED, upgrade: bool = False) -> dict:
    from model.lab import jobs, store

    env = {"MNIST_LAB_DEMO": "1"} if way == SHIPPED else {"MNIST_LAB_DEMO": "1", "MNIST_LAB_WARMUP": way}
    if not upgrade:
        env["MNIST_LAB_UPGRADE"] = "0"  # the first visit alone, not beside the stronger model's training
    with common.temp_dir("demo") as lab, common.Server(lab, env=env) as server:
        server.wait_healthy()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            t0 = time.perf_counter()
            page.goto(f"{server.url}/draw")
            page.locator(common.CANVAS).wait_for()
            canvas = time.perf_counter() - t0
            page.wait_for_function(common.READY_TO_DRAW_JS, polling=100, timeout=timeout_ms)
            ready = time.perf_counter() - t0
            common.draw(page, common.digit_strokes(page.locator(common.CANVAS).bounding_box(), 7))
            read = page.locator(common.PREDICTION).inner_text()
            reading = time.perf_counter() - t0
            meta = store.current_meta(lab) or {}
            result = {"canvas_s": canvas, "ready_s": ready, "read_s": reading, "read": read.strip(),
                      "train_s": meta.get("train_seconds", float("nan")) if way != SHIPPED else 0.0,
                      "accuracy": meta.get("metrics", {}).get("test_accuracy", float("nan")),
                      "model": meta.get("description", "?"), "way": way}
            if upgrade:
                starter = store.current_run(lab).key
                while store.current_run(lab).key == starter:  # the visitor's page stays open, untouched
                    assert time.perf_counter() - t0 < 3600, "no upgrade within an hour"
                    time.sleep(1.0)
                serving = time.perf_counter() - t0
                [job] = jobs.list_jobs(lab, session=jobs.UPGRADE_SESSION)
                meta = store.current_meta(lab) or {}
                result.update(upgrade_s=serving, upgrade_job_s=job.finished_at - job.created_at,
                              upgrade_model=meta.get("description", "?"),
                              upgrade_accuracy=meta.get("metrics", {}).get("test_accuracy", float("nan")),
                              upgrade_train_s=meta.get("train_seconds", float("nan")))
        finally:
            context.close()
        return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="fresh servers each way (default 2)")
    parser.add_argument("--ways", default=f"{SHIPPED},fast-cnn",
                        help=f"comma-separated: {SHIPPED} and/or presets the lab trains as its starter")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for each step (default 180)")
    parser.add_argument("--upgrade", action="store_true", help="then wait for the stronger model to serve")
    args = parser.parse_args(argv)
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    common.header("demo_warmup: a fresh demo server's first visitor, until a drawing is read",
                  f"ready to draw <= {GOAL_S:.0f} s after the first visit" +
                  (f"; the stronger model serving <= {UPGRADE_GOAL_S:.0f} s after it" if args.upgrade else ""))
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(**common.chromium_options())
        try:
            for i in range(args.repeats):
                for way in ways:  # interleaved: the machine's mood falls on every way alike
                    r = one_fresh_server(browser, args.timeout * 1000, way, args.upgrade)
                    rows.append(r)
                    print(f"repeat {i + 1}, {way}: canvas after {r['canvas_s']:.1f} s, ready to draw after "
                          f"{r['ready_s']:.1f} s, a 7 read as {r['read']} after {r['read_s']:.1f} s; the starter "
                          f"({r['model']}, {r['accuracy']:.2%}) trained here in {r['train_s']:.1f} s  "
                          f"[{common.load_short()}]", flush=True)
                    if args.upgrade:
                        print(f"  then {r['upgrade_model']} served {r['upgrade_s']:.1f} s after the first visit: "
                              f"its job {r['upgrade_job_s']:.1f} s (training {r['upgrade_train_s']:.1f} s), test "
                              f"accuracy {r['upgrade_accuracy']:.2%}", flush=True)
        finally:
            browser.close()
    print()
    print(common.table(["way", "canvas s", "ready s", "read s", "read as 7", "trained here s"],
                       [[way, *(f"{common.median([r[k] for r in rows if r['way'] == way]):.1f}"
                                for k in ("canvas_s", "ready_s", "read_s")),
                         f"{sum(r['read'] == '7' for r in rows if r['way'] == way)}/{args.repeats}",
                         f"{common.median([r['train_s'] for r in rows if r['way'] == way]):.1f}"] for way in ways]))
    common.footer()
    first = [r for r in rows if r["way"] == ways[0]]
    ready = common.median([r["ready_s"] for r in first])
    common.verdict(ready <= GOAL_S and all(r["read"] == "7" for r in first),
                   f"{ways[0]}: first visit -> ready to draw, median of {len(first)}: {ready:.1f} s "
                   f"(goal <= {GOAL_S:.0f} s), the 7 read as 7 in {sum(r['read'] == '7' for r in first)}/{len(first)}")
    if args.upgrade:
        serving = common.median([r["upgrade_s"] for r in first])
        common.verdict(serving <= UPGRADE_GOAL_S,
                       f"{ways[0]}: first visit -> the stronger model serving, median of {len(first)}: "
                       f"{serving:.1f} s (goal <= {UPGRADE_GOAL_S:.0f} s); its job, queued -> serving "
                       f"{common.median([r['upgrade_job_s'] for r in first]):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
