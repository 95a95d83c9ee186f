"""A hyperparameter search's trials as a table, one row a trial: for the
command line (``model.cli.tune``, aligned text) and the Tune page (in words).

    from model.cli.trials import results_frame
    frame = results_frame(result.table, best=result.best_trial)   # a pandas DataFrame
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from model.training.tune import HYPERPARAMETERS, OBJECTIVE


def results_frame(table: Sequence[dict[str, Any]], best: str | None = None):
    """The results as a pandas ``DataFrame``, one row a trial: the
    hyperparameters that varied (those that never did are left out), the
    score and the time, ``status`` only if some trial did not complete, and
    the best trial's id marked with ``*``."""
    import pandas as pd

    frame = pd.DataFrame(list(table), columns=["trial", "status", *HYPERPARAMETERS, OBJECTIVE, "seconds"])
    varied = [n for n in HYPERPARAMETERS if frame[n].astype(str).nunique(dropna=False) > 1]
    columns = ["trial", *varied, OBJECTIVE, "seconds"]
    if (frame["status"] != "COMPLETED").any():
        columns.append("status")
    frame = frame[columns].copy()
    frame["trial"] = [f"{t}*" if t == best else str(t) for t in frame["trial"]]
    return frame
