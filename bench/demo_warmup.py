"""A fresh public demo server: how long until its first visitor can draw.

    python -m bench.demo_warmup                 # 2 fresh servers (about 2 minutes on 2 cores)
    python -m bench.demo_warmup --repeats 3
    python -m bench.demo_warmup --repeats 1 --upgrade   # and then the stronger model (about 7 minutes)

Goal: the Draw page's canvas is there <= 60 s after the first visit, on a
server with no model at all (the starter model trains by itself, model.lab.jobs).
With ``--upgrade``: the stronger model (``jobs.ensure_upgrade``, its epochs cut
to serve within ``jobs.UPGRADE_WITHIN_S``) serves within 5 minutes of its job's
start, with nothing but the first visit to set it going (no page run after it).

Each repeat: an empty work folder, ``streamlit run dashboard.py`` with
``MNIST_LAB_DEMO=1`` (headless, a free loopback port), and a fresh Chromium
context that opens /draw as soon as the server answers; measured: first visit
-> "Getting ready" shown, and first visit -> the canvas visible (the starter
model trained, evaluated, saved and loaded). The starter's own training time
comes from its sidecar. Which preset reads drawn digits best for the time is
in bench/RESULTS.md (bench.presets: drawn-digit accuracy per preset).
"""

from __future__ import annotations

import argparse
import time

from bench import common

GOAL_S = 60.0
UPGRADE_GOAL_S = 300.0


def one_fresh_server(browser, timeout_ms: float, upgrade: bool = False) -> dict:
    from model.lab import jobs, store

    with common.temp_dir("demo") as lab, common.Server(lab, env={"MNIST_LAB_DEMO": "1"}) as server:
        server.wait_healthy()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            t0 = time.perf_counter()
            page.goto(f"{server.url}/draw")
            page.get_by_text("Getting ready", exact=False).wait_for()
            ready_text = time.perf_counter() - t0
            page.locator(common.CANVAS).wait_for()
            canvas = time.perf_counter() - t0
            meta = store.current_meta(lab) or {}
            result = {"getting_ready_s": ready_text, "canvas_s": canvas,
                      "train_s": meta.get("train_seconds", float("nan")),
                      "accuracy": meta.get("metrics", {}).get("test_accuracy", float("nan")),
                      "model": meta.get("description", "?")}
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
    parser.add_argument("--repeats", type=int, default=2, help="fresh servers (default 2)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for the canvas (default 180)")
    parser.add_argument("--upgrade", action="store_true", help="then wait for the stronger model to serve")
    args = parser.parse_args(argv)
    common.header("demo_warmup: a fresh demo server's first visitor, until the canvas is there",
                  f"the canvas visible <= {GOAL_S:.0f} s after the first visit")
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(**common.chromium_options())
        try:
            for i in range(args.repeats):
                r = one_fresh_server(browser, args.timeout * 1000, args.upgrade)
                rows.append(r)
                print(f"repeat {i + 1}: 'Getting ready' after {r['getting_ready_s']:.1f} s, canvas after "
                      f"{r['canvas_s']:.1f} s; the starter ({r['model']}) trained in {r['train_s']:.1f} s, "
                      f"test accuracy {r['accuracy']:.2%}  [{common.load_short()}]", flush=True)
                if args.upgrade:
                    print(f"  then {r['upgrade_model']} served {r['upgrade_s']:.1f} s after the first visit: its "
                          f"job {r['upgrade_job_s']:.1f} s (training {r['upgrade_train_s']:.1f} s), test accuracy "
                          f"{r['upgrade_accuracy']:.2%}", flush=True)
        finally:
            browser.close()
    canvas = common.median([r["canvas_s"] for r in rows])
    print(f"median: canvas {canvas:.1f} s after the first visit; starter training "
          f"{common.median([r['train_s'] for r in rows]):.1f} s of it")
    common.footer()
    common.verdict(canvas <= GOAL_S, f"first visit -> canvas, median of {len(rows)}: {canvas:.1f} s "
                                     f"(goal <= {GOAL_S:.0f} s)")
    if args.upgrade:
        job = common.median([r["upgrade_job_s"] for r in rows])
        common.verdict(job <= UPGRADE_GOAL_S, f"the stronger model's job, queued -> serving, median of {len(rows)}: "
                                              f"{job:.1f} s (goal <= {UPGRADE_GOAL_S:.0f} s); first visit -> it "
                                              f"serving {common.median([r['upgrade_s'] for r in rows]):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
