"""Untrusted model files: every hostile kind refused in one line naming the
file, by the static checks (the sandbox's child replies the refusal itself,
neither killed at its time limit nor out of memory) within bounded memory;
the lab's own models pass; an upload is scored end to end in the sandbox, one
that needs more memory than the sandbox allows is stopped by that limit, and
one that never finishes by itself by the time limit. No test reads a clock:
why the child ended is read from its ending (``sandbox.last_ending``);
timings are the benchmarks' (bench/hostile_uploads.py)."""

from __future__ import annotations

import os
import resource
import signal
import threading

import keras
import pytest
from conftest import tiny_model

from bench import hostile_uploads as hostile
from model.lab import sandbox, store
from model.lab.limits import LOCAL
from model.lab.registry import import_model
from model.serving.contract import InvalidModelError
from model.serving.untrusted import MAX_ACTIVATION, MAX_PARAMETERS, check_file
from model.training.architectures import build_model, with_keras_layers
from model.training.config import PRESETS

GROWTH_LIMIT_MIB = 300
HANG_GUARD_S = 300  # only against a hang: no test asserts how long the sandbox took


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """A .keras whose config.json inflates to 1.6 GB (7 MB on disk), made once."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.keras"
    return hostile.zip_bomb(path)


def refused(data: bytes, filename: str, match: str) -> str:
    """Upload ``data`` as ``filename``: refused with one line naming it, the
    test process's peak RSS growing < 300 MiB, the child's under its limit;
    the refusal the child's own reply (the static checks'), the child exiting
    by itself: neither killed at its time limit nor stopped by its memory limit."""
    sandbox.last_ending = None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with pytest.raises(InvalidModelError, match=match) as info:
        import_model(data, filename, LOCAL.max_upload_bytes)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    message = str(info.value)
    assert "\n" not in message and filename in message and ".upload." not in message
    assert growth < GROWTH_LIMIT_MIB, f"the test process grew by {growth:.0f} MiB"
    ending = sandbox.last_ending
    assert ending is not None and ending.peak_rss < sandbox.MEMORY_LIMIT
    assert not ending.timed_out and ending.exit_code == 0, ending  # it ended by itself, not by a limit
    assert ending.error == "InvalidModelError", ending  # refused by the checks, not out of memory
    return message


# --- hostile uploads, one test per kind ------------------------------------------------

def test_huge_dense_layer_keras(lab_dir):
    message = refused(hostile.huge_dense_keras(), "digits.keras", "declares 7,850,000,000 parameters")
    assert f"{MAX_PARAMETERS:,}" in message


def test_huge_dense_layer_legacy_h5(lab_dir, tmp_path):
    refused(hostile.huge_dense_h5(tmp_path / "x.h5"), "digits.h5", "the layer dense declares 7,850,000,000")


def test_zip_member_that_inflates_to_gigabytes(lab_dir, bomb):
    refused(bomb, "bomb.keras", "config.json unpacks to 1,677,721,600 bytes")


def test_upsampling_inflates_activations(lab_dir, tmp_path):
    data = hostile.saved_model(hostile.upsampling_model, tmp_path / "m.keras")
    refused(data, "up.keras", f"31,360,000 numbers for each image .*limit is {MAX_ACTIVATION:,}")


def test_allowed_conv_with_huge_filters_inflates_activations(lab_dir, tmp_path):
    data = hostile.saved_model(hostile.wide_conv_model, tmp_path / "m.h5")
    refused(data, "wide.h5", r"conv2d(_\d+)? outputs 39,200,000 numbers")


def test_dense_with_huge_units_inflates_activations(lab_dir):
    config = hostile.sequential_config(hostile._dense(1, "narrow"), hostile._dense(5_000_000, "wide"),
                                       hostile._dense(10, "probabilities"))  # 15 million parameters: allowed
    refused(hostile.keras_file(config), "units.keras", "wide outputs 5,000,000 numbers")


def test_tfsm_layer_is_refused(lab_dir):
    refused(hostile.tfsm_layer_keras(), "tfsm.keras", "TFSMLayer, which is not one a digit classifier needs")


def test_empty_and_foreign_files_in_plain_words(lab_dir):
    with pytest.raises(InvalidModelError, match="^empty.h5 is empty$"):
        import_model(b"", "empty.h5", LOCAL.max_upload_bytes)
    message = refused(b"this is not a model", "notes.h5", "notes.h5 is not a Keras model file")
    assert "signature" not in message
    refused(b"PK\x03\x04 not really a zip", "notes.keras", "notes.keras is not a Keras model file")


# --- the lab's own models pass --------------------------------------------------------

@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_every_preset_passes_the_static_checks(tmp_path, preset, suffix):
    model = with_keras_layers(build_model(PRESETS[preset]))
    path = tmp_path / f"{preset}{suffix}"
    model.save(path)
    summary = check_file(path)
    assert summary.parameters == model.count_params()


@pytest.mark.parametrize("shape", [(784,), (28, 28), (28, 28, 1)])
def test_tiny_models_pass_the_static_checks(tmp_path, shape):
    for suffix in (".keras", ".h5"):
        tiny_model(inputs=shape).save(tmp_path / f"m{suffix}")
        assert check_file(tmp_path / f"m{suffix}").input_shape == shape


def test_the_labs_saved_runs_pass_the_static_checks(default_run):
    root = default_run.path.parent
    paths = [default_run.path, *root.glob("models/*/model.h5"), *root.glob("models/*/model.keras")]
    assert len(paths) >= 3
    for path in paths:
        assert check_file(path).parameters == default_run.model.count_params()


# --- the sandbox ----------------------------------------------------------------------

def test_good_upload_is_scored_end_to_end_in_the_sandbox(lab_dir, tmp_path):
    path = tmp_path / "small.keras"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3), keras.layers.MaxPooling2D(),
                      keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]).save(path)
    meta = import_model(path.read_bytes(), "small.keras", LOCAL.max_upload_bytes, owner="session-1")
    assert meta["owner"] == "session-1"
    assert 0 <= meta["metrics"]["test_accuracy"] <= 1 and meta["metrics"]["test_loss"] > 0
    assert store.load_run_meta(meta["key"]) == meta
    assert (lab_dir / "models" / meta["key"] / "model.keras").is_file()
    other = import_model(path.read_bytes(), "small.keras", LOCAL.max_upload_bytes, owner="session-2")
    assert other["key"] != meta["key"] and other["owner"] == "session-2"


def test_model_that_needs_more_memory_than_the_limit_is_stopped(lab_dir, tmp_path):
    """Within the static bounds (16 million parameters), but not within a
    deliberately low limit: stopped by that limit (the child's allocation
    failed: it replied MemoryError, or TensorFlow's C++ died of it), not by
    the time limit, and reported in one line."""
    path = tmp_path / "big.keras"
    keras.Sequential([keras.Input((784,)), keras.layers.Dense(20_000),
                      keras.layers.Dense(10, activation="softmax")]).save(path)
    sandbox.last_ending = None
    with pytest.raises(InvalidModelError, match="^big.keras needs more memory than the 500 MiB") as info:
        import_model(path.read_bytes(), "big.keras", 10**9, memory_limit=500 * 2**20)
    assert "\n" not in str(info.value)
    ending = sandbox.last_ending
    assert ending is not None and not ending.timed_out, ending
    assert ending.error == "MemoryError" or ending.signal in (signal.SIGSEGV, signal.SIGABRT), ending


def test_a_child_over_its_time_is_killed(lab_dir, tmp_path, monkeypatch):
    """A child that cannot finish by itself (held before its work,
    ``sandbox.hold_in``) is killed at its time limit, on any machine: the
    upload is refused in one line, the child ended by the parent's SIGKILL,
    and nothing of the upload is kept."""
    path = tmp_path / "slow.keras"
    tiny_model().save(path)
    hold = tmp_path / "hold"
    hold.mkdir()
    monkeypatch.setattr(sandbox, "hold_in", hold)
    sandbox.last_ending = None
    outcome: list[BaseException | None] = []

    def upload() -> None:
        try:
            import_model(path.read_bytes(), "slow.keras", LOCAL.max_upload_bytes, time_limit=1.0)
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)

    uploading = threading.Thread(target=upload)
    uploading.start()
    uploading.join(HANG_GUARD_S)  # a guard: without the kill the child waits for ever
    try:
        assert not uploading.is_alive(), "the child was not stopped at its time limit"
    finally:
        (hold / "release").touch()  # let a child that was not killed go on and end
        uploading.join()
    assert isinstance(outcome[0], InvalidModelError), outcome
    assert str(outcome[0]).startswith("slow.keras: checking it took longer than 1 s, the limit; it was stopped")
    ending = sandbox.last_ending
    assert ending is not None and ending.timed_out and ending.signal == signal.SIGKILL, ending
    for held in hold.glob("held-*"):  # the child that held there is gone
        assert not os.path.exists(f"/proc/{held.name.removeprefix('held-')}"), held
    assert not list((lab_dir / "models").glob("upload-*"))
