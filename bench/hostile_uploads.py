"""Hostile model uploads: what each costs the server, and what the visitor reads.

    python -m bench.hostile_uploads            # about a minute on 2 cores

Goal: every hostile upload refused with one plain line naming the file, the
process calling ``registry.import_model`` (standing in for the Streamlit
server) grows by < 300 MB, the checking child stays under its memory limit,
and each refusal comes within 60 s. Measured before this check: a 600-byte
``.keras`` declaring one huge Dense layer made Keras allocate 10 GB (47 s), a
1.5 MB zip bomb 3.7 GB, and an ``UpSampling2D`` model was accepted.

For each kind: the caller's peak RSS growth (``ru_maxrss`` of this process)
and RSS change,
the child's peak RSS (its VmHWM; about 0.7 GB of it is TensorFlow's shared
libraries when the child got as far as importing it), the wall time, and the
message. Then one good upload, scored end to end, for comparison. The hostile
files are built here by hand (config JSON, zip, HDF5 attributes), never by
building the model; ``tests/test_untrusted.py`` uses the same builders.
"""

from __future__ import annotations

import io
import json
import os
import resource
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from bench import common

HUGE_UNITS = 10_000_000  # one Dense layer: 7.8 billion parameters on a 784 input
BOMB_BYTES = 1600 * 2**20  # config.json inflates to 1.6 GB of spaces


def _input_layer(shape: tuple[int, ...]) -> dict:
    return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": "image",
            "config": {"batch_shape": [None, *shape], "dtype": "float32", "name": "image"}, "inbound_nodes": []}


def _dense(units: int, name: str) -> dict:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None, "name": name,
            "config": {"name": name, "units": units, "activation": "softmax", "use_bias": True}}


def sequential_config(*layers: dict, shape: tuple[int, ...] = (784,)) -> dict:
    """A Keras 3 Sequential config, as ``model.save`` writes it."""
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "sequential", "layers": [_input_layer(shape), *layers]}}


def keras_file(config: dict) -> bytes:
    """A ``.keras`` zip holding ``config`` and no weights."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1", "date_saved": "2026-11-25"}))
        z.writestr("config.json", json.dumps(config))
    return buffer.getvalue()


def huge_dense_keras() -> bytes:
    return keras_file(sequential_config(_dense(HUGE_UNITS, "dense")))


def huge_dense_h5(path: Path) -> bytes:
    """A legacy ``.h5`` whose ``model_config`` attribute declares the huge layer."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(sequential_config(_dense(HUGE_UNITS, "dense")))
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["backend"] = "tensorflow"
        f.create_group("model_weights")
    return path.read_bytes()


def tfsm_layer_keras() -> bytes:
    """A ``TFSMLayer``: a Keras layer that loads a SavedModel (and its code) by path."""
    layer = {"module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None, "name": "tfsm",
             "config": {"name": "tfsm", "filepath": "/tmp/evil_saved_model", "call_endpoint": "serve"}}
    return keras_file(sequential_config(layer, _dense(10, "probabilities")))


def zip_bomb(path: Path, size: int = BOMB_BYTES) -> bytes:
    """A ``.keras`` whose config.json inflates to ``size`` bytes of spaces,
    written streaming (a MiB at a time) so making it costs no memory."""
    chunk = b" " * 2**20
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("metadata.json", "{}")
        with z.open("config.json", "w", force_zip64=True) as f:
            for _ in range(size // len(chunk)):
                f.write(chunk)
    return path.read_bytes()


def saved_model(build: Callable, path: Path) -> bytes:
    """A real Keras model (small weights), saved: for layers that inflate activations."""
    build().save(path)
    return path.read_bytes()


def upsampling_model():
    """Valid and tiny (20 weights): each image upsampled 200x200 to 31 million numbers."""
    import keras

    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.UpSampling2D((200, 200)),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])


def wide_conv_model():
    """An allowed Conv2D with 50,000 filters: 39 million numbers an image."""
    import keras

    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(50_000, 1),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])


def hostile_files(folder: Path) -> dict[str, tuple[str, bytes]]:
    """Kind -> (file name, bytes), each one kind of hostile upload."""
    return {
        "huge Dense (.keras)": ("huge.keras", huge_dense_keras()),
        "huge Dense (.h5)": ("huge.h5", huge_dense_h5(folder / "huge.h5")),
        "zip bomb config.json": ("bomb.keras", zip_bomb(folder / "bomb.keras")),
        "UpSampling2D 200x200": ("upsample.keras", saved_model(upsampling_model, folder / "upsample.keras")),
        "Conv2D 50,000 filters": ("wide.h5", saved_model(wide_conv_model, folder / "wide.h5")),
        "TFSMLayer": ("tfsm.keras", tfsm_layer_keras()),
    }


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def attempt(data: bytes, filename: str, root: Path) -> dict:
    """One ``import_model`` call: outcome, message and costs."""
    from model.lab import sandbox
    from model.lab.registry import import_model
    from model.serving.contract import InvalidModelError

    before, rss_before = maxrss_mib(), common.rss_mib(os.getpid())
    sandbox.last_cost = None
    started = time.perf_counter()
    try:
        meta = import_model(data, filename, 100 * 2**20, root=root)
        message, refused = f"accepted, test accuracy {meta['metrics']['test_accuracy']:.4f}", False
    except InvalidModelError as exc:
        message, refused = str(exc), True
    seconds = time.perf_counter() - started
    child = sandbox.last_cost[0] / 2**20 if sandbox.last_cost else 0.0
    return {"refused": refused, "message": message, "seconds": seconds, "growth": maxrss_mib() - before,
            "rss": common.rss_mib(os.getpid()) - rss_before, "child": child, "bytes": len(data)}


def main(argv=None) -> int:
    common.header("hostile_uploads: refused within bounded memory and time",
                  "each refused in one line naming the file; caller grows < 300 MB; < 60 s each")
    from model.lab import sandbox
    from model.logs import quiet_tensorflow

    quiet_tensorflow()
    import keras  # the server has TensorFlow loaded: so does the caller here

    rows, results = [], {}
    with common.temp_dir("hostile") as tmp:
        files = hostile_files(tmp)
        print(f"caller before: peak RSS {maxrss_mib():.0f} MiB (TensorFlow imported); "
              f"child limits: {sandbox.MEMORY_LIMIT / 2**20:.0f} MiB data, {sandbox.TIME_LIMIT:.0f} s", flush=True)
        for kind, (filename, data) in files.items():
            r = results[kind] = attempt(data, filename, tmp / "lab")
            rows.append([kind, f"{r['bytes']:,}", f"{r['growth']:.0f}", f"{r['rss']:+.0f}", f"{r['child']:.0f}",
                         f"{r['seconds']:.1f}"])
            print(f"{kind}: {r['message']}", flush=True)
        good = tmp / "good.keras"
        keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3), keras.layers.MaxPooling2D(),
                          keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]).save(good)
        r = attempt(good.read_bytes(), "good.keras", tmp / "lab")
        rows.append(["good small CNN", f"{r['bytes']:,}", f"{r['growth']:.0f}", f"{r['rss']:+.0f}",
                     f"{r['child']:.0f}", f"{r['seconds']:.1f}"])
        print(f"good small CNN: {r['message']}", flush=True)
    print()
    print(common.table(["upload", "file bytes", "caller peak growth MiB", "caller RSS change MiB",
                        "child peak RSS MiB", "wall s"], rows))
    common.footer()
    ok = (all(r["refused"] and "\n" not in r["message"] and files[k][0] in r["message"] and r["growth"] < 300
              and r["seconds"] < 60 for k, r in results.items()) and not r["refused"])
    worst = max(results.values(), key=lambda x: x["seconds"])
    common.verdict(ok, f"{len(results)} hostile kinds refused, caller growth <= "
                       f"{max(x['growth'] for x in results.values()):.0f} MiB, child peak <= "
                       f"{max(x['child'] for x in results.values()):.0f} MiB, slowest {worst['seconds']:.1f} s; "
                       f"a good upload scored in {r['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
