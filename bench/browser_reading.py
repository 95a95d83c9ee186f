"""Reading in the browser: pointer move -> updated reading on the Draw page, and
the server's CPU per stroke.

    python -m bench.browser_reading                        # fast-cnn and strong-cnn, 20 digits each
    python -m bench.browser_reading --models fast-cnn --digits 20
    python -m bench.browser_reading --app-dir /tmp/before  # another checkout's Draw page (server CPU only)

Goals (issue 24, on these 2 cores): a reading while the pen is down; pointer
move -> updated reading p50 <= 16 ms (one frame), p95 <= 50 ms, for fast-cnn
and strong-cnn; server CPU per stroke <= 10 ms with the page's defaults.

For each model a temporary work folder holds it as the current model
(``mnist_model.h5`` and a sidecar naming it), the Draw page is served from it
(``streamlit run dashboard.py``, on a free loopback port) and opened in headless
Chromium (1400x1000). The models are the presets' architectures as built for
training (``model.training.architectures``), untrained unless ``--trained`` is
given: a reading costs the same whatever the weights; for the latency the
drawn digit need not be read right. Each digit (``model.data.strokes``'
templates, upright and centred) is drawn with the mouse, one move every
``--move-ms`` (a hand moving at about 1 px/ms), then the page waits until the
drawing has settled and the server has shown it (what the model saw, under
the canvas); then "Clear".

In the page (``window.__mnistDraw``, kept by app_pages/draw_canvas/draw.js):
"latency" is a pointermove event's time stamp -> the reading's text written,
"frame" -> the start of the animation frame that paints it, "pre" and "infer"
the preprocessing (preprocess.js) and LiteRT.js' inference of that reading.
The server's CPU (/proc/<pid>/stat, user + system, in 10 ms ticks) is summed
over all the drawings (pen down -> settled and shown) and Clears, minus the
server's own background rate (its job runner: about 8 ms a second), measured
over 10 s before and after and 2 s after each drawing, and divided by the
strokes drawn. With ``--app-dir`` the same is drawn on another
checkout's Draw page (the one before issue 24: streamlit-drawable-canvas,
which sends each stroke when the pen is lifted and reads it on the server).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from bench import common

GOAL_P50_MS, GOAL_P95_MS, GOAL_CPU_MS = 16.0, 50.0, 10.0
IDLE_S = 10.0  # seconds of the idle server's CPU, before and after the drawings (10 ms ticks)
GAP_S = 2.0  # and between two drawings
MODELS = ("fast-cnn", "strong-cnn")


def save_model(preset: str, lab: Path, trained: Path | None) -> str:
    """``preset``'s architecture (or the model file ``trained``) as the lab's current model."""
    import shutil

    from model.training.architectures import build_model, with_keras_layers
    from model.training.config import PRESETS

    config = dataclasses.replace(PRESETS[preset], precision="float32")
    description = f"{preset} ({'trained' if trained else 'untrained, for timing'})"
    if trained:
        shutil.copy(trained, lab / "mnist_model.h5")
    else:
        model = with_keras_layers(build_model(config))
        model.save(lab / "mnist_model.h5")
    (lab / "mnist_model.json").write_text(json.dumps({"description": description, "key": preset}))
    return description



class DrawPage:
    """The Draw page of this checkout (app_pages/draw_canvas) or of an older
    one (streamlit-drawable-canvas: a Fabric canvas, the reading a metric)."""

    def __init__(self, page, new: bool) -> None:
        self.page, self.new = page, new

    def ready(self, timeout_ms: float) -> None:
        if self.new:
            self.page.wait_for_function(common.READY_TO_DRAW_JS, polling=100, timeout=timeout_ms)
        else:
            self.page.locator("canvas.upper-canvas").wait_for(timeout=timeout_ms)
            self.page.wait_for_timeout(1500)

    def box(self) -> dict:
        return self.page.locator(common.CANVAS if self.new else "canvas.upper-canvas").bounding_box()

    def settled(self, timeout_ms: float) -> None:
        text = common.SEEN_TEXT if self.new else "What the model sees (28x28)"
        self.page.get_by_text(text).wait_for(timeout=timeout_ms)
        self.page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout_ms)
        self.page.wait_for_timeout(300)  # the last deltas handled

    def clear(self, timeout_ms: float) -> None:
        if self.new:
            self.page.locator(".draw button.clear").click()
            self.page.get_by_text(common.SEEN_TEXT).wait_for(state="detached", timeout=timeout_ms)
        else:
            self.page.get_by_role("button", name="Clear", exact=True).click()
            self.page.get_by_text("Draw a digit on the canvas").wait_for(timeout=timeout_ms)
        self.page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout_ms)
        self.page.wait_for_timeout(300)


def measure(browser, server: common.Server, digits: int, move_ms: float, timeout_ms: float) -> dict:
    from model.data.strokes import CANVAS, digit_strokes

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and "404" not in m.text and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    try:
        t0 = time.perf_counter()
        page.goto(f"{server.url}/draw")
        new = page.locator(".draw canvas, canvas.upper-canvas").first
        new.wait_for(timeout=timeout_ms)
        draw_page = DrawPage(page, page.locator(".draw canvas").count() > 0)
        draw_page.ready(timeout_ms)
        r = {"ready_s": time.perf_counter() - t0, "new": draw_page.new}
        if draw_page.new:
            r["reader"] = page.locator(".draw").get_attribute("data-reader")
            r["load_ms"] = page.evaluate("window.__mnistDraw.loadMs")

        def template(digit: int):
            box = draw_page.box()
            return [[(box["x"] + x / CANVAS * box["width"], box["y"] + y / CANVAS * box["height"]) for x, y in s]
                    for s in digit_strokes(digit)]

        common.draw(page, template(1), move_ms)  # warm-up: the page's first settle and rerun, JIT
        draw_page.settled(timeout_ms)
        draw_page.clear(timeout_ms)
        if draw_page.new:
            page.evaluate("for (const k of ['latency', 'frame', 'pre', 'infer']) window.__mnistDraw[k] = [];"
                          "window.__mnistDraw.whileDown = 0")
        def idle_rate(seconds: float = IDLE_S) -> float:
            t, cpu = time.perf_counter(), server.cpu_seconds()
            time.sleep(seconds)
            return (server.cpu_seconds() - cpu) / (time.perf_counter() - t)

        before = idle_rate()
        t_all, cpu_all = time.perf_counter(), server.cpu_seconds()
        drawing_cpu, pen_cpu, clear_cpu, idle, strokes, moves, read = [], [], [], [], 0, 0, []
        for i in range(digits):
            digit = i % 10
            shapes = template(digit)
            t, cpu = time.perf_counter(), server.cpu_seconds()
            moves += common.draw(page, shapes, move_ms)
            strokes += len(shapes)
            t_up, cpu_up = time.perf_counter(), server.cpu_seconds()
            pen_cpu.append((cpu_up - cpu, t_up - t))  # while the pen moved
            draw_page.settled(timeout_ms)
            drawing_cpu.append((server.cpu_seconds() - cpu, time.perf_counter() - t))
            if draw_page.new:
                read.append((digit, page.locator(".draw .what").get_attribute("data-digit")))
            t, cpu = time.perf_counter(), server.cpu_seconds()
            draw_page.clear(timeout_ms)
            clear_cpu.append((server.cpu_seconds() - cpu, time.perf_counter() - t))
            t, cpu = time.perf_counter(), server.cpu_seconds()
            time.sleep(GAP_S)  # the server's background between drawings, sampled all along
            idle.append((server.cpu_seconds() - cpu, time.perf_counter() - t))
        total = (server.cpu_seconds() - cpu_all - sum(c for c, _ in idle),
                 time.perf_counter() - t_all - sum(w for _, w in idle))
        after = idle_rate()
        rate = (sum(c for c, _ in idle) + (before + after) * IDLE_S) / (sum(w for _, w in idle) + 2 * IDLE_S)
        net = lambda phases: sum(c - rate * w for c, w in phases)  # noqa: E731
        r |= {"idle_cpu_ms_per_s": rate * 1000, "drawing_cpu": net(drawing_cpu), "pen_cpu": net(pen_cpu),
              "clear_cpu": net(clear_cpu), "total_cpu": net([total]), "wall": total[1],
              "strokes": strokes, "moves": moves, "digits": digits, "read": read, "errors": errors}
        if draw_page.new:
            r["stats"] = page.evaluate("JSON.parse(JSON.stringify(window.__mnistDraw))")
        return r
    finally:
        context.close()


def ms_line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: none"
    return (f"{name}: n={len(values)}  p50 {common.percentile(values, 50):.1f} ms  "
            f"p95 {common.percentile(values, 95):.1f} ms  max {max(values):.1f} ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help="presets, comma-separated (default fast-cnn,strong-cnn)")
    parser.add_argument("--trained", nargs="*", type=Path, default=[],
                        help="model files to use instead, one per preset")
    parser.add_argument("--digits", type=int, default=20, help="digits drawn per model (default 20)")
    parser.add_argument("--move-ms", type=float, default=8.0, help="ms between mouse moves (default 8)")
    parser.add_argument("--app-dir", type=Path, default=common.ROOT, help="the checkout to serve (default this one)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for any one step")
    args = parser.parse_args(argv)
    presets = args.models.split(",")
    common.header(f"browser_reading: pointer move -> reading, and server CPU per stroke ({args.app_dir})",
                  f"reading p50 <= {GOAL_P50_MS:g} ms, p95 <= {GOAL_P95_MS:g} ms; server CPU per stroke "
                  f"<= {GOAL_CPU_MS:g} ms")
    from playwright.sync_api import sync_playwright

    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(**common.chromium_options())
        try:
            for i, preset in enumerate(presets):
                with common.temp_dir("reading") as lab:
                    trained = args.trained[i] if i < len(args.trained) else None
                    name = save_model(preset, lab, trained)
                    with common.Server(lab, env={"MNIST_LAB_WARMUP": "0"}, app_dir=args.app_dir) as server:
                        server.wait_healthy()
                        r = measure(browser, server, args.digits, args.move_ms, args.timeout * 1000)
                    if r["new"]:
                        from model.lab.web_models import FOLDER, STATIC_DIR, source_hash

                        web = STATIC_DIR / FOLDER / (source_hash(lab / "mnist_model.h5") + ".tflite")
                        r["model_bytes"] = web.stat().st_size
                results[name] = r
        finally:
            browser.close()

    ok = True
    for name, r in results.items():
        print(f"\n{name}: page ready {r['ready_s']:.1f} s after opening"
              + (f" (reader: {r.get('reader')}, model loaded and compiled in the browser in {r['load_ms']:.0f} ms, "
                 f"its .tflite {r['model_bytes'] / 1e6:.2f} MB)" if r["new"] else " (the page before issue 24)"))
        cpu_stroke = 1000 * r["total_cpu"] / r["strokes"]
        print(f"  {r['digits']} digits, {r['strokes']} strokes, {r['moves']} mouse moves in {r['wall']:.0f} s; "
              f"server idle {r['idle_cpu_ms_per_s']:.1f} ms CPU/s (its background, subtracted)")
        print(f"  server CPU per digit: {1000 * r['pen_cpu'] / r['digits']:.1f} ms while the pen moves, "
              f"{1000 * r['drawing_cpu'] / r['digits']:.1f} ms from pen down to the drawing settled and shown, "
              f"{1000 * r['clear_cpu'] / r['digits']:.1f} ms per Clear; "
              f"in all {cpu_stroke:.1f} ms per stroke (Clear included)")
        if r["new"]:
            s = r["stats"]
            print("  " + ms_line("pointer move -> reading written", s["latency"]))
            print("  " + ms_line("pointer move -> frame that paints it", s["frame"]))
            print("  " + ms_line("preprocessing (preprocess.js)", s["pre"]))
            print("  " + ms_line("inference (LiteRT.js)", s["infer"]))
            print(f"  readings while the pen was down: {s['whileDown']} of {len(s['latency'])}; "
                  f"digits read as drawn: {sum(1 for d, g in r['read'] if str(d) == g)}/{len(r['read'])} "
                  f"({'untrained: not expected' if 'untrained' in name else 'trained'})")
            p50, p95 = common.percentile(s["latency"], 50), common.percentile(s["latency"], 95)
            ok &= p50 <= GOAL_P50_MS and p95 <= GOAL_P95_MS and s["whileDown"] > 0
        ok &= cpu_stroke <= GOAL_CPU_MS
        if r["errors"]:
            ok = False
            print("  console errors: " + "; ".join(r["errors"][:5]))
    common.footer()
    common.verdict(ok, "; ".join(
        f"{n}: " + (f"reading p50 {common.percentile(r['stats']['latency'], 50):.1f} ms, "
                    f"p95 {common.percentile(r['stats']['latency'], 95):.1f} ms, " if r["new"] else "")
        + f"server {1000 * r['total_cpu'] / r['strokes']:.1f} ms CPU/stroke"
        for n, r in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
