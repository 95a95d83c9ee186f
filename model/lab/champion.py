"""Which kept run serves as the current model: a new one replaces the
current model only when it scores at least as well on MNIST's test set (or
there is none yet); otherwise it is kept beside it until someone says "Use
this model". One rule for a visitor's training (``models.settle``, called by
the pages once it is done) and for the demo's stronger model trained in the
background (``jobs.ensure_upgrade``).

    from model.lab import champion
    outcome = champion.settle("abc123")   # better, or no model yet: made current
    outcome.made_current, outcome.previous
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.lab import store


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
