"""The lab decides, not the open tab (model.lab.outcome): a finished job's run
becomes its owner's model where the job ends, with no page open, when it
scores at least as well as theirs; a worse one is kept beside it with a notice
and "Use this model". The same rule locally (the current model) and for each
demo visitor (their own model, in the database); and the demo's fair line:
visitors' jobs before the server's own, which step aside."""

from __future__ import annotations

import dataclasses

import pytest
from test_jobs import QUICK, drive, over

from model.lab import jobs, outcome, starter, store
from model.lab.limits import DEMO, LOCAL
from model.training.config import TrainConfig

WORSE = dataclasses.replace(QUICK, learning_rate=0.002)  # one epoch at a crawl: about 80%, worse than QUICK
PACED = dataclasses.replace(QUICK, epochs=5)  # paced in the tests below: still running while we look


def fake_run(key: str, accuracy: float, root) -> None:
    """A kept run's folder with its sidecar (what outcome.settle reads) and a stand-in model file."""
    folder = store.run_dir(key, root)
    folder.mkdir(parents=True)
    (folder / "model.h5").write_bytes(b"not read here")
    store.write_json(folder / "meta.json", {"key": key, "description": f"run {key}", "config": None,
                                            "metrics": {"test_accuracy": accuracy, "test_loss": 1.0}})


def test_settle_adopts_a_better_run_and_keeps_a_worse_one(lab_dir):
    for key, accuracy in (("a" * 12, 0.95), ("b" * 12, 0.97), ("c" * 12, 0.90)):
        fake_run(key, accuracy, lab_dir)
    first = outcome.settle(outcome.LOCAL_OWNER, "a" * 12)
    assert first.adopted and first.previous is None and store.current_run().key == "a" * 12
    better = outcome.settle(outcome.LOCAL_OWNER, "b" * 12)
    assert better.adopted and better.previous["key"] == "a" * 12 and "now your model" in better.notice
    worse = outcome.settle(outcome.LOCAL_OWNER, "c" * 12)
    assert not worse.adopted and worse.worse and store.current_run().key == "b" * 12
    assert "90.00%" in worse.notice and "97.00%" in worse.notice and "Use this model" in worse.notice
    outcome.choose(outcome.LOCAL_OWNER, "c" * 12)  # the person's own word
    assert store.current_run().key == "c" * 12
    assert outcome.Outcome.from_dict(worse.to_dict()) == worse


def test_each_demo_visitor_has_their_own_model(lab_dir):
    fake_run("d" * 12, 0.99, lab_dir)
    store.make_current("d" * 12)  # the demo model
    fake_run("e" * 12, 0.94, lab_dir)
    fake_run("f" * 12, 0.995, lab_dir)
    assert outcome.owner("visitor-1", DEMO) == "visitor-1" and outcome.owner(None, DEMO) is None
    assert outcome.owner("visitor-1", LOCAL) == outcome.LOCAL_OWNER
    worse = outcome.settle("visitor-1", "e" * 12)  # worse than the demo model they use: not theirs
    assert not worse.adopted and outcome.model_of("visitor-1") is None
    assert outcome.settle("visitor-1", "f" * 12).adopted and outcome.model_of("visitor-1") == "f" * 12
    assert outcome.model_of("visitor-2") is None  # the others keep the demo model
    assert store.current_run().key == "d" * 12  # which stays the demo model for everyone
    outcome.choose("visitor-2", "e" * 12)
    assert outcome.model_of("visitor-2") == "e" * 12 and outcome.model_of("visitor-1") == "f" * 12


def test_a_training_finished_with_no_tab_open_is_decided_where_it_ends(lab_dir):
    """Locally: the better run is current once its job ends, whoever watches; the worse one is not."""
    job = jobs.submit_training(WORSE, session="tab-closed", limits=LOCAL)
    runner = jobs.Runner(lab_dir, 1, LOCAL)
    done = drive(runner, job.id, over)
    first = outcome.Outcome.from_dict(done.result["outcomes"][outcome.LOCAL_OWNER])
    assert first.adopted and store.current_run(lab_dir).key == WORSE.key()  # none before: the first is theirs
    better = drive(runner, jobs.submit_training(QUICK, session="tab-closed", limits=LOCAL).id, over)
    decided = outcome.Outcome.from_dict(better.result["outcomes"][outcome.LOCAL_OWNER])
    assert decided.adopted and store.current_run(lab_dir).key == QUICK.key()
    assert decided.previous["key"] == WORSE.key()
    again = jobs.submit_training(WORSE, session="tab-closed", limits=LOCAL)  # kept already: decided at once
    kept = outcome.Outcome.from_dict(again.result["outcomes"][outcome.LOCAL_OWNER])
    assert again.status == "done" and not kept.adopted and store.current_run(lab_dir).key == QUICK.key()


def test_in_the_demo_a_worse_training_never_becomes_the_visitors_model(lab_dir):
    starter.seed(lab_dir)
    store.make_current(starter.shipped_key(), lab_dir)  # the demo model: the starter, 99%
    runner = jobs.Runner(lab_dir, 1, DEMO)
    job = jobs.submit_training(QUICK, session="visitor", limits=DEMO)
    joined = jobs.submit_training(QUICK, session="classmate", limits=DEMO)
    assert joined.id == job.id
    done = drive(runner, job.id, over)
    for who in ("visitor", "classmate"):  # decided for everyone who asked
        decided = outcome.Outcome.from_dict(done.result["outcomes"][who])
        assert not decided.adopted and "kept" in decided.notice, decided
        assert outcome.model_of(who, lab_dir) is None  # the demo model serves them still
    assert store.current_run(lab_dir).key == starter.shipped_key()


@pytest.mark.parametrize("fair", [True, False])
def test_a_visitors_training_goes_before_the_servers_upgrade(lab_dir, monkeypatch, fair):
    """The server's upgrade is running (paced: it is still running while we look); a visitor's
    training then starts at once, and the upgrade runs again after it, to its end.
    Negative control (fair=False): without the runner making way, the visitor waits."""
    monkeypatch.setenv("MNIST_LAB_MIN_EPOCH_S", "2")
    if not fair:
        monkeypatch.setattr(jobs.Runner, "_make_way", lambda self: None)
    upgrade = jobs.submit("train", PACED.key(), {"config": PACED.to_dict(), "make_current": "if_better"},
                          session=jobs.UPGRADE_SESSION, limits=DEMO, root=lab_dir)
    runner = jobs.Runner(lab_dir, 1, DEMO)
    drive(runner, upgrade.id, lambda j: (j.progress or {}).get("step"))  # training, not just starting
    visitor = jobs.submit_training(QUICK, session="visitor", limits=DEMO)
    runner.step()
    if not fair:
        assert jobs.get(visitor.id).status == "queued" and jobs.get(upgrade.id).status == "running"
        return
    assert jobs.get(upgrade.id).status == "queued"  # stepped aside, queued again
    assert jobs.get(visitor.id).status == "running"
    assert store.load_run_meta(PACED.key(), lab_dir) is None and not list(lab_dir.glob("models/.tmp-*"))
    done = drive(runner, visitor.id, over)
    assert done.status == "done"
    monkeypatch.setenv("MNIST_LAB_MIN_EPOCH_S", "0")  # the rest of the upgrade at the machine's pace
    finished = drive(runner, upgrade.id, over)
    assert finished.status == "done", finished.message
    assert store.load_run_meta(PACED.key(), lab_dir)["epochs_run"] == PACED.epochs  # from its beginning


def test_a_server_job_queued_first_waits_for_a_visitors(lab_dir):
    """The line's order: visitors' jobs are claimed before the server's own, whatever came first."""
    config = TrainConfig(epochs=1, batch_size=512)
    server = jobs.submit("train", config.key(), {"config": config.to_dict(), "make_current": "if_better"},
                         session=jobs.LEARN_SESSION, limits=DEMO, root=lab_dir)
    visitor = jobs.submit_training(QUICK, session="visitor", limits=DEMO)
    runner = jobs.Runner(lab_dir, 1, DEMO)
    runner.step()
    assert jobs.get(visitor.id).status == "running" and jobs.get(server.id).status == "queued"
    drive(runner, visitor.id, over)


def test_the_wait_in_line_counts_the_visitors_jobs_before_it_not_the_servers(lab_dir):
    from model.lab import models

    assert models.wait_in_line() == 0  # nothing in line
    server = TrainConfig(epochs=4, batch_size=512)
    jobs.submit("train", server.key(), {"config": server.to_dict(), "make_current": "if_better"},
                session=jobs.UPGRADE_SESSION, limits=DEMO, root=lab_dir)
    assert models.wait_in_line() == 0  # the server's upgrade steps aside: no wait for a visitor
    first = jobs.submit_training(QUICK, session="a", limits=DEMO)
    second = jobs.submit_training(WORSE, session="b", limits=DEMO)
    ahead = models.estimate_wait(QUICK, kept=False)
    assert models.wait_in_line(before=first.id) == 0
    assert models.wait_in_line(before=second.id) == pytest.approx(ahead)
    assert models.wait_in_line() == pytest.approx(ahead + models.estimate_wait(WORSE, kept=False))
    assert models.wait_in_line(workers=2) == pytest.approx(models.wait_in_line() / 2)
