"""Tune: a KerasTuner search over architectures and hyperparameters, scored on
a validation split, then the best settings trained for real."""

from __future__ import annotations

import math

import streamlit as st

from app_pages.guard import run_page
from app_pages.jobs_view import job_ended, job_progress, live, watch
from app_pages.models import model_line
from app_pages.session import kept, session_id
from app_pages.training_view import show_training, start_training
from model.cli.trials import results_frame
from model.lab import jobs, models
from model.lab.limits import current_limits
from model.training.config import ARCHITECTURES, OPTIMIZERS, ConfigError, TrainConfig
from model.training.estimate import human
from model.training.tune import OBJECTIVE, SearchSpace

# the results table's columns (model.cli.trials), in words
COLUMNS = {"trial": "Trial", OBJECTIVE: "Validation accuracy", "seconds": "Time", "status": "Status",
           "architecture": "Architecture", "hidden_units": "Hidden units", "conv_filters": "Conv filters",
           "optimizer": "Optimizer", "learning_rate": "Learning rate", "momentum": "Momentum", "dropout": "Dropout",
           "batch_size": "Batch size", "activation": "Activation", "batch_norm": "Batch normalization"}


def space_widgets() -> tuple[SearchSpace, int, int, int]:
    a, b, c = st.columns(3)
    architectures = a.multiselect("Architectures", ARCHITECTURES, ["mlp"], format_func=str.upper, key=kept("t_arch"))
    optimizers = a.multiselect("Optimizers", OPTIMIZERS, ["adam", "sgd"], format_func=str.upper, key=kept("t_opt"))
    low, high = b.select_slider("Learning rate range", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
                                value=(3e-4, 3e-2), key=kept("t_lr"))
    batch_sizes = b.multiselect("Batch sizes", [32, 64, 128, 256], [64, 128], key=kept("t_batch"))
    trials = c.number_input("Trials", 1, 50, 4, key=kept("t_trials"))
    epochs = c.number_input("Epochs a trial", 1, 20, 1, key=kept("t_epochs"))
    subset = c.number_input("Training images (fewer: faster)", 5_000, 60_000, 20_000, 5_000, key=kept("t_subset"))
    if not architectures or not optimizers or not batch_sizes:
        raise ConfigError("choose at least one architecture, optimizer and batch size")
    space = SearchSpace(architectures=tuple(architectures), optimizers=tuple(optimizers),
                        learning_rate=(low, high), batch_sizes=tuple(batch_sizes))
    return space, int(trials), int(epochs), int(subset)


def page() -> None:
    st.title("Tune")
    model_line()
    st.caption("A random search with KerasTuner: each trial trains on the training images less a 10% "
               "validation split, which scores it. The test set is kept for the final model.")
    if not current_limits().tuning:
        st.info("Hyperparameter search is off in this public demo: it would keep the server busy for minutes.")
        return
    try:
        space, trials, epochs, subset = space_widgets()
    except ConfigError as exc:
        st.error(f"Check the search space: {exc}")
        return
    seconds = models.estimate_search(space, trials, epochs, subset)
    st.markdown(f"Expected time on this machine: {human(seconds)} ({trials} trial{'s' if trials != 1 else ''} of "
                f"{epochs} epoch{'s' if epochs != 1 else ''} on {int(subset * 0.9):,} images, and starting "
                "TensorFlow); the same search again reuses its finished trials at once.")
    if st.button("Search", type="primary", key="search"):
        start_search(space, trials, epochs, subset)
    job_id = st.session_state.get("search_job")
    if job_id is None or live(job_progress, job_id):
        return
    job = jobs.get(job_id)
    if job is not None and job.status != "done":
        job_ended(job)
    elif job is not None:
        results(job.result)


def start_search(space: SearchSpace, trials: int, epochs: int, subset: int) -> None:
    search = {"space": space.to_dict(), "trials": trials, "epochs": epochs, "subset": subset}
    try:
        job = jobs.submit_search(search, f"search of {trials} trial{'s' if trials != 1 else ''}", session_id())
    except jobs.QueueFull as exc:
        st.error(f"Not started: {exc}", icon=":material/error:")
        return
    jobs.ensure_runner()
    watch(job)
    st.session_state.search_job = job.id


def significant(value, digits: int = 3) -> str:
    """A number in ``digits`` significant digits (0.0296, 0.416, 64); "—" for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.{digits}g}"


def results_table(result: dict):
    """The trials, the score first and the best trial highlighted (named
    "best"), headed in words, numbers in three significant digits, "—" where
    a trial had no such setting (momentum for Adam)."""
    best_trial = result.get("best_trial")
    frame = results_frame(result["table"], best_trial)
    frame = frame[[OBJECTIVE, "seconds", *[c for c in frame.columns if c not in (OBJECTIVE, "seconds")]]].copy()
    best = frame["trial"].str.endswith("*")
    frame["trial"] = ["best" if b else t for t, b in zip(frame["trial"], best)]
    numbers = {COLUMNS[c]: significant for c in frame.columns if c not in (OBJECTIVE, "seconds", "trial", "status")}
    frame = frame.rename(columns=COLUMNS)
    return frame.style.apply(lambda row: ["background-color: #dafbe1; font-weight: 600" if best[row.name]
                                          else "" for _ in row], axis=1) \
        .format({COLUMNS[OBJECTIVE]: "{:.2%}", COLUMNS["seconds"]: "{:.1f} s", **numbers}, na_rep="—")


def results(result: dict) -> None:
    st.subheader("Results")
    if result.get("reused"):
        st.info("This search ran before with the same settings: its trials were reused, nothing was retrained.")
    best = TrainConfig.from_dict(result["best_config"])
    st.success(f"Best: {best.describe()} · validation accuracy {result['best_val_accuracy']:.2%} "
               "(the row marked best below)")
    st.dataframe(results_table(result), hide_index=True)
    if st.button("Train the best settings on all the training data", key="train_best",
                 help="Like the Train button: the result becomes the current model, mnist_model.h5, if it scores "
                      "at least as well as the current one; else you choose."):
        start_training(best, "tune_train_job")
    show_training("tune_train_job")


run_page(page)
