"""Which kept run serves as the current model: a new one replaces the
current model only when it scores at least as well on MNIST's test set (or
there is none yet); otherwise it is kept beside it until someone says "Use
this model". One rule for a visitor's training (``models.settle``, called by
the pages once it is done) and for the demo's stronger model trained in the
background (``jobs.ensure_upgrade``).

A challenger trained on the visitors' corrections (``jobs.ensure_retraining``)
passes a stricter gate (``gate``): it must read the held-out drawings better,
counted per visitor, and stay within 0.1 point on MNIST's test set. A visitor
is an address, not a cookie (``model.lab.learning``): each has one vote, however
many drawings and sessions it saved, and more must be read better than worse.
It is refused when it reads any digit as another much more often than the
current model on a held-out group (the visitors', the owner's imports, MNIST's
test set: a targeted poisoning that a vote count misses), and a narrow win
waits for the owner (``approve``) instead of being promoted.

    from model.lab import champion
    outcome = champion.settle("abc123")   # better, or no model yet: made current
    outcome.made_current, outcome.previous
    verdict = champion.gate("def456")     # promoted only past the gate
    champion.approve("def456")            # the owner promotes a challenger held for them
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.lab import drawings, identity, learning, store

MNIST_TOLERANCE = 0.001  # a challenger may score at most 0.1 point lower on MNIST's test set
MIN_SESSIONS = 3  # held-out drawings of at least this many visitors (addresses) judge a challenger


def accuracy(meta: dict[str, Any] | None) -> float | None:
    value = (meta or {}).get("metrics", {}).get("test_accuracy")
    return float(value) if isinstance(value, (int, float)) else None


def is_better(new: dict[str, Any] | None, old: dict[str, Any] | None) -> bool:
    """Does ``new`` score at least as well as ``old`` on the test set? (True
    when ``old`` has no score: a model of unknown quality is no reason to keep it.)"""
    new_accuracy, old_accuracy = accuracy(new), accuracy(old)
    if old_accuracy is None:
        return True
    return new_accuracy is not None and new_accuracy >= old_accuracy


@dataclass(frozen=True)
class Settled:
    key: str
    made_current: bool
    previous: dict[str, Any] | None  # the current model's meta before (None: there was none)

    @property
    def worse(self) -> bool:
        """Kept beside a better current model, waiting for "Use this model"."""
        return not self.made_current and self.previous is not None


def settle(key: str, root: Path | None = None, force: bool = False) -> Settled:
    """A finished training's run ``key``: made the current model if there is
    none yet or it scores at least as well as the current one (or ``force``:
    the person asked for it); else only kept."""
    current = store.current_run(root)
    if current is not None and current.key == key:
        return Settled(key, True, None)
    previous = current.meta if current is not None else None
    if force or current is None or is_better(store.load_run_meta(key, root), previous):
        store.make_current(key, root)
        return Settled(key, True, previous)
    return Settled(key, False, previous)


@dataclass(frozen=True)
class Verdict:
    """A challenger judged against the current model on the held-out drawings."""
    promoted: bool
    why: str  # one line
    held_out: tuple[float, float] | None  # (current, challenger): the mean of the sessions' accuracies
    mnist: tuple[float | None, float | None]  # (current, challenger) test accuracy
    sessions: int = 0  # visitors (addresses) whose held-out drawings voted
    better: int = 0  # of them, read better by the challenger
    worse: int = 0
    drawings: int = 0  # held-out drawings read
    owner: bool = False  # not promoted only because the margin is thin: the owner may (``approve``)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pct(value: float) -> str:
    return f"{value:.2%}"


def judge(labels: np.ndarray, sessions: list[str | None], current_pred: np.ndarray, challenger_pred: np.ndarray,
          current_mnist: float | None, challenger_mnist: float | None,
          mnist_reads: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> Verdict:
    """The gate's rule on predictions of the held-out drawings (pure: see ``gate``).
    ``sessions``: each drawing's stored session; its voter is its address
    (``identity.voter``; its session when the policy is off), imports (no
    session) vote together, as the owner. ``mnist_reads``: MNIST's test labels
    and both models' readings, for ``learning.confusion_jump``."""
    pol = learning.policy()
    labels = np.asarray(labels)
    current_pred, challenger_pred = np.asarray(current_pred), np.asarray(challenger_pred)
    voters = [identity.voter(s, pol.by_address) for s in sessions]
    groups = np.array([v if v is not None else "\0imports" for v in voters], dtype=object)
    names = list(dict.fromkeys(groups.tolist()))
    now = np.array([(current_pred[groups == g] == labels[groups == g]).mean() for g in names])
    new = np.array([(challenger_pred[groups == g] == labels[groups == g]).mean() for g in names])
    better, worse = int((new > now).sum()), int((new < now).sum())
    mnist = (current_mnist, challenger_mnist)
    held = (float(now.mean()), float(new.mean())) if names else None
    common = {"held_out": held, "mnist": mnist, "sessions": len(names), "better": better, "worse": worse,
              "drawings": len(labels)}
    if len(names) < MIN_SESSIONS:
        return Verdict(False, f"held-out drawings of {len(names)} visitor(s): at least {MIN_SESSIONS} "
                              "judge a new model", **common)
    if current_mnist is not None and (challenger_mnist is None or challenger_mnist < current_mnist - MNIST_TOLERANCE):
        lower = "unknown" if challenger_mnist is None else _pct(challenger_mnist)
        return Verdict(False, f"worse on MNIST's test set ({lower} against {_pct(current_mnist)})", **common)
    if pol.confusion_check:
        jump = learning.confusion_jump(labels, voters, current_pred, challenger_pred, mnist_reads)
        if jump:
            return Verdict(False, jump, **common)
    if held[1] <= held[0]:
        return Verdict(False, f"reads the held-out drawings no better ({_pct(held[1])} against {_pct(held[0])})",
                       **common)
    if better <= worse:
        return Verdict(False, f"reads {better} of {len(names)} visitors' drawings better and {worse} worse: "
                              "most visitors would not gain", **common)
    scores = f"{_pct(held[1])} against {_pct(held[0])}; {better} of {len(names)} visitors better, {worse} worse"
    if pol.owner_on_thin_margin and learning.thin_margin(better, worse, held):
        return Verdict(False, f"better by a thin margin ({scores}): kept for the owner to approve", owner=True,
                       **common)
    return Verdict(True, f"reads the held-out drawings better ({scores})", **common)


def voters(root: Path | None = None) -> int:
    """Visitors (addresses) whose held-out drawings would judge a challenger
    now (imports count as one, as in ``judge``)."""
    by_address = learning.policy().by_address
    held = drawings.collection("held_out", root)
    return len({identity.voter(s, by_address) or "\0imports" for s in held.sessions})


def mnist_readings(paths: list[Path]) -> tuple[np.ndarray, ...]:
    """MNIST's test labels and each model's digit for each test image."""
    from model.data.mnist import load_mnist
    from model.data.preprocess import scale_images
    from model.serving.predict import load_classifier, predict_batch

    _, (x, y) = load_mnist()
    images = scale_images(x)
    return (np.asarray(y), *(predict_batch(load_classifier(path, own=True), images).argmax(axis=1) for path in paths))


def approve(key: str, root: Path | None = None) -> None:
    """The owner's word: make kept run ``key`` (a challenger held for them) current."""
    if store.load_run_meta(key, root) is None:
        raise ValueError(f"there is no kept run {key}")
    store.make_current(key, root)


def gate(key: str, root: Path | None = None) -> Verdict:
    """Judge kept run ``key`` against the current model (``judge``) and make
    it current if it passes."""
    from model.data.preprocess import scale_images
    from model.serving.predict import load_classifier, predict_batch

    current = store.current_run(root)
    meta = store.load_run_meta(key, root)
    if current is None:
        store.make_current(key, root)
        return Verdict(True, "there was no model yet", None, (None, accuracy(meta)))
    if current.key == key:
        return Verdict(False, "it is the current model already", None, (accuracy(current.meta), accuracy(meta)))
    held = drawings.collection("held_out", root)
    if not len(held):
        return Verdict(False, "no held-out drawings to judge it on", None, (accuracy(current.meta), accuracy(meta)))
    images = scale_images(held.x)
    paths = [current.path, store.run_model_path(key, root)]
    read = [predict_batch(load_classifier(path, own=True), images).argmax(axis=1) for path in paths]
    mnist_reads = mnist_readings(paths) if learning.policy().confusion_check else None
    verdict = judge(held.y, held.sessions, read[0], read[1], accuracy(current.meta), accuracy(meta), mnist_reads)
    if verdict.promoted:
        store.make_current(key, root)
    return verdict
