"""Load test of the Draw page: concurrent browser sessions drawing digits.

    python -m bench.load_draw                              # 1, then 16 concurrent sessions x 10 rounds
    python -m bench.load_draw --sessions 8 --rounds 20 --time-limit 600
    python -m bench.load_draw --training                   # the same while a training job runs

Goals (issues 24 and 9): no errors; with 16 sessions drawing at once, the
in-browser reading's p95 (pointer move -> reading written) no worse than one
session's; server CPU per stroke <= 10 ms; the server's memory flat over
repeated drawings and page switches (RSS growth after warm-up <= 10%).

The Draw page reads in the browser (app_pages/draw_canvas: LiteRT.js), and
the server hears from each drawing once, when it settles (300 ms after the pen
is lifted: one rerun of the page's fragment, which shows what the model saw
under the canvas). A default model is trained into a temporary work folder,
the server started on a free loopback port (as in bench.cold_start), and one
probe session opens the Draw page and draws once, so TensorFlow's import, the
model's load and its web export are not part of the figures
(bench.cold_start has those). Then, for each count of ``--sessions``, that
many browser contexts in one headless Chromium on the same 2 cores as the
server, driven concurrently with asyncio (playwright.async_api), each: open
the landing page, follow its link to Draw, wait until its model is loaded in
the page, draw once (warm-up, not counted), then ``--rounds`` times: draw a
digit with the mouse (1, 7 or 0 in turn, one move every 8 ms), time mouse-up ->
the settled drawing shown under the canvas, and press the canvas's Clear.
Every third round the session also switches pages (sidebar: Home, then its
link back to Draw). All rounds stop at ``--time-limit`` seconds. Errors are
timeouts, exceptions, console errors and page errors. In each page, every
reading's latency (``window.__mnistDraw``) is collected; the server's CPU
(/proc/<pid>/stat) over the measured rounds is divided by the strokes drawn;
its RSS is sampled every half second.

With ``--training``, a background training job (``--training-preset``, by
default fast-cnn for 12 epochs) is queued as the measured rounds start; it
runs in its own process (model.lab.jobs) while the sessions draw, and the
report says which share of the rounds it overlapped.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time

from bench import common

GOAL_CPU_MS = 10.0
GOAL_RSS_GROWTH = 0.10
DIGITS = (1, 7, 0)
MOVE_MS = 8.0


def describe(exc: BaseException) -> str:
    """One line: the exception and, for Playwright, what it was waiting for."""
    lines = str(exc).splitlines() or [""]
    waiting = next((ln.strip() for ln in lines if "waiting for" in ln), "")
    return f"{type(exc).__name__}: {lines[0][:160]}" + (f" ({waiting[:160]})" if waiting else "")



class Session:
    def __init__(self, index: int, browser, url: str, timeout_ms: float) -> None:
        self.index, self.browser, self.url, self.timeout_ms = index, browser, url, timeout_ms
        self.settles: list[float] = []  # mouse-up -> the settled drawing shown under the canvas
        self.done_at: list[float] = []  # perf_counter() at the end of each measured round
        self.clears: list[float] = []
        self.switches: list[float] = []
        self.digits: list[tuple[int, str]] = []
        self.strokes = 0
        self.readings: dict[str, list[float]] = {}
        self.errors: list[str] = []

    async def open(self) -> None:
        self.context = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = await self.context.new_page()
        self.page.set_default_timeout(self.timeout_ms)
        self.page.on("console", lambda m: m.type == "error" and "404" not in m.text
                     and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        await self.page.goto(self.url)
        await self.to_draw()

    async def to_draw(self) -> None:
        """From the landing page, follow its link to Draw; wait for the canvas, ready to read."""
        link = self.page.get_by_text(common.LANDING_TEXT)
        await link.wait_for(state="visible")
        await link.click()
        await self.page.wait_for_url("**/draw")
        await self.ready()

    async def ready(self) -> None:
        await self.page.wait_for_function(common.READY_TO_DRAW_JS, polling=100)

    async def idle(self) -> None:
        await self.page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()

    async def switch_pages(self) -> None:
        t0 = time.perf_counter()
        await self.collect()  # the page goes: keep its readings
        await self.page.evaluate(common.MARK_CANVAS_OLD_JS)
        await self.page.locator('[data-testid="stSidebarNav"] a', has_text="Home").click()
        await self.to_draw()
        self.switches.append(time.perf_counter() - t0)

    async def clear(self) -> None:
        t0 = time.perf_counter()
        await self.page.locator(".draw button.clear").click()
        await self.page.get_by_text(common.SEEN_TEXT).wait_for(state="detached")
        await self.idle()
        self.clears.append(time.perf_counter() - t0)

    async def draw_and_settle(self, digit: int) -> float:
        """Draw ``digit``; seconds from mouse-up to the settled drawing shown under the canvas."""
        page = self.page
        box = await page.locator(common.CANVAS).bounding_box()
        for stroke in common.digit_strokes(box, digit):
            path = common.polyline(stroke)
            await page.mouse.move(*path[0])
            await page.mouse.down()
            for point in path[1:]:
                t = time.perf_counter()
                await page.mouse.move(*point)
                await asyncio.sleep(max(0.0, MOVE_MS / 1000 - (time.perf_counter() - t)))
            await page.mouse.up()
            self.strokes += 1
        up = time.perf_counter()
        await page.get_by_text(common.SEEN_TEXT).wait_for(state="visible")
        elapsed = time.perf_counter() - up
        await self.idle()
        self.digits.append((digit, await page.locator(common.PREDICTION).inner_text()))
        return elapsed

    async def collect(self) -> None:
        """This page's reading figures so far (they go with the page)."""
        stats = await self.page.evaluate("window.__mnistDraw ? JSON.parse(JSON.stringify(window.__mnistDraw)) : {}")
        for key in ("latency", "frame", "pre", "infer"):
            self.readings.setdefault(key, []).extend(stats.get(key, []))
        await self.page.evaluate("if (window.__mnistDraw) for (const k of ['latency', 'frame', 'pre', 'infer'])"
                                 " window.__mnistDraw[k] = []")

    async def run(self, rounds: int, deadline: float, start: asyncio.Event, warmed: asyncio.Barrier) -> None:
        try:
            await start.wait()
            await self.open()
            await self.draw_and_settle(1)  # warm-up round, not counted
            await self.clear()
            await self.page.evaluate("for (const k of ['latency', 'frame', 'pre', 'infer']) window.__mnistDraw[k] = []")
            self.strokes, self.clears, self.digits = 0, [], []
        except Exception as exc:
            self.errors.append(f"opening: {describe(exc)}")
            await warmed.wait()
            return
        await warmed.wait()  # every session warmed up before the measured rounds
        for r in range(rounds):
            if time.perf_counter() > deadline:
                break
            try:
                self.settles.append(await self.draw_and_settle(DIGITS[(r + self.index) % len(DIGITS)]))
                await self.clear()
                self.done_at.append(time.perf_counter())
                if r % 3 == 2:
                    await self.switch_pages()
            except Exception as exc:
                self.errors.append(f"round {r + 1}: {describe(exc)}")
                try:  # recover: start again from the landing page
                    await self.page.goto(self.url)
                    await self.to_draw()
                except Exception as exc2:
                    self.errors.append(f"recovering: {describe(exc2)}")
                    return
        try:
            await self.collect()
        except Exception as exc:
            self.errors.append(f"collecting: {describe(exc)}")

    async def close(self) -> None:
        if getattr(self, "context", None):
            await self.context.close()


async def sample_rss(server: common.Server, samples: list[tuple[float, float]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append((time.perf_counter(), server.rss_mib()))
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass


async def load_test(server: common.Server, args, count: int, browser) -> dict:
    rss: dict[str, float] = {}
    samples: list[tuple[float, float]] = []
    sessions = [Session(i, browser, server.url, args.timeout * 1000) for i in range(count)]
    start, stop = asyncio.Event(), asyncio.Event()
    warmed = asyncio.Barrier(count + 1)
    sampler = asyncio.create_task(sample_rss(server, samples, stop))
    deadline = time.perf_counter() + args.time_limit
    tasks = [asyncio.create_task(s.run(args.rounds, deadline, start, warmed)) for s in sessions]
    t_open = time.perf_counter()
    start.set()
    await warmed.wait()
    rss[f"{count} sessions open"] = server.rss_mib()
    t_rounds, cpu0 = time.perf_counter(), server.cpu_seconds()
    job = start_training(server, args) if args.training else None
    print(f"({count} sessions opened and warmed up in {t_rounds - t_open:.1f} s; measured rounds start)", flush=True)
    await asyncio.gather(*tasks)
    wall, cpu = time.perf_counter() - t_rounds, server.cpu_seconds() - cpu0
    rss["after all rounds"] = server.rss_mib()
    stop.set()
    await sampler
    for s in sessions:
        await s.close()
    return {"sessions": sessions, "rss": rss, "samples": samples, "wall": wall, "cpu": cpu, "t_rounds": t_rounds,
            "job": job}


async def run_all(server: common.Server, args) -> tuple[list[str], dict[int, dict], dict[str, float]]:
    from playwright.async_api import async_playwright

    rss = {"idle server": server.rss_mib()}
    results = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(**common.chromium_options())
        try:
            probe = Session(-1, browser, server.url, args.timeout * 1000)
            t0 = time.perf_counter()
            await probe.open()
            await probe.draw_and_settle(1)
            await probe.close()
            print(f"(probe session: TensorFlow imported, the model loaded and exported for browsers; Draw page and "
                  f"a first settled drawing in {time.perf_counter() - t0:.1f} s, not counted; probe console errors: "
                  f"{len(probe.errors)})", flush=True)
            rss["after the probe"] = server.rss_mib()
            t_idle, cpu_idle = time.perf_counter(), server.cpu_seconds()
            await asyncio.sleep(10)  # the idle server's CPU (its job runner), in 10 ms ticks: a long look
            rss["idle CPU ms/s"] = 1000 * (server.cpu_seconds() - cpu_idle) / (time.perf_counter() - t_idle)
            for count in args.sessions:
                results[count] = await load_test(server, args, count, browser)
                await asyncio.sleep(2)  # sessions closed: let the server drop them
        finally:
            await browser.close()
    return probe.errors, results, rss


def start_training(server: common.Server, args):
    """Queue a training job in the server's work folder; its runner starts it."""
    import dataclasses

    from model.lab import jobs
    from model.lab.limits import LOCAL
    from model.training.config import PRESETS

    config = dataclasses.replace(PRESETS[args.training_preset], epochs=args.training_epochs, seed=12345)
    return jobs.submit_training(config, session="bench", limits=LOCAL, root=server.workdir)


def training_overlap(r: dict, server_dir) -> str:
    """How the job went, and the share of measured rounds that ended while it ran."""
    from model.lab import jobs

    job = jobs.get(r["job"].id, server_dir)
    if job.started_at is None:
        return f"training job {job.id}: {job.status}, never started"
    end = job.finished_at or time.time()
    wall_to_perf = time.perf_counter() - time.time()
    start_p, end_p = job.started_at + wall_to_perf, end + wall_to_perf
    done = [t for s in r["sessions"] for t in s.done_at]
    during = sum(1 for t in done if start_p <= t <= end_p)
    return (f"training job {job.id} ({job.title}): {job.status}, ran {end - job.started_at:.0f} s; "
            f"{during} of {len(done)} measured rounds ended while it ran")


def ms_line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: none"
    return (f"{name}: n={len(values)}  p50 {common.percentile(values, 50):.1f} ms  "
            f"p95 {common.percentile(values, 95):.1f} ms  max {max(values):.1f} ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", default="1,16",
                        help="concurrent browser sessions, one run per count, comma-separated (default 1,16)")
    parser.add_argument("--rounds", type=int, default=10, help="measured rounds a session (default 10)")
    parser.add_argument("--time-limit", type=float, default=300, help="seconds for all rounds of a run (default 300)")
    parser.add_argument("--timeout", type=float, default=90, help="seconds to wait for any one step (default 90)")
    parser.add_argument("--training", action="store_true", help="a training job runs while the sessions draw")
    parser.add_argument("--training-preset", default="fast-cnn", help="the training job's preset (default fast-cnn)")
    parser.add_argument("--training-epochs", type=int, default=12, help="its epochs (default 12)")
    args = parser.parse_args(argv)
    args.sessions = [int(n) for n in str(args.sessions).split(",")]
    common.header(f"load_draw: {' then '.join(map(str, args.sessions))} concurrent sessions drawing on the Draw page",
                  f"0 errors; reading p95 with {max(args.sessions)} sessions no worse than with {min(args.sessions)}; "
                  f"server CPU per stroke <= {GOAL_CPU_MS:g} ms; RSS growth <= {GOAL_RSS_GROWTH:.0%}")

    with common.temp_dir("load") as lab:
        t = time.perf_counter()
        common.train_into(lab)
        print(f"(default model trained into the work folder in {time.perf_counter() - t:.1f} s; not timed)")
        with common.Server(lab) as server:
            print(f"(server pid {server.pid} healthy {server.wait_healthy():.2f} s after start, {server.url})",
                  flush=True)
            probe_errors, results, rss = asyncio.run(run_all(server, args))
            overlaps = {n: training_overlap(r, lab) for n, r in results.items() if r["job"]}

    ok = not probe_errors
    p95s = {}
    print()
    print(f"server: {rss['idle CPU ms/s']:.1f} ms CPU per second idle; RSS idle {rss['idle server']:.0f} MiB, "
          f"after the probe {rss['after the probe']:.0f} MiB")
    for count, r in results.items():
        sessions = r["sessions"]
        errors = [f"session {s.index}: {e}" for s in sessions for e in s.errors]
        rounds = sum(len(s.settles) for s in sessions)
        strokes = sum(s.strokes for s in sessions)
        latency = [x for s in sessions for x in s.readings.get("latency", [])]
        p95s[count] = common.percentile(latency, 95) if latency else math.nan
        reads = [d for s in sessions for d in s.digits]
        r["cpu"] -= rss["idle CPU ms/s"] / 1000 * r["wall"]  # the server's own background (its job runner)
        cpu_stroke = 1000 * r["cpu"] / max(1, strokes)
        print(f"\n{count} session{'s' if count > 1 else ''}: {rounds} rounds (of {count * args.rounds} planned), "
              f"{strokes} strokes in {r['wall']:.1f} s, errors {len(errors)}")
        print("  " + ms_line("pointer move -> reading written (in the page)", latency))
        frames = [x for s in sessions for x in s.readings.get("frame", [])]
        print("  " + ms_line("pointer move -> frame that paints it", frames))
        print("  " + ms_line("preprocessing", [x for s in sessions for x in s.readings.get("pre", [])]))
        print("  " + ms_line("inference", [x for s in sessions for x in s.readings.get("infer", [])]))
        print("  " + common.latency_line("mouse-up -> settled drawing shown under the canvas (300 ms wait included)",
                                         [x for s in sessions for x in s.settles]))
        print("  " + common.latency_line("click Clear -> cleared and idle", [x for s in sessions for x in s.clears]))
        print("  " + common.latency_line("page switch Home -> Draw, model loaded",
                                         [x for s in sessions for x in s.switches]))
        print(f"  server CPU over the measured rounds (its idle rate subtracted): {r['cpu']:.2f} s = "
              f"{cpu_stroke:.1f} ms per stroke "
              f"({1000 * r['cpu'] / max(1, rounds):.1f} ms per round: drawing, settle, Clear, page switches)")
        print("  digits drawn -> read: " + ", ".join(
            f"{d} read as {d} {sum(1 for a, b in reads if a == d and b == str(d))}/{sum(1 for a, _ in reads if a == d)}"
            for d in DIGITS))
        opened = r["rss"][f"{count} sessions open"]
        growth = (r["rss"]["after all rounds"] - opened) / opened
        print(f"  server RSS {r['rss'][f'{count} sessions open']:.0f} MiB with the sessions open -> "
              f"{r['rss']['after all rounds']:.0f} MiB after the rounds ({growth:+.1%}); max "
              f"{max((v for _, v in r['samples']), default=math.nan):.0f} MiB")
        for e in errors[:10]:
            print(f"  error: {e}")
        if count in overlaps:
            print("  " + overlaps[count])
        ok &= not errors and rounds == count * args.rounds and cpu_stroke <= GOAL_CPU_MS and growth <= GOAL_RSS_GROWTH
    low, high = min(p95s), max(p95s)
    if low != high:
        ok &= p95s[high] <= p95s[low] * 1.1 + 1.0  # within 10% and a millisecond
    common.footer()
    common.verdict(ok, "; ".join(f"{n} sessions: reading p95 {p:.1f} ms" for n, p in p95s.items())
                   + "; server CPU per stroke: " + ", ".join(
                       f"{1000 * r['cpu'] / max(1, sum(s.strokes for s in r['sessions'])):.1f} ms ({n})"
                       for n, r in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
