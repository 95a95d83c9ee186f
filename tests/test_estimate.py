"""The training-time estimate (model.training.estimate) and the Train page's use of it:
the expected time shown before training, a confirmation above ten minutes,
and settings out of range refused in words instead of silently replaced."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest
from test_pages import open_page, texts

from model.training.config import PRESETS, TrainConfig
from model.training.estimate import (
    BUILD_S,
    CONFIRM_S,
    INSTANT_S,
    LIKE_SIZE,
    PROBE_FACTOR,
    STARTUP_S,
    estimate_basis,
    expected_seconds,
    expected_wait,
    first_of_its_size,
    human,
    machine_factor,
    multiply_adds,
    pace_key,
    predicted_seconds,
    probe_factor,
    scoring_seconds,
    startup_seconds,
    steps_per_epoch,
    time_left,
)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_multiply_adds_match_an_independent_count_from_the_built_model(name):
    """The reference: model.serving.untrusted walks the saved Keras config layer by layer."""
    from model.serving.untrusted import check_sizes
    from model.training.architectures import build_model, with_keras_layers

    config = PRESETS[name]
    keras_config = json.loads(with_keras_layers(build_model(config)).to_json())
    assert multiply_adds(config) == check_sizes(keras_config, name).macs


def measured_days() -> dict[str, list[tuple[TrainConfig, float]]]:
    """Training times measured by bench.presets on 2 cores of an Intel Xeon with native bfloat16
    (bench/RESULTS.md), day by day: the shared machine's speed changes from one day to the next
    (the classic MLP: 3.5 s, then 5.7 s). Their recipes are spelled out as they were that day."""
    fast = dataclasses.replace(PRESETS["fast-cnn"], precision="float32", epochs=4, hidden_units=(),
                               label_smoothing=0.0, batch_size=128, learning_rate=0.005)
    strong = dataclasses.replace(PRESETS["strong-cnn"], precision="float32", stroke_augment=0.0, epochs=10)
    bf16_fast = dataclasses.replace(fast, precision="bfloat16", epochs=3, batch_size=256, learning_rate=0.008)
    bf16_strong = dataclasses.replace(strong, precision="bfloat16", stroke_augment=0.5)
    return {"2026-11-25": [(PRESETS["classic"], 3.5), (fast, 23.3), (strong, 380.0), (bf16_fast, 7.7),
                           (dataclasses.replace(bf16_strong, epochs=16), 322.0),
                           (dataclasses.replace(bf16_strong, epochs=20), 406.0)],
            "2026-12-01": [(PRESETS["classic"], 5.7), (PRESETS["small-cnn"], 47.0),
                           (dataclasses.replace(PRESETS["fast-cnn"], precision="bfloat16"), 9.0),
                           (dataclasses.replace(bf16_strong, epochs=16), 366.0)]}


@pytest.mark.parametrize("day", sorted(measured_days()))
def test_the_presets_measured_times_are_predicted_within_a_third(day, monkeypatch):
    """As the Train page predicts them: the model's time, corrected by that
    day's runs (``machine_factor``, the median of measured / predicted). The
    times are a machine with native bfloat16's, on whichever machine this runs."""
    monkeypatch.setenv("MNIST_LAB_BFLOAT16", "1")
    measured = measured_days()[day]
    runs = [{"config": config.to_dict(), "train_seconds": seconds} for config, seconds in measured]
    factor = machine_factor(runs)
    for config, seconds in measured:
        assert abs(predicted_seconds(config) * factor / seconds - 1) < 1 / 3, config.describe()


@pytest.mark.parametrize("switch", ["0", "1"])
def test_auto_precision_is_estimated_as_this_machine_computes_it(switch, monkeypatch):
    """A preset in "auto" precision is bfloat16's time where the CPU has it, float32's elsewhere;
    a run kept from another machine counts with the precision it computed in (its meta)."""
    monkeypatch.setenv("MNIST_LAB_BFLOAT16", switch)
    auto = PRESETS["strong-cnn"]
    f32, bf16 = (dataclasses.replace(auto, precision=p) for p in ("float32", "bfloat16"))
    assert predicted_seconds(auto) == predicted_seconds(bf16 if switch == "1" else f32)
    assert predicted_seconds(bf16) < predicted_seconds(f32) if switch == "1" else \
        predicted_seconds(bf16) == predicted_seconds(f32)  # emulated bfloat16 is not assumed faster
    ran_in_f32 = {"config": auto.to_dict(), "train_seconds": predicted_seconds(f32), "computed_in": "float32"}
    assert machine_factor([ran_in_f32]) == pytest.approx(1.0)


def test_kept_runs_correct_the_estimate_for_this_machine():
    config = TrainConfig(epochs=2)
    slow = [{"key": "x", "config": c.to_dict(), "train_seconds": 3 * predicted_seconds(c)}
            for c in (TrainConfig(), PRESETS["fast-cnn"])]
    assert machine_factor(slow) == pytest.approx(3)
    assert expected_seconds(config, slow) == pytest.approx(3 * predicted_seconds(config))
    assert machine_factor([{"config": None}, {"key": "upload"}]) == 1.0  # uploads carry no config
    kept = [{"key": config.key(), "config": config.to_dict(), "train_seconds": 1.5}]
    assert expected_seconds(config, kept) == 1.5  # trained before: reused at once


def test_a_cnn_is_estimated_from_the_cnns_kept_here_when_there_are_any():
    mlp, cnn = TrainConfig(epochs=1), PRESETS["fast-cnn"]
    runs = [{"config": mlp.to_dict(), "train_seconds": 1.2 * predicted_seconds(mlp)},
            {"config": TrainConfig(epochs=2).to_dict(), "train_seconds": 1.2 * 2 * predicted_seconds(mlp)}]
    assert expected_seconds(cnn, runs) == pytest.approx(1.2 * predicted_seconds(cnn))  # no CNN yet: all runs
    small = dataclasses.replace(cnn, epochs=1)
    runs.append({"config": small.to_dict(), "train_seconds": 3.5 * predicted_seconds(small)})
    assert expected_seconds(cnn, runs) == pytest.approx(3.5 * predicted_seconds(cnn))  # the CNN's pace
    assert expected_seconds(TrainConfig(epochs=3), runs) == pytest.approx(1.2 * predicted_seconds(TrainConfig()))


def test_an_estimate_without_a_kept_network_of_its_size_says_it_is_a_first_guess():
    mlp, fast, strong = TrainConfig(), PRESETS["fast-cnn"], PRESETS["strong-cnn"]
    assert first_of_its_size(fast, []) and first_of_its_size(mlp, [{"config": None}])  # nothing kept (an upload)
    runs = [{"config": mlp.to_dict(), "train_seconds": 4.0}]
    assert not first_of_its_size(dataclasses.replace(mlp, epochs=10, batch_size=64), runs)  # another MLP that size
    assert first_of_its_size(fast, runs)  # the first CNN after only MLPs (bench/RESULTS.md: 2.1x off)
    runs.append({"config": fast.to_dict(), "train_seconds": 60.0})
    assert not first_of_its_size(dataclasses.replace(fast, epochs=2), runs)
    assert multiply_adds(strong) > LIKE_SIZE * multiply_adds(fast)
    assert first_of_its_size(strong, runs)  # strong-cnn from fast-cnn's pace (2.2x off)


def test_the_shipped_starter_never_sets_this_machines_pace():
    """Its train_seconds were measured on the machine that rebuilt it: kept
    here, it neither makes an estimate "history" nor moves the machine's factor."""
    from model.lab import starter

    fast, mlp = PRESETS["fast-cnn"], TrainConfig()
    shipped = {**starter.shipped_meta(), "train_seconds": 1e4}  # as if that machine were very slow
    assert shipped["shipped"] is True
    assert first_of_its_size(dataclasses.replace(fast, epochs=3), [shipped])
    assert estimate_basis(dataclasses.replace(fast, epochs=3), [shipped]) == "guess"
    mine = {"config": mlp.to_dict(), "train_seconds": 2.0 * predicted_seconds(mlp)}
    assert machine_factor([shipped, mine]) == machine_factor([mine]) == pytest.approx(2.0)
    assert expected_seconds(starter.recipe(), [shipped]) == 1e4  # the very run: reused at once, as any kept one


def test_the_train_page_says_when_its_estimate_is_a_first_guess(lab_with_model):
    guess = "It is a first guess: no network of this kind and size was trained on this machine yet"
    at = open_page("train")
    number(at, "Epochs").set_value(2).run()  # the kept classic run (3 epochs) sets the pace
    assert "expected wait on this machine" in texts(at) and guess not in texts(at)
    at.selectbox(key="preset").set_value("strong-cnn").run()  # no CNN kept here
    assert guess in texts(at)


# --- a network unlike every kept run: its pace probed (model.training.probe, model.lab.pace) ---


def test_a_probed_network_is_estimated_from_its_own_steps_not_another_networks_pace():
    fast, strong = PRESETS["fast-cnn"], PRESETS["strong-cnn"]
    runs = [{"key": fast.key(), "config": fast.to_dict(), "train_seconds": 4.5 * predicted_seconds(fast)}]
    assert estimate_basis(strong, runs) == "guess"
    step = 0.15  # seconds a step of strong-cnn, as a probe measured it
    probes = {pace_key(strong): step}
    assert estimate_basis(strong, runs, probes) == "probe" and estimate_basis(fast, runs, probes) == "history"
    steps = strong.epochs * steps_per_epoch(strong)
    factor = step * PROBE_FACTOR / (predicted_seconds(strong) / steps)
    assert expected_wait(strong, runs, probes=probes) == pytest.approx(
        BUILD_S + steps * step * PROBE_FACTOR + scoring_seconds(strong, factor) + STARTUP_S)
    # The probe's key is the step's cost: epochs, seed and rate do not change it; the batch does.
    assert pace_key(dataclasses.replace(strong, epochs=3, seed=7, learning_rate=0.01)) == pace_key(strong)
    assert pace_key(dataclasses.replace(strong, batch_size=256)) != pace_key(strong)


def test_how_much_longer_a_training_step_is_than_its_probe_is_learned_from_probed_kept_runs():
    fast = PRESETS["fast-cnn"]
    steps = fast.epochs * steps_per_epoch(fast)
    assert probe_factor([], {}) == PROBE_FACTOR
    run = {"config": fast.to_dict(), "train_seconds": BUILD_S + steps * 0.02 * 1.7}
    assert probe_factor([run], {pace_key(fast): 0.02}) == pytest.approx(1.7)
    assert probe_factor([run], {}) == PROBE_FACTOR  # a kept run never probed says nothing
    mlp = TrainConfig()
    mlp_run = {"config": mlp.to_dict(), "train_seconds": BUILD_S + mlp.epochs * steps_per_epoch(mlp) * 0.001 * 0.7}
    probes = {pace_key(fast): 0.02, pace_key(mlp): 0.001}
    assert probe_factor([run, mlp_run], probes, "cnn") == pytest.approx(1.7)  # a CNN's from the CNNs
    assert probe_factor([mlp_run], probes, "cnn") == pytest.approx(0.7)  # none: from every probed run


def test_a_probe_times_real_steps_of_the_network_in_a_process_of_its_own(lab_dir, monkeypatch):
    from model.lab import pace
    from model.training.probe import probe_steps

    classic = TrainConfig()
    assert 3 <= probe_steps(PRESETS["strong-cnn"]) < probe_steps(PRESETS["fast-cnn"]) < probe_steps(classic) <= 200
    assert not pace.measure(classic)  # MNIST_LAB_PROBE=0 (the tests' lab_dir): off
    monkeypatch.setenv("MNIST_LAB_PROBE", "1")
    assert pace.measure(classic) and pace.busy()
    assert pace.measure(PRESETS["fast-cnn"])  # one probe at a time: the next waits for its turn
    probes = [t for t in threading.enumerate() if t.name.startswith("probe-")]
    assert [t.name for t in probes] == [f"probe-{pace_key(classic)}"]
    probes[0].join(timeout=120)
    step = pace.probes()[pace_key(classic)]
    assert 1e-5 < step < 0.1  # a 784-128-128-10 step of 32 images: about a millisecond
    assert not pace.busy() and not pace.measure(classic)  # measured once, kept in pace.json
    assert json.loads((lab_dir / pace.PACE_FILE).read_text()) == {pace_key(classic): step}


def test_a_failed_probe_leaves_the_estimate_a_guess_and_is_not_tried_again(lab_dir, monkeypatch):
    from model.lab import pace

    calls = []

    def broken(config):
        calls.append(config)
        raise ValueError("out of memory")

    monkeypatch.setenv("MNIST_LAB_PROBE", "1")
    monkeypatch.setattr(pace, "run_probe", broken)
    (lab_dir / pace.PACE_FILE).write_text("{not json")  # a damaged file reads as no probes
    assert pace.probes() == {}
    ended = []
    assert pace.measure(TrainConfig(epochs=1), then=ended.append)
    for thread in [t for t in threading.enumerate() if t.name.startswith("probe-")]:
        thread.join(timeout=10)
    assert not pace.measure(TrainConfig(epochs=1)) and len(calls) == 1
    assert ended == [lab_dir.resolve()]  # what waited for the probe runs, failed or not


def test_no_probe_starts_while_a_job_trains(lab_dir, monkeypatch):
    """Beside a training a probe would take memory the demo may not have, and CPU."""
    from model.lab import jobs, pace
    from model.lab.limits import LOCAL

    monkeypatch.setenv("MNIST_LAB_PROBE", "1")
    monkeypatch.setattr(pace, "run_probe", lambda config: 0.001)
    job = jobs.submit_training(TrainConfig(epochs=1), limits=LOCAL)
    assert jobs.Runner(lab_dir, workers=1)._claim() == job.id  # running now
    assert not pace.measure(TrainConfig()) and not pace.busy()
    jobs._finish(job.id, lab_dir, "done", "done")
    assert pace.measure(TrainConfig())  # the machine is free again: its turn
    for thread in [t for t in threading.enumerate() if t.name.startswith("probe-")]:
        thread.join(timeout=10)
    assert pace.probes() == {pace_key(TrainConfig()): 0.001}


def test_the_train_page_measures_a_new_networks_pace_then_says_its_estimate_was_measured(lab_dir, monkeypatch):
    """The probe is held until the test lets it go: the page says it is measuring,
    then, rerun, gives the measured estimate instead of a first guess."""
    from model.lab import pace

    release = threading.Event()

    def held(config):
        release.wait(30)
        return 0.15

    monkeypatch.setattr(pace, "run_probe", held)
    at = open_page("train")
    monkeypatch.setenv("MNIST_LAB_PROBE", "1")  # (not the classic preset the page opened on)
    at.selectbox(key="preset").set_value("strong-cnn").run()
    assert "Measuring this network's pace on this machine" in texts(at)
    assert "It is a first guess" in texts(at)
    release.set()
    for thread in [t for t in threading.enumerate() if t.name.startswith("probe-")]:
        thread.join(timeout=10)
    at.run()
    strong = PRESETS["strong-cnn"]
    expected = expected_wait(strong, probes={pace_key(strong): 0.15})
    assert "Timed from a few of this network's steps, measured here." in texts(at)
    assert f"expected wait on this machine: {human(expected)}" in texts(at)
    assert "It is a first guess" not in texts(at) and "Measuring" not in texts(at)


def test_early_stopped_runs_do_not_count_as_the_speed_of_the_machine():
    config = TrainConfig(epochs=10, validation_split=0.1, early_stopping=1)
    stopped = {"config": config.to_dict(), "train_seconds": 1.0, "epochs_run": 2}
    assert machine_factor([stopped]) == 1.0


def test_human_durations():
    assert [human(s) for s in (0.2, 42, 240, 3 * 3600)] == ["about 1 s", "about 42 s", "about 4 minutes",
                                                            "about 3.0 hours"]


def number(at, label: str):
    return [n for n in at.number_input if n.label == label][0]


def test_the_train_page_shows_the_expected_time(lab_dir):
    at = open_page("train")
    wait = expected_wait(TrainConfig())  # about 4 s of steps, 2 s to build, 7.5 s of start-up, scoring and saving
    assert wait == pytest.approx(predicted_seconds(TrainConfig()) + BUILD_S + STARTUP_S, abs=0.1)
    assert f"expected wait on this machine: {human(wait)}, from the click to the result" in texts(at)


def test_a_value_out_of_range_is_refused_in_words_not_replaced(lab_dir):
    at = open_page("train")
    number(at, "Epochs").set_value(100_000).run()
    assert "epochs must be 1 to 200, got 100000" in at.error[0].value
    assert not [b for b in at.button if b.key == "train"]  # nothing to train until it is fixed
    number(at, "Epochs").set_value(3).run()
    number(at, "Batch size").set_value(0).run()
    assert "batch size must be 1 to 60000, got 0" in at.error[0].value


def test_a_training_of_hours_asks_first(lab_dir):
    at = open_page("train")
    number(at, "Batch size").set_value(1).run()
    number(at, "Epochs").set_value(200).run()
    assert expected_seconds(dataclasses.replace(TrainConfig(), batch_size=1, epochs=200)) > CONFIRM_S
    assert "about 82 minutes" in texts(at)
    assert at.button(key="train").disabled
    at.checkbox(key="confirm_long").check().run()
    assert not at.button(key="train").disabled


def test_in_the_demo_a_training_over_the_time_limit_is_not_offered(lab_dir, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_DEMO", "1")
    at = open_page("train")
    at.selectbox(key="preset").set_value("strong-cnn").run()
    number(at, "Epochs").set_value(5).run()
    at.selectbox(key="padding:strong-cnn").set_value("same").run()
    at.selectbox(key="kernel:strong-cnn").set_value(5).run()  # 10x the work of 3x3 valid
    at.selectbox(key="precision:strong-cnn").set_value("float32").run()  # and not twice as fast
    assert "more than the 10 minutes a job may run" in at.warning[0].value
    assert not [b for b in at.button if b.key == "train"]


# --- the wait, not only the training (issue 26) -----------------------------------------


def test_the_wait_counts_start_up_scoring_and_is_instant_for_kept_settings():
    config = TrainConfig(epochs=1)
    assert expected_wait(config) == pytest.approx(BUILD_S + predicted_seconds(config) + scoring_seconds(config)
                                                  + STARTUP_S)
    assert expected_wait(config, kept=True) == INSTANT_S
    kept = [{"key": config.key(), "config": config.to_dict(), "train_seconds": 3 * predicted_seconds(config)}]
    assert expected_wait(config, kept) == pytest.approx(expected_wait(config))  # no other run: factor 1


def test_the_start_up_is_calibrated_from_this_machines_finished_jobs():
    classic, fast = TrainConfig(), PRESETS["fast-cnn"]
    jobs = [(classic, 20.0, 6.0), (fast, 30.0, 10.0), (classic, 21.0, 5.0)]
    expected = sorted(wall - train - scoring_seconds(c) for c, wall, train in jobs)[1]
    assert startup_seconds(jobs) == pytest.approx(expected)
    assert startup_seconds([]) == STARTUP_S
    assert startup_seconds([(classic, 500.0, 1.0)]) == 60.0  # clamped
    assert expected_wait(classic, (), jobs) == pytest.approx(BUILD_S + predicted_seconds(classic)
                                                             + scoring_seconds(classic) + expected)


def test_time_left_is_the_estimate_then_gives_way_to_the_runs_pace():
    assert time_left(30, 5) == 25  # not started training: what the estimate left
    # A slow start-up never counts down into the training it has not begun: at least the
    # estimate less its start-up part (issue 35: "6 s left" while still starting, then 20 s more).
    assert time_left(30, 10) == time_left(30, 45) == pytest.approx(30 - STARTUP_S)
    assert time_left(5, 45) == 1  # later than estimated: never negative, never zero
    # Half done in 10 s of training: its pace says 10 s (+1 s to save) left, the estimate 12 s.
    assert time_left(30, 18, 0.5, 10) == pytest.approx(0.5 * 11 + 0.5 * 12)
    assert time_left(30, 40, 0.999, 40) == pytest.approx(1.04, abs=0.05)  # near the end: the run's own pace
    # Smooth: a tiny fraction done after slow first steps does not swing it to minutes.
    assert time_left(20, 8, 0.01, 3) < 20


# Waits measured by bench.estimate on this machine (2 shared cores, load 3-3.5, 2026-12-04):
# (configuration, seconds from the Train button to the result, seconds of training). Its fast-cnn
# run that day is left out: at load 4.6 the job, at nice 19, trained 181 s instead of 9 s.
MEASURED_WAITS = [
    (TrainConfig(epochs=1), 12.2, 4.3),
    (TrainConfig(epochs=3), 14.9, 6.1),
    (TrainConfig(epochs=10), 31.1, 22.7),
]


def test_kept_runs_predict_every_measured_wait_within_a_factor_of_1_5():
    """Each measured wait predicted from the others (leave one out), as this
    machine's kept runs and jobs would predict it."""
    measured = MEASURED_WAITS
    for i, (config, wait, train) in enumerate(measured):
        others = measured[:i] + measured[i + 1:]
        runs = [{"key": c.key(), "config": c.to_dict(), "train_seconds": t} for c, _, t in others]
        predicted = expected_wait(config, runs, others)
        assert 1 / 1.5 <= predicted / wait <= 1.5, (config.describe(), predicted, wait)
