"""What a finished piece of work becomes for the person who asked for it:
decided by the lab where the work ends, never by the page that happens to be open.

One rule for a training, an ensemble and an upload, for the local owner and
a demo visitor alike: the new run becomes its owner's model when it scores at
least as well as the model they have now (or they have none); otherwise it is
kept beside it, and "Use this model" (``choose``) makes it theirs anyway.

Who owns what:
- locally (one person, the owner ``LOCAL_OWNER``): their model is the lab's
  current model (``store.current_run``, ``mnist_model.h5``);
- in the public demo each visitor (their anonymous id) has their own model,
  kept in the lab's database (``db.owners``), so every app server and worker
  sees it; a visitor with none uses the demo model.

A job's process calls ``settle`` as the job ends (``jobs._train``), and the
outcome, with its one-line notice, is stored in the job's result: a visitor
who closed the tab finds it there when they come back.

    from model.lab import outcome
    o = outcome.settle("a3f…", "fd4c49f45da3")    # better: now theirs; worse: kept
    o.adopted, o.notice
    outcome.model_of("a3f…")                     # the key of their model, or None
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from model.lab import champion, db, store
from model.lab.limits import Limits

LOCAL_OWNER = ""  # the person running the lab locally: their model is the current one


@dataclass(frozen=True)
class Outcome:
    key: str
    adopted: bool  # it is now its owner's model
    notice: str  # one line for its owner: what it scored and what became of it
    previous: dict[str, Any] | None  # the owner's model before: {"key", "description", "accuracy"} (None: none)

    @property
    def worse(self) -> bool:
        """Kept beside a better model of its owner's, waiting for "Use this model"."""
        return not self.adopted and self.previous is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Outcome:
        return cls(**{name: d.get(name) for name in cls.__dataclass_fields__})


def owner(session: str | None, limits: Limits) -> str | None:
    """Whose model a piece of work asked for by ``session`` may become: the
    visitor's in the public demo, the lab owner's locally (None: nobody's,
    in the demo without a visitor)."""
    if not limits.demo:
        return LOCAL_OWNER
    return session or None


def model_of(owner: str, root: Path | None = None) -> str | None:
    """The kept run that is ``owner``'s model (None: the lab's default one).
    Locally the current model's key."""
    if owner == LOCAL_OWNER:
        current = store.current_run(root)
        return current.key if current is not None else None
    with db.connect(root) as conn:
        key = conn.execute(sa.select(db.owners.c.model).where(db.owners.c.owner == owner)).scalar()
    if key is not None and store.load_run_meta(key, root) is None:
        return None  # removed since (the demo's disk quota): the default model again
    return key


def _meta_of(owner: str, root: Path | None) -> dict[str, Any] | None:
    """The meta of the model ``owner`` has now: theirs, else the lab's default (None: no model)."""
    key = model_of(owner, root)
    if key is not None:
        return store.load_run_meta(key, root)
    default = store.default_model(root)
    return None if default is None else (default.meta or {})


def choose(owner: str, key: str, root: Path | None = None) -> None:
    """``owner``'s own word ("Use this model"): kept run ``key`` becomes their model."""
    if owner == LOCAL_OWNER:
        store.make_current(key, root)
        return
    values = {"model": key, "updated_at": time.time()}
    with db.begin(root) as conn:
        if conn.execute(db.owners.update().where(db.owners.c.owner == owner).values(**values)).rowcount == 0:
            conn.execute(db.owners.insert().values(owner=owner, **values))


def settle(owner: str, key: str, root: Path | None = None, what: str | None = None) -> Outcome:
    """Run ``key`` has just been made for ``owner``: it becomes their model if
    it scores at least as well as the one they have (or they have none); else
    it is kept. ``what`` names it in the notice (default: its description)."""
    meta = store.load_run_meta(key, root) or {}
    previous = _meta_of(owner, root)
    if previous is not None and previous.get("key") == key:
        previous = None  # it is theirs already (a kept run reused)
    adopted = previous is None or champion.is_better(meta, previous)
    if adopted:
        choose(owner, key, root)
    return Outcome(key, adopted, notice(meta, adopted, previous, what), _summary(previous))


def _summary(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    if meta is None:
        return None
    return {"key": meta.get("key"), "description": meta.get("description", "?"),
            "accuracy": champion.accuracy(meta)}


def notice(meta: dict[str, Any], adopted: bool, previous: dict[str, Any] | None, what: str | None = None) -> str:
    """"Your fast-cnn · seed 11 finished: 99.30%, now your model", in one line."""
    name = what or meta.get("description") or meta.get("key", "?")
    accuracy = champion.accuracy(meta)
    score = f": {accuracy:.2%}" if accuracy is not None else ""
    if adopted:
        return f"Your {name} finished{score}, now your model: the Evaluate and Draw pages use it."
    before = champion.accuracy(previous)
    theirs = f" ({before:.2%})" if before is not None else ""
    return f"Your {name} finished{score}: kept, and your better model{theirs} stays; \"Use this model\" switches."
