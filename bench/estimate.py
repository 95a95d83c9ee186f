"""The Train page's time estimate against the wait it announces (issue 26).

    python -m bench.estimate                    # classic 1, 3, 10 epochs and fast-cnn, trained; strong-cnn estimated
    python -m bench.estimate --train strong-cnn # also train strong-cnn (about 6 minutes on 2 cores)
    python -m bench.estimate classic:1 fast-cnn # only these (PRESET or PRESET:EPOCHS)

Each configuration is trained as the Train button trains it: a background job
(``model.lab.jobs``, its own process: Python, TensorFlow's import, MNIST from
the cache, build, fit, scoring the test set, saving), in a fresh work folder,
one after the other. "shown" is what the Train page said just before the
click (``model.lab.models.estimate_wait``, calibrated by the jobs finished so
far in that folder: the first one has only the built-in constants);
"measured" is the wait from the click (``submit_training``) to the job's
result, polled every 0.1 s; "leave one out" is the estimate calibrated on all
the other finished jobs, what a machine with a history shows. A second click
on kept settings must come back at once ("already trained: instant").

A network unlike every run kept so far has its pace probed first, as the
Train page does (``model.lab.pace``: a few real steps in a process of its own;
"basis" says "probe", and "probe" how long the probe took), else its estimate
would be a first guess from another network's pace.

Goal (VERDICT): every estimate the page shows within a factor of 1.5 of the
measured wait: each "shown" (from kept runs like it, or from its probe), each
"leave one out"; and the kept settings' wait under a second.
"""

from __future__ import annotations

import argparse
import os
import time

from bench import common
from model.training.config import preset_config

GOAL = 1.5
TRAINED = ["classic:1", "classic:3", "classic:10", "fast-cnn", "fast-cnn:4"]
ESTIMATED = ["strong-cnn"]


def label(name: str) -> str:
    preset, _, epochs = name.partition(":")
    return f"{preset} {epochs} epoch{'s' if epochs != '1' else ''}" if epochs else preset


def wait_for(job_id: int, root) -> float:
    from model.lab import jobs

    while True:
        job = jobs.get(job_id, root)
        if not job.active:
            if job.status != "done":
                raise RuntimeError(f"job {job_id}: {job.status}: {job.message}")
            return time.perf_counter()
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"what to train (PRESET or PRESET:EPOCHS); default {TRAINED}")
    parser.add_argument("--train", nargs="*", default=[], help="more presets to train (e.g. strong-cnn)")
    args = parser.parse_args()
    base = args.names or TRAINED
    trained = base + [n for n in args.train if n not in base]
    estimated = [n for n in ESTIMATED if n not in trained]
    common.header("Training-time estimate against the measured wait (bench.estimate)",
                  f"every estimate within a factor of {GOAL} of the wait from the Train button to the result")
    with common.temp_dir("estimate") as root:
        os.environ["MNIST_LAB_DIR"] = str(root)
        os.environ.pop("MNIST_LAB_DEMO", None)
        os.environ["MNIST_LAB_PROBE"] = "1"
        from model.lab import jobs, models, pace, store
        from model.lab.limits import LOCAL
        from model.training.estimate import (
            BUILD_S,
            expected_wait,
            pace_key,
            steps_per_epoch,
        )

        def shown_estimate(config) -> tuple[float, str, float]:
            """What the Train page shows, once its probe (if it needs one) is in."""
            started = time.perf_counter()
            if models.training_estimate(config, root)[1] == "guess" and pace.measure(config, root):
                while pace.busy(root):
                    time.sleep(0.1)
            probed = time.perf_counter() - started
            return *models.training_estimate(config, root), probed

        jobs.ensure_runner(root, workers=1)
        rows, done = [], []
        for name in trained:
            config = preset_config(name)
            shown, basis, probed = shown_estimate(config)
            started = time.perf_counter()
            job = jobs.submit_training(config, make_current=False, limits=LOCAL, root=root)
            measured = wait_for(job.id, root) - started
            finished = jobs.get(job.id, root)
            again = time.perf_counter()
            models.estimate_wait(config, root)
            reused = jobs.submit_training(config, make_current=False, limits=LOCAL, root=root)
            instant = wait_for(reused.id, root) - again
            train_s = float(finished.result["train_seconds"])
            done.append((name, config, shown, basis, probed, measured, train_s, instant))
            print(f"{label(name)}: shown {shown:.1f} s ({basis}), measured {measured:.1f} s (training {train_s:.1f} s), "
                  f"again {instant:.2f} s; {common.load_short()}", flush=True)
        runs = store.list_runs(root)
        timings = models.job_timings(root)
        probes = pace.probes(root)
        judged = []  # (what, ratio)
        for name, config, shown, basis, probed, measured, train_s, instant in done:
            if basis != "guess":
                judged.append((f"{label(name)} shown", shown / measured))
            others_runs = [m for m in runs if m["key"] != config.key()]
            others_jobs = [t for t in timings if t[0].key() != config.key()]
            loo = expected_wait(config, others_runs, others_jobs, probes=probes)
            ratio = shown / measured
            judged.append((f"{label(name)} leave one out", loo / measured))
            step = probes.get(pace_key(config))  # a training's step against its probe's (PROBE_FACTOR)
            per_probe = (f"{max(0.1 * train_s, train_s - BUILD_S) / (config.epochs * steps_per_epoch(config) * step):.2f}"
                         if step else "")
            rows.append([label(name), f"{shown:.1f} s", basis, f"{probed:.1f} s" if basis == "probe" else "",
                         f"{measured:.1f} s", f"{train_s:.1f} s",
                         f"{measured - train_s:.1f} s", f"{ratio:.2f}", f"{loo:.1f} s", f"{loo / measured:.2f}",
                         f"{instant:.2f} s", per_probe])
        for name in estimated:
            shown, basis, probed = shown_estimate(preset_config(name))
            rows.append([label(name) + " (estimated only)", f"{shown:.1f} s", basis,
                         f"{probed:.1f} s" if basis == "probe" else "", "", "", "", "", "", "", "", ""])
        print()
        print(common.table(["configuration", "shown", "basis", "probe", "measured", "training", "the rest",
                            "shown/measured",
                            "leave one out", "loo/measured", "again (kept)", "step/probe"], rows))
        print()
        common.footer()
        worst_what, worst = max(((w, max(r, 1 / r)) for w, r in judged), key=lambda x: x[1])
        guesses = [label(d[0]) for d in done if d[3] == "guess"]
        instants = max(d[7] for d in done)
        common.verdict(worst <= GOAL and instants < 1.0 and not guesses,
                       f"every estimate shown (from kept runs or a probe) within a factor of {worst:.2f} of the "
                       f"measured wait (worst: {worst_what}; goal {GOAL}); first guesses: {guesses or 'none'}; "
                       f"kept settings came back in at most {instants:.2f} s (goal < 1 s)")


if __name__ == "__main__":
    main()
