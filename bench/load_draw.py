"""Load test of the Draw page: concurrent browser sessions drawing digits.

    python -m bench.load_draw                          # 8 sessions x 10 rounds (about 2.5 minutes on 2 cores)
    python -m bench.load_draw --sessions 16 --rounds 20 --time-limit 600
    python -m bench.load_draw --training           # the same while a training job runs

Goal: no errors, and p95 < 1 s from mouse-up to the prediction shown, with 8
concurrent sessions on 2 cores; the server's memory stays flat over repeated
predictions and page switches (RSS growth after warm-up <= 10%).

A default model is trained into a temporary work folder, the server started on
a free loopback port (as in bench.cold_start), and one probe session opens the
Draw page and predicts once, so TensorFlow's import and the model's load are
not part of the figures (bench.cold_start has those). Then ``--sessions``
browser contexts in one headless Chromium, driven concurrently with asyncio
(playwright.async_api), each: open the landing page, follow its link to Draw,
draw once (warm-up, not counted), then ``--rounds`` times: click "Clear", wait
for the empty canvas to be ready (one canvas, the hint shown, the script idle,
for 300 ms: right after "Clear" the canvas is remounted, and a stroke drawn on
the outgoing one is lost), draw a digit with the mouse (1, 7 or 0 in turn), and
time mouse-up -> the "Prediction" metric visible. Every third round the session
also switches pages (sidebar: Home, then its link back to Draw). All rounds
stop at ``--time-limit`` seconds. Errors are timeouts, exceptions, console
errors and page errors. The server's RSS (/proc/<pid>/status VmRSS) is sampled
every half second.

With ``--training``, a background training job (``--training-preset``, by
default fast-cnn for 12 epochs: a convolutional net, the heaviest load per
second the lab makes) is queued as the measured rounds start; it runs in its
own process (model.lab.jobs) while the sessions draw, and the report says which
share of the rounds it overlapped.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench import common

GOAL_P95_S = 1.0
GOAL_RSS_GROWTH = 0.10
DIGITS = (1, 7, 0)


def describe(exc: BaseException) -> str:
    """One line: the exception and, for Playwright, what it was waiting for."""
    lines = str(exc).splitlines() or [""]
    waiting = next((ln.strip() for ln in lines if "waiting for" in ln), "")
    return f"{type(exc).__name__}: {lines[0][:160]}" + (f" ({waiting[:160]})" if waiting else "")


class Session:
    def __init__(self, index: int, browser, url: str, timeout_ms: float) -> None:
        self.index, self.browser, self.url, self.timeout_ms = index, browser, url, timeout_ms
        self.latencies: list[float] = []
        self.done_at: list[float] = []  # perf_counter() at the end of each measured round
        self.clears: list[float] = []
        self.switches: list[float] = []
        self.digits: list[tuple[int, str]] = []
        self.errors: list[str] = []

    async def open(self) -> None:
        self.context = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = await self.context.new_page()
        self.page.set_default_timeout(self.timeout_ms)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        await self.page.goto(self.url)
        await self.to_draw()

    async def to_draw(self) -> None:
        """From the landing page, follow its link to Draw; wait for the canvas."""
        link = self.page.get_by_text(common.LANDING_TEXT)
        await link.wait_for(state="visible")
        await link.click()
        await self.page.wait_for_url("**/draw")
        await self.ready()

    async def ready(self) -> None:
        """Wait until a drawing will land on the canvas that stays (see common)."""
        await self.page.wait_for_function(common.READY_TO_DRAW_JS, polling=100)

    async def switch_pages(self) -> None:
        t0 = time.perf_counter()
        await self.page.evaluate(common.MARK_CANVAS_OLD_JS)
        await self.page.locator('[data-testid="stSidebarNav"] a', has_text="Home").click()
        await self.to_draw()
        self.switches.append(time.perf_counter() - t0)

    async def clear(self) -> None:
        t0 = time.perf_counter()
        await self.page.evaluate(common.MARK_CANVAS_OLD_JS)
        await self.page.get_by_role("button", name="Clear").click()
        await self.ready()
        self.clears.append(time.perf_counter() - t0)

    async def draw_and_read(self, digit: int) -> float:
        """Draw ``digit``; seconds from mouse-up to the prediction visible."""
        page = self.page
        box = await page.locator(common.CANVAS).bounding_box()
        for stroke in common.digit_strokes(box, digit):
            await page.mouse.move(*stroke[0])
            await page.mouse.down()
            for point in stroke[1:]:
                await page.mouse.move(*point, steps=2)
            await page.mouse.up()
        up = time.perf_counter()
        prediction = page.locator(common.PREDICTION)
        await prediction.wait_for(state="visible")
        elapsed = time.perf_counter() - up
        self.digits.append((digit, (await prediction.inner_text()).split()[-1]))
        return elapsed

    async def run(self, rounds: int, deadline: float, start: asyncio.Event, warmed: asyncio.Barrier) -> None:
        try:
            await start.wait()
            await self.open()
            await self.draw_and_read(1)  # warm-up round, not counted
        except Exception as exc:
            self.errors.append(f"opening: {describe(exc)}")
            await warmed.wait()
            return
        await warmed.wait()  # every session warmed up before the measured rounds
        for r in range(rounds):
            if time.perf_counter() > deadline:
                break
            try:
                await self.clear()
                self.latencies.append(await self.draw_and_read(DIGITS[(r + self.index) % len(DIGITS)]))
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


async def load_test(server: common.Server, args) -> dict:
    from playwright.async_api import async_playwright

    rss: dict[str, float] = {"idle server": server.rss_mib()}
    samples: list[tuple[float, float]] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(**common.chromium_options())
        try:
            probe = Session(-1, browser, server.url, args.timeout * 1000)
            t0 = time.perf_counter()
            await probe.open()
            await probe.draw_and_read(1)
            await probe.close()
            print(f"(probe session: TensorFlow imported and the model loaded; Draw page and a first prediction "
                  f"in {time.perf_counter() - t0:.1f} s, not counted; probe console errors: {len(probe.errors)})",
                  flush=True)
            rss["after the probe's first prediction"] = server.rss_mib()

            sessions = [Session(i, browser, server.url, args.timeout * 1000) for i in range(args.sessions)]
            start, stop = asyncio.Event(), asyncio.Event()
            warmed = asyncio.Barrier(args.sessions + 1)
            sampler = asyncio.create_task(sample_rss(server, samples, stop))
            deadline = time.perf_counter() + args.time_limit
            tasks = [asyncio.create_task(s.run(args.rounds, deadline, start, warmed)) for s in sessions]
            t_open = time.perf_counter()
            start.set()
            await warmed.wait()
            rss[f"{args.sessions} sessions open, one prediction each"] = server.rss_mib()
            t_rounds = time.perf_counter()
            job = start_training(server, args) if args.training else None
            print(f"({args.sessions} sessions opened and warmed up in {t_rounds - t_open:.1f} s; "
                  f"measured rounds start)", flush=True)
            await asyncio.gather(*tasks)
            wall = time.perf_counter() - t_rounds
            rss["after all rounds"] = server.rss_mib()
            stop.set()
            await sampler
            for s in sessions:
                await s.close()
            await asyncio.sleep(2)  # sessions closed: let the server drop them
            rss["2 s after the sessions closed"] = server.rss_mib()
        finally:
            await browser.close()
    return {"sessions": sessions, "rss": rss, "samples": samples, "wall": wall, "probe_errors": probe.errors,
            "t_rounds": t_rounds, "job": job}


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


def rss_timeline(r: dict, points: int = 6) -> tuple[str, float]:
    """RSS against rounds done, at ``points`` moments of the measured period;
    and the growth over its second half (a leak keeps growing, a warm-up levels off)."""
    samples = [(t - r["t_rounds"], v) for t, v in r["samples"] if t >= r["t_rounds"]]
    done = sorted(t - r["t_rounds"] for s in r["sessions"] for t in s.done_at)
    if len(samples) < 2:
        return "too few samples", float("nan")
    end = samples[-1][0]
    cells = []
    for i in range(points):
        at = end * i / (points - 1)
        t, v = min(samples, key=lambda tv: abs(tv[0] - at))
        cells.append(f"{t:5.0f} s: {sum(1 for d in done if d <= t):3d} rounds, {v:.0f} MiB")
    half = min(samples, key=lambda tv: abs(tv[0] - end / 2))[1]
    return "\n".join("  " + c for c in cells), (samples[-1][1] - half) / half


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=8, help="concurrent browser sessions (default 8)")
    parser.add_argument("--rounds", type=int, default=10, help="measured rounds a session (default 10)")
    parser.add_argument("--time-limit", type=float, default=180, help="seconds for all rounds (default 180)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for any one step (default 60)")
    parser.add_argument("--training", action="store_true", help="a training job runs while the sessions draw")
    parser.add_argument("--training-preset", default="fast-cnn", help="the training job's preset (default fast-cnn)")
    parser.add_argument("--training-epochs", type=int, default=12, help="its epochs (default 12)")
    args = parser.parse_args(argv)
    common.header(f"load_draw: {args.sessions} concurrent sessions drawing on the Draw page",
                  f"0 errors; p95 mouse-up -> prediction < {GOAL_P95_S:g} s; "
                  f"server RSS growth after warm-up <= {GOAL_RSS_GROWTH:.0%}")

    with common.temp_dir("load") as lab:
        t = time.perf_counter()
        common.train_into(lab)
        print(f"(default model trained into the work folder in {time.perf_counter() - t:.1f} s; not timed)")
        with common.Server(lab) as server:
            print(f"(server pid {server.pid} healthy {server.wait_healthy():.2f} s after start, {server.url})",
                  flush=True)
            r = asyncio.run(load_test(server, args))
            overlap = training_overlap(r, lab) if r["job"] else ""

    sessions = r["sessions"]
    latencies = [x for s in sessions for x in s.latencies]
    errors = [f"session {s.index}: {e}" for s in sessions for e in s.errors] + \
             [f"probe: {e}" for e in r["probe_errors"]]
    reads = [d for s in sessions for d in s.digits]
    print()
    print(f"sessions {len(sessions)}, measured rounds {len(latencies)} (of {args.sessions * args.rounds} planned) "
          f"in {r['wall']:.1f} s, errors {len(errors)}")
    print(common.latency_line("mouse-up -> 'Prediction' visible", latencies))
    print(common.latency_line("click 'Clear' -> empty canvas ready (+300 ms settle)", [x for s in sessions for x in s.clears]))
    print(common.latency_line("page switch Home -> Draw canvas", [x for s in sessions for x in s.switches]))
    print("per session p50 / p95: " + ", ".join(
        f"{common.percentile(s.latencies, 50):.2f}/{common.percentile(s.latencies, 95):.2f}"
        for s in sessions if s.latencies))
    print("digits drawn -> read: " + ", ".join(
        f"{d} read as {d} {sum(1 for a, b in reads if a == d and b == str(d))}/{sum(1 for a, _ in reads if a == d)}"
        for d in DIGITS))
    for e in errors[:20]:
        print(f"  error: {e}")
    print("server RSS (MiB): " + "; ".join(f"{k} {v:.0f}" for k, v in r["rss"].items())
          + f"; max while measuring {max((v for _, v in r['samples']), default=float('nan')):.0f}")
    warm = r["rss"][f"{args.sessions} sessions open, one prediction each"]
    growth = (r["rss"]["after all rounds"] - warm) / warm
    timeline, second_half = rss_timeline(r)
    print(f"server RSS while measuring (time, rounds done, RSS):\n{timeline}")
    print(f"RSS growth over the measured rounds: {growth:+.1%}; over their second half: {second_half:+.1%}")
    if overlap:
        print(overlap)
    common.footer()
    p95 = common.percentile(latencies, 95)
    complete = len(latencies) == args.sessions * args.rounds
    ok = not errors and p95 < GOAL_P95_S and growth <= GOAL_RSS_GROWTH and complete
    common.verdict(ok, f"{len(sessions)} sessions{' during a training job' if args.training else ''}, "
                       f"{len(latencies)} rounds{'' if complete else ' (NOT all)'}, "
                       f"{len(errors)} errors, p50 {common.percentile(latencies, 50):.2f} s, p95 {p95:.2f} s "
                       f"(goal < {GOAL_P95_S:g}), RSS growth {growth:+.1%} (goal <= {GOAL_RSS_GROWTH:.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
