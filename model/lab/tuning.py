"""Hyperparameter searches in the lab: kept under ``models/.tuning/<name>/``
in the work folder, one at a time with trainings (the training lock).

    from model.lab.tuning import search
    result = search(SearchSpace(architectures=("mlp",)), max_trials=5, epochs=2)

The search itself is ``model.training.tune``'s; this adds where its trials
live and the locks, except in KerasTuner's distributed mode, where workers
sharing one machine would otherwise run one at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from model.lab import store
from model.training import tune
from model.training.tune import SearchResult


def search(*args: Any, root: Path | None = None, **kwargs: Any) -> SearchResult:
    """``model.training.tune.search`` in the work folder ``root`` (default
    ``MNIST_LAB_DIR``), holding the search's and the training lock."""

    @contextlib.contextmanager
    def locks(directory: Path) -> Iterator[None]:
        if tune.distributed():
            yield
            return
        with store.file_lock(directory.with_name(directory.name + ".lock")), \
                store.file_lock(store.training_lock_path(root)):
            yield

    folder = (root or store.workdir()) / store.RUNS / tune.TUNING
    return tune.search(*args, folder=folder, lock=locks, **kwargs)
