"""How the public demo learns from strangers without letting a few of them
steer it (issue 37): the policy every part of the loop follows.

The loop: a visitor's correction is saved (``canvas.save_correction``), a
retraining starts once enough new corrections came in (``jobs.ensure_retraining``,
``new_corrections``), it fine-tunes the demo model on the saved drawings'
training part (``drawings.collection(per_session=...)`` -> ``for_training``),
and the challenger replaces the demo model only past ``champion.gate``.
A session is only a cookie, so the defences count *voters*: the client
address a drawing was saved from (``identity.voter``), never the cookie.

- **Budgets per address**: at most ``address_saves_per_hour`` saves an address
  in the demo (``drawings.save``), besides the 100 a session; at most
  ``TRAIN_PER_VOTER`` training drawings and one vote an address.
- **Corroboration**: a drawing whose label the current model disagrees with is
  trained on only when drawings of *other* voters that look most like it
  (its ``NEIGHBOURS`` nearest in pixels) carry the same label, at least
  ``AGREE`` of them from ``AGREE_VOTERS`` voters or more (the owner's imports
  count as a voter and are never filtered). One address's 7s labelled 8 find
  the others' 7s labelled 7 beside them, and are left out; a style many
  visitors correct alike is learnt.
- **A trigger one person can't reach**: new corrections count at most
  ``TRAIN_PER_VOTER`` an address, and nothing until ``min_voters`` addresses sent some.
- **The gate** (``champion.judge``): one vote an address; refused when the
  challenger reads any digit as another much more often than the demo model on
  the visitors' held-out drawings (counted without the voter who adds most to it,
  so no one address can refuse alone), on the owner's imported drawings, or on
  MNIST's test set (``confusion_jump``); a thin margin waits for the owner.

What it does not promise: an attacker with many addresses (a botnet, many
phones' networks) counts as many visitors. It is the public demo's policy
(``MNIST_LAB_DEMO``); the owner's own lab trusts its drawings (``LOCAL``).
``POLICY = OFF`` turns every defence off (the lab before issue 37: cookies
vote, nothing corroborated), for the tests' negative controls and
``bench/poisoning.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.lab import identity

TRAIN_PER_VOTER = 40  # drawings.TRAIN_PER_SESSION: what one voter adds to a training, at most
NEIGHBOURS = 5  # a disagreed-with label is checked against this many nearest drawings of other voters
AGREE = 3  # of them at least this many must carry the same label
AGREE_VOTERS = 2  # from at least this many voters
HOUR_S = 3600.0


@dataclass(frozen=True)
class Policy:
    by_address: bool = True  # votes, caps and budgets count addresses (else sessions: cookies)
    corroborate: bool = True  # a label the current model disagrees with needs other voters' agreement
    confusion_check: bool = True  # the gate refuses a digit pair's confusion jumping on a held-out group
    owner_on_thin_margin: bool = True  # a narrow win waits for the owner instead of being promoted
    address_saves_per_hour: int = 60  # saves an address may make an hour in the demo (0: no cap)
    count_voters: bool = True  # the trigger counts at most TRAIN_PER_VOTER a voter (else every correction)
    min_voters: int = 3  # voters among the new corrections before a retraining starts by itself


ON = Policy()
OFF = Policy(by_address=False, corroborate=False, confusion_check=False, owner_on_thin_margin=False,
             address_saves_per_hour=0, count_voters=False, min_voters=1)
# The owner's own lab (not the public demo): every drawing is the owner's or their guests', so the
# owner's corrections are trained on as they are (one address: corroboration would drop them all),
# counted per session as before; the gate still checks digit pairs, and a thin win is theirs to see.
LOCAL = dataclasses.replace(OFF, confusion_check=True)
POLICY = ON  # the public demo's; the tests' negative controls set OFF here


def policy() -> Policy:
    """The policy in force: ``POLICY`` in the public demo, ``LOCAL`` in the owner's own lab."""
    from model.lab.limits import demo_mode

    return POLICY if demo_mode() else LOCAL


# --- what a training takes ------------------------------------------------------------


def for_training(rows: Sequence[Any], per_voter: int, root: Path | None = None) -> list[Any]:
    """Of saved drawings' rows (``id``, ``image``, ``label``, ``session``; in id
    order), those a training takes: the first ``per_voter`` of each voter,
    imports all, and (``corroborate``) of the disagreed-with labels only the
    corroborated ones."""
    pol = policy()
    taken: dict[str, int] = {}
    capped = []
    for r in rows:
        who = identity.voter(r.session, pol.by_address)
        if who is not None:
            taken[who] = taken.get(who, 0) + 1
            if taken[who] > per_voter:
                continue
        capped.append(r)
    if not pol.corroborate or not capped:
        return capped
    keep = corroborated(np.stack([np.frombuffer(r.image, np.uint8).reshape(28, 28) for r in capped]),
                        np.array([r.label for r in capped]), [identity.voter(r.session) for r in capped],
                        current_reading(capped, root))
    return [r for r, k in zip(capped, keep) if k]


def corroborated(x: np.ndarray, labels: np.ndarray, voters: Sequence[str | None],
                 reading: np.ndarray | None) -> np.ndarray:
    """Which drawings a training may take: those the current model reads as
    labelled (``reading``; None: no model, all taken), the owner's (voter None),
    and those whose ``NEIGHBOURS`` nearest drawings of other voters include
    ``AGREE`` with the same label from ``AGREE_VOTERS`` voters or more."""
    keep = np.ones(len(labels), bool)
    if reading is None or not len(labels):
        return keep
    flat = x.reshape(len(x), -1).astype(np.float32) / 255.0
    norms = (flat ** 2).sum(axis=1)
    owner = np.array([v is None for v in voters])
    doubted = np.flatnonzero((reading != labels) & ~owner)
    if not len(doubted):
        return keep
    distances = norms[doubted, None] + norms[None, :] - 2.0 * flat[doubted] @ flat.T
    voter_ids = np.array(["\0owner" if v is None else v for v in voters], dtype=object)
    for row, i in zip(distances, doubted):
        others = np.flatnonzero(voter_ids != voter_ids[i])
        nearest = others[np.argsort(row[others], kind="stable")[:NEIGHBOURS]]
        agreeing = nearest[labels[nearest] == labels[i]]
        keep[i] = len(agreeing) >= AGREE and len(set(voter_ids[agreeing])) >= AGREE_VOTERS
    return keep


_readings: dict[tuple, np.ndarray] = {}
_readings_lock = threading.Lock()


def current_reading(rows: Sequence[Any], root: Path | None = None) -> np.ndarray | None:
    """The current model's digit for each row's image (None when there is no
    model); computed once per model file and set of drawings."""
    from model.lab import store

    current = store.current_run(root)
    if current is None or not current.path.exists():
        return None
    stat = current.path.stat()
    digest = hashlib.sha256(b"".join(r.image for r in rows)).hexdigest()
    key = (str(current.path.resolve()), stat.st_mtime_ns, stat.st_size, digest)
    with _readings_lock:
        if key in _readings:
            return _readings[key]
    from model.data.preprocess import scale_images
    from model.serving.predict import load_classifier, predict_batch

    images = np.stack([np.frombuffer(r.image, np.uint8).reshape(28, 28) for r in rows])
    reading = predict_batch(load_classifier(current.path, own=True), scale_images(images)).argmax(axis=1)
    with _readings_lock:
        if len(_readings) > 8:
            _readings.clear()
        _readings[key] = reading
    return reading


# --- when a retraining starts by itself -------------------------------------------------


def new_corrections(created_after: float, root: Path | None = None) -> int:
    """The new corrections (training part, saved after ``created_after``) that
    count towards a retraining: at most ``TRAIN_PER_VOTER`` a voter, the
    owner's imports all; none from visitors until ``min_voters`` voters sent some."""
    import sqlalchemy as sa

    from model.lab import db

    pol = policy()
    t = db.drawings
    with db.connect(root) as conn:
        sessions = conn.execute(sa.select(t.c.session).where(t.c.held_out.is_(False),
                                                             t.c.created_at > created_after)).scalars().all()
    per_voter: dict[str, int] = {}
    imports = 0
    for stored in sessions:
        who = identity.voter(stored, pol.by_address)
        if who is None:
            imports += 1
        else:
            per_voter[who] = per_voter.get(who, 0) + 1
    if not pol.count_voters:
        return imports + sum(per_voter.values())
    if len(per_voter) < pol.min_voters:
        return imports
    return imports + sum(min(n, TRAIN_PER_VOTER) for n in per_voter.values())


# --- the gate's check of digit pairs --------------------------------------------------------

VISITORS_JUMP = (3, 0.2)  # (at least, share of the digit's drawings): the visitors' held-out drawings
TRUSTED_JUMP = (2, 0.1)  # the owner's imported held-out drawings
MNIST_JUMP = (10, 0.01)  # MNIST's test set


def _pairs(labels: np.ndarray, read: np.ndarray) -> np.ndarray:
    """(10, 10) counts of each digit (row) read as each digit (column)."""
    out = np.zeros((10, 10), np.int64)
    np.add.at(out, (labels.astype(np.int64), read.astype(np.int64)), 1)
    return out


def confusion_jump(labels: np.ndarray, voters: Sequence[str | None], before: np.ndarray, after: np.ndarray,
                   mnist: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> str | None:
    """One line naming the digit pair whose confusion the challenger (``after``)
    raises past the limit on a held-out group, or None. The groups: the
    visitors' drawings (a pair's jump counted without the voter who adds most
    to it, so one address can neither cause nor fake it alone), the owner's
    (voter None), and MNIST's test set (``mnist``: labels, before, after)."""
    labels, before, after = np.asarray(labels), np.asarray(before), np.asarray(after)
    owner = np.array([v is None for v in voters], bool)
    visitors = sorted({v for v in voters if v is not None})
    if visitors:
        jumps = np.stack([np.maximum(_pairs(labels[m], after[m]) - _pairs(labels[m], before[m]), 0)
                          for m in (np.array([v == name for v in voters]) for name in visitors)])
        robust = jumps.sum(axis=0) - jumps.max(axis=0)
        found = _worst(robust, np.bincount(labels[~owner], minlength=10), *VISITORS_JUMP)
        if found:
            a, b, n = found
            return f"reads {n} more of the visitors' held-out {a}s as {b} (besides the one visitor adding most)"
    if owner.any():
        jump = _pairs(labels[owner], after[owner]) - _pairs(labels[owner], before[owner])
        found = _worst(jump, np.bincount(labels[owner], minlength=10), *TRUSTED_JUMP)
        if found:
            a, b, n = found
            return f"reads {n} more of the owner's held-out {a}s as {b}"
    if mnist is not None:
        y, old, new = (np.asarray(a) for a in mnist)
        found = _worst(_pairs(y, new) - _pairs(y, old), np.bincount(y, minlength=10), *MNIST_JUMP)
        if found:
            a, b, n = found
            return f"reads {n} more of MNIST's test {a}s as {b}"
    return None


def _worst(jump: np.ndarray, per_digit: np.ndarray, at_least: int, share: float) -> tuple[int, int, int] | None:
    """The (digit, read as, by how many) whose jump passes ``max(at_least, share * that digit's count)``."""
    np.fill_diagonal(jump := jump.copy(), 0)
    limit = np.maximum(at_least, share * per_digit)[:, None]
    over = np.argwhere(jump >= limit)
    if not len(over):
        return None
    a, b = max(over.tolist(), key=lambda ab: jump[ab[0], ab[1]])
    return int(a), int(b), int(jump[a, b])


def thin_margin(better: int, worse: int, held: tuple[float, float]) -> bool:
    """Too narrow a win to promote without the owner: a single net vote, or under half a point."""
    return better - worse < 2 or held[1] - held[0] < 0.005
