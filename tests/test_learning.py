"""The lab learns from its visitors' corrections (issue 23, item 5): the gate
a challenger passes (``champion.judge``: one vote per visitor, MNIST within 0.1
point), one visitor's wrong labels voted down, the per-visitor cap on what any
training takes, and a retraining job end to end (started by the count of new
corrections, judged, kept in the history the Drawings page shows). And issue 37:
an attacker with many cookies from one address, alone or among honest visitors,
through the demo's own path with real trainings, with the negative controls."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
from test_jobs import QUICK, drive, over
from test_pages import open_page, texts

from bench import poisoning
from model.lab import champion, db, drawings, jobs, learning, store
from model.lab.limits import DEMO, LOCAL
from model.lab.runs import train
from model.serving.predict import load_classifier
from model.training.config import DRAWINGS_WEIGHT, FINE_TUNE_EPOCHS, FINE_TUNE_LR_FACTOR, ConfigError, TrainConfig

HONEST = [f"visitor-{i}" for i in range(5)]


def held_out(per_session: int = 20, poisoned: int = 0, seed: int = 0):
    """Labels and sessions of held-out drawings: five honest visitors, and
    one who saved ``poisoned`` drawings labelled one digit off."""
    rng = np.random.default_rng(seed)
    sessions = [s for s in HONEST for _ in range(per_session)] + ["poisoner"] * poisoned
    truth = rng.integers(0, 10, len(sessions))
    labels = truth.copy()
    labels[len(HONEST) * per_session:] = (truth[len(HONEST) * per_session:] + 1) % 10  # wrong on purpose
    return truth, labels, sessions


def reads(truth: np.ndarray, right: float, seed: int) -> np.ndarray:
    """Predictions that get a fraction ``right`` of ``truth`` right."""
    rng = np.random.default_rng(seed)
    out = truth.copy()
    wrong = rng.random(len(truth)) > right
    out[wrong] = (truth[wrong] + rng.integers(1, 10, wrong.sum())) % 10
    return out


def test_a_challenger_that_reads_most_visitors_better_is_promoted():
    truth, labels, sessions = held_out()
    verdict = champion.judge(labels, sessions, reads(truth, 0.80, 1), reads(truth, 0.92, 2), 0.990, 0.9895)
    assert verdict.promoted, verdict.why
    assert verdict.sessions == 5 and verdict.better > verdict.worse and verdict.drawings == 100
    assert verdict.held_out[1] > verdict.held_out[0]
    assert "reads the held-out drawings better" in verdict.why


@pytest.mark.parametrize("mnist, sessions_kept, why", [
    ((0.990, 0.9885), 5, "worse on MNIST's test set (98.85% against 99.00%)"),
    ((0.990, None), 5, "worse on MNIST's test set (unknown against 99.00%)"),
    ((0.990, 0.995), 2, "held-out drawings of 2 visitor(s): at least 3 judge a new model"),
])
def test_the_gate_refuses_a_challenger_worse_on_mnist_or_judged_by_too_few(mnist, sessions_kept, why):
    truth, labels, sessions = held_out()
    keep = np.isin(sessions, HONEST[:sessions_kept])
    verdict = champion.judge(labels[keep], list(np.array(sessions)[keep]), reads(truth, 0.8, 1)[keep],
                             reads(truth, 0.95, 2)[keep], *mnist)
    assert not verdict.promoted and verdict.why == why


def test_one_visitors_100_wrong_labels_cannot_promote_a_model_the_others_read_worse():
    """The poisoner's challenger learned the wrong labels (it reads the
    poisoner's drawings as labelled) and reads everyone else a little worse.
    Pooled over drawings it would win; one vote per session it loses."""
    truth, labels, sessions = held_out(per_session=20, poisoned=100)
    poisoner = np.array(sessions) == "poisoner"
    current = reads(truth, 0.95, 1)  # reads the true digits: the poisoner's labels look wrong
    learned = current.copy()
    for session in HONEST:  # two more of each honest visitor's drawings read wrong
        right = np.flatnonzero((np.array(sessions) == session) & (current == truth))[:2]
        learned[right] = (truth[right] + 1) % 10
    learned[poisoner] = labels[poisoner]  # the challenger took the poison
    pooled = ((current == labels).mean(), (learned == labels).mean())
    assert pooled[1] > pooled[0]  # the attack works on a pooled score: the test is not vacuous
    verdict = champion.judge(labels, sessions, current, learned, 0.99, 0.99)
    assert not verdict.promoted
    assert verdict.worse == 5 and verdict.better == 1
    assert verdict.why.startswith("reads the held-out drawings no better") or "most visitors would not gain" in verdict.why


def test_one_visitor_contributes_at_most_the_cap_to_any_training(lab_dir, mnist):
    from model.lab.runs import run_key

    (_, _), (x, y) = mnist
    rows = [drawings.make_row(x[i], y[i], session="busy") for i in range(200)]
    rows += [drawings.make_row(x[i], y[i], session="quiet") for i in range(200, 210)]
    rows += [drawings.make_row(x[i], y[i]) for i in range(210, 270)]  # the owner's import: no session
    drawings.save_many(rows)
    train = drawings.collection("train")
    capped = drawings.collection("train", per_session=drawings.TRAIN_PER_SESSION)
    assert train.sessions.count("busy") > drawings.TRAIN_PER_SESSION
    assert capped.sessions.count("busy") == drawings.TRAIN_PER_SESSION
    assert capped.sessions.count("quiet") == train.sessions.count("quiet")
    assert capped.sessions.count(None) == train.sessions.count(None)
    config = jobs.challenger_config()
    assert config.drawings_weight > 0 and config.start_from == ""  # no model to fine-tune: the starter's recipe
    before = run_key(config)
    drawings.save_many([drawings.make_row(x[i], y[i], session="busy") for i in range(300, 400)])
    assert run_key(config) == before  # more from a capped visitor: the same training


def test_corrections_start_a_retraining_that_is_judged_and_kept_in_the_history(lab_dir, mnist, monkeypatch):
    from model.lab.runs import train

    (_, _), (x, y) = mnist
    with pytest.raises(ConfigError, match="no saved drawings to learn from yet"):
        jobs.submit_retraining(lab_dir)
    first = train(QUICK, root=lab_dir)  # the model the demo serves
    assert jobs.challenger_config(lab_dir) == dataclasses.replace(
        QUICK, start_from=first.meta["key"], epochs=FINE_TUNE_EPOCHS, learning_rate=QUICK.lr * FINE_TUNE_LR_FACTOR,
        drawings_weight=DRAWINGS_WEIGHT)  # the retraining fine-tunes the current model
    sessions = [f"visitor-{i}" for i in range(4)]
    drawings.save_many([drawings.make_row(x[i], y[i], session=sessions[i % 2]) for i in range(20)])
    with pytest.raises(ConfigError, match=r"held-out drawings of [0-2] visitor session\(s\) so far"):
        jobs.submit_retraining(lab_dir)  # two sessions can't outvote one: the gate would refuse it, so none starts
    monkeypatch.setenv("MNIST_LAB_RETRAIN_AFTER", "150")
    monkeypatch.setattr(jobs, "_learn_next", {})
    drawings.save_many([drawings.make_row(x[i], y[i], session=sessions[i % 4]) for i in range(100)])
    assert jobs.ensure_retraining(lab_dir) is None  # 80 or so new training drawings: not yet
    drawings.save_many([drawings.make_row(x[i], y[i], session=sessions[i % 4]) for i in range(100, 240)])
    assert jobs.ensure_retraining(lab_dir) is None  # counted less than a minute ago
    monkeypatch.setattr(jobs, "_learn_next", {})
    job = jobs.ensure_retraining(lab_dir)
    assert job is not None and job.session == jobs.LEARN_SESSION and job.params["make_current"] == "gate"
    with pytest.raises(jobs.QueueFull):
        jobs.submit_retraining(lab_dir)  # one at a time
    done = drive(jobs.Runner(lab_dir, 1, LOCAL), job.id, over)
    assert done.status == "done", done.message
    verdict = done.result["verdict"]
    assert store.load_run_meta(done.result["run"], lab_dir)["config"]["start_from"] == first.meta["key"]
    print(f"\n[learning] {verdict}", flush=True)
    assert verdict["sessions"] == 4 and verdict["drawings"] == drawings.count(part="held_out")
    capped = drawings.collection("train", per_session=drawings.TRAIN_PER_SESSION)  # capped, corroborated
    assert done.result["drawings"] == len(capped) <= 4 * drawings.TRAIN_PER_SESSION < drawings.count(part="train")
    assert store.current_run(lab_dir).key == (done.result["run"] if verdict["promoted"] else first.meta["key"])
    with pytest.raises(ConfigError, match="no new drawings"):
        jobs.submit_retraining(lab_dir)  # the same drawings: judged already
    monkeypatch.setattr(jobs, "_learn_next", {})
    assert jobs.ensure_retraining(lab_dir) is None  # nothing new since this one

    at = open_page("drawings")  # the owner's history: the outcome and why
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) == 1 and table["outcome"][0].startswith("promoted: " if verdict["promoted"] else "refused: ")
    assert verdict["why"] in table["outcome"][0]
    at.button(key="learn_now").click().run()
    assert "Not started: no new drawings since the last retraining" in texts(at)


def seed_history(root) -> None:
    """Two judged retrainings in the lab's jobs table: a promotion, then a refusal."""
    import time

    from model.lab import db

    def verdict(promoted: bool, why: str, held, mnist) -> dict:
        return champion.Verdict(promoted, why, held, mnist, sessions=4, better=3 if promoted else 1,
                                worse=0 if promoted else 3, drawings=48).to_dict()

    now = time.time()
    results = [{"run": "aaa", "drawings": 160, "verdict": verdict(True, "reads the held-out drawings better", (0.85, 0.93),
                                                                   (0.991, 0.9905))},
               {"run": "bbb", "drawings": 320, "verdict": verdict(False, "worse on MNIST's test set", (0.93, 0.95),
                                                                    (0.9905, 0.97))}]
    with db.begin(root) as conn:
        for i, result in enumerate(results):
            conn.execute(db.jobs.insert().values(
                kind="train", key=result["run"], params={"description": "retraining"}, session=jobs.LEARN_SESSION,
                status="done", message="done", result=result, cancel=False, created_at=now + i,
                started_at=now + i, finished_at=now + i + 1))


def test_the_history_shows_a_promotion_and_a_refusal_with_their_scores(lab_dir):
    seed_history(lab_dir)
    at = open_page("drawings")
    assert not at.exception, at.exception
    assert at.expander[0].label.startswith("How the lab learns from them (2 retrainings)")
    table = at.dataframe[0].value
    assert list(table["outcome"]) == ["refused: worse on MNIST's test set", "promoted: reads the held-out drawings better"]
    assert list(table["held-out drawings (current → new)"]) == ["93.00% → 95.00%", "85.00% → 93.00%"]
    assert list(table["MNIST test (current → new)"]) == ["99.05% → 97.00%", "99.10% → 99.05%"]
    assert list(table["drawings trained on"]) == ["320", "160"]


# --- issue 37: a few people with many cookies can't steer what the demo learns ------------------
# Through the demo's own path (bench/poisoning.py): every tap through canvas.save_correction with the
# demo's limits, the visitor's session (a cookie) and address; the retraining's trigger and start
# (jobs), its challenger (jobs.challenger_config, the shipped starter fine-tuned, trained by runs.train)
# and champion.gate. Honest visitors: 6 addresses, 50 right-labelled drawings each of a style the
# starter reads partly wrong (its 0s); the attacker: 7s of the style labelled 8, 40 a session, K
# sessions from one address. The fine-tunings see MNIST's first 20,000 training images (the whole
# test set still judges them), to keep the file quick; bench/poisoning.py runs the same on all.

MNIST_SUBSET = 20_000
POISON_PER_SESSION = 40


class World:
    """What the issue-37 tests share: the style's scoring set, the honest visitors' lab
    (copied for each scenario), and the runs trained so far (the same key is the same training)."""

    def __init__(self, base, style):
        self.template, self.runs, self.style = base / "honest", base / "runs", style
        self.runs.mkdir()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("poisoning")
    with pytest.MonkeyPatch.context() as mp, poisoning.mnist_subset(MNIST_SUBSET):
        w = World(base, poisoning.test_set())
        mp.setenv("MNIST_LAB_DIR", str(w.template))
        mp.setenv("MNIST_LAB_DEMO", "1")
        mp.delenv("MNIST_LAB_DATABASE_URL", raising=False)
        counts = poisoning.save_taps(poisoning.honest_visitors(6, 50), poisoning.serving(w.template), DEMO)
        assert counts["honest saved"] == 300, counts
        db.forget(w.template)
        w.starter_style, w.starter_attack = poisoning.scored(load_classifier(store.current_run(w.template).path,
                                                                             own=True), w.style)
        yield w


def a_lab(world: World, tmp_path, monkeypatch, honest: bool):
    """A demo lab of its own: the honest visitors' (a copy), or a fresh one; the starter serves."""
    root = tmp_path / "lab"
    if honest:
        shutil.copytree(world.template, root, symlinks=True)  # the current-model link stays a link
    else:
        root.mkdir()
        poisoning.serving(root)
    monkeypatch.setenv("MNIST_LAB_DIR", str(root))
    monkeypatch.setenv("MNIST_LAB_DEMO", "1")
    monkeypatch.delenv("MNIST_LAB_DATABASE_URL", raising=False)
    monkeypatch.delenv("MNIST_LAB_RETRAIN_AFTER", raising=False)
    monkeypatch.setattr(jobs, "_learn_next", {})
    return root


def attack(root, sessions: int, per_session: int = POISON_PER_SESSION) -> dict[str, int]:
    model = load_classifier(store.current_run(root).path, own=True)
    return poisoning.save_taps(poisoning.attacker(sessions, 1, per_session), model, DEMO)


def report(name: str, out) -> None:
    print(f"\n[poisoning] {name}: {out.started}; trained on {out.trained_on} ({out.poisoned} the attacker's); "
          f"{'promoted' if out.promoted else 'not promoted'}: {out.why}; challenger's 7s as 8: "
          f"{out.challenger_attack}; the demo's: {out.demo_attack:.0%}; style {out.demo_style:.1%}; {out.counts}",
          flush=True)


@pytest.mark.parametrize("k", [1, 3, 12])
def test_an_attacker_alone_with_k_cookies_from_one_address_cannot_start_a_retraining(world, tmp_path, monkeypatch, k):
    root = a_lab(world, tmp_path, monkeypatch, honest=False)
    counts = attack(root, k)
    assert counts["attacker saved"] == min(k * POISON_PER_SESSION, learning.ON.address_saves_per_hour), counts
    assert learning.new_corrections(0.0, root) == 0  # one address: no retraining counts them
    assert jobs.ensure_retraining(root) is None  # the trigger is out of reach
    with pytest.raises(ConfigError, match=r"no saved drawings to learn from|held-out drawings of 1 visitor"):
        jobs.submit_retraining(root)  # nor does the owner's "Retrain now" find anything to learn
    assert len(drawings.collection("train", root, per_session=drawings.TRAIN_PER_SESSION)) == 0  # none corroborated
    out = poisoning.retrain(root, world.style)
    report(f"K={k} alone", out)
    assert out.started == "not started" and out.demo_attack == world.starter_attack <= poisoning.GOAL


def test_negative_control_without_the_defences_three_cookies_alone_start_a_retraining(world, tmp_path, monkeypatch):
    """The issue's finding, as the lab was: 3 cookies x 100 saves reach the 200-correction trigger."""
    monkeypatch.setattr(learning, "POLICY", learning.OFF)
    root = a_lab(world, tmp_path, monkeypatch, honest=False)
    counts = attack(root, 3, per_session=100)
    assert counts["attacker saved"] == 300, counts  # no budget an address
    assert learning.new_corrections(0.0, root) >= jobs.retrain_after()
    job = jobs.ensure_retraining(root)
    assert job is not None and job.params["make_current"] == "gate"


def test_honest_visitors_alone_get_a_better_model_promoted(world, tmp_path, monkeypatch):
    root = a_lab(world, tmp_path, monkeypatch, honest=True)
    out = poisoning.retrain(root, world.style, runs=world.runs)
    report("honest only", out)
    assert out.started == "by itself"  # 6 addresses, 240 new training drawings: past the trigger
    assert out.promoted, out.why
    assert out.demo_style > world.starter_style + 0.05  # the style's 0s learnt
    assert out.demo_attack <= poisoning.GOAL


@pytest.mark.parametrize("k", [1, 3, 12])
def test_an_attacker_among_honest_visitors_is_refused_or_harmless(world, tmp_path, monkeypatch, k):
    root = a_lab(world, tmp_path, monkeypatch, honest=True)
    counts = attack(root, k)
    assert counts["attacker saved"] <= learning.ON.address_saves_per_hour, counts
    out = poisoning.retrain(root, world.style, poisoning.Outcome(counts=counts), runs=world.runs)
    report(f"K={k} among honest", out)
    assert out.started != "not started", out.why
    assert out.poisoned == 0  # none of the 7s labelled 8 is corroborated by another address
    assert out.demo_attack <= poisoning.GOAL and out.challenger_attack <= poisoning.GOAL
    assert out.promoted, out.why  # and the honest visitors' lesson still gets through


def test_negative_control_without_the_defences_three_cookies_among_honest_visitors_win(world, tmp_path, monkeypatch):
    """The same attack with model.lab.learning's defences off (cookies vote, nothing
    corroborated, no pair check): the demo then reads most of the style's 7s as 8."""
    monkeypatch.setattr(learning, "POLICY", learning.OFF)
    root = a_lab(world, tmp_path, monkeypatch, honest=True)
    counts = attack(root, 3)
    out = poisoning.retrain(root, world.style, poisoning.Outcome(counts=counts), runs=world.runs)
    report("K=3 among honest, defences off", out)
    assert out.poisoned > 0 and out.promoted, out.why
    assert out.demo_attack > 0.5  # the attack succeeds: the tests above can fail


def test_the_gate_alone_refuses_the_poisoned_challenger_by_its_7s_read_as_8(world, tmp_path, monkeypatch):
    """The second line on its own: the challenger the negative control trained (kept in
    ``world.runs``), judged with only the pair check on, is refused on the visitors' 7s."""
    monkeypatch.setattr(learning, "POLICY", learning.OFF)
    root = a_lab(world, tmp_path, monkeypatch, honest=True)
    attack(root, 3)
    job = jobs.submit_retraining(root)
    key = job.key
    if store.load_run_meta(key, world.runs) is not None:  # trained by the negative control: reused
        shutil.copytree(store.run_dir(key, world.runs), store.run_dir(key, root))
    assert train(TrainConfig.from_dict(job.params["config"]), root=root, make_current=False).meta["key"] == key
    monkeypatch.setattr(learning, "POLICY", dataclasses.replace(learning.OFF, confusion_check=True))
    verdict = champion.gate(key, root)
    print(f"\n[poisoning] the gate alone: {verdict.why}", flush=True)
    assert not verdict.promoted and "7s as 8" in verdict.why
