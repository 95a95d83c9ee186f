"""Tune: a KerasTuner search over architectures and hyperparameters, scored on
a validation split, then the best settings trained for real."""

from __future__ import annotations

import streamlit as st

from model.config import ARCHITECTURES, OPTIMIZERS, ConfigError
from model.limits import current_limits
from model.tune import SearchSpace, TuningError, search
from pages.shared import train_with_progress, use_app_navigation


def space_widgets() -> tuple[SearchSpace, int, int, int]:
    a, b, c = st.columns(3)
    architectures = a.multiselect("Architectures", ARCHITECTURES, ["mlp"], format_func=str.upper, key="t_arch")
    optimizers = a.multiselect("Optimizers", OPTIMIZERS, ["adam", "sgd"], format_func=str.upper, key="t_opt")
    low, high = b.select_slider("Learning rate range", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
                                value=(3e-4, 3e-2), key="t_lr")
    batch_sizes = b.multiselect("Batch sizes", [32, 64, 128, 256], [64, 128], key="t_batch")
    trials = c.number_input("Trials", 1, 50, 4, key="t_trials")
    epochs = c.number_input("Epochs a trial", 1, 20, 1, key="t_epochs")
    subset = c.number_input("Training images (fewer: faster)", 5_000, 60_000, 20_000, 5_000, key="t_subset")
    if not architectures or not optimizers or not batch_sizes:
        raise ConfigError("choose at least one architecture, optimizer and batch size")
    space = SearchSpace(architectures=tuple(architectures), optimizers=tuple(optimizers),
                        learning_rate=(low, high), batch_sizes=tuple(batch_sizes))
    return space, int(trials), int(epochs), int(subset)


@st.cache_resource(show_spinner=False)
def training_images():
    from model.data import load_mnist

    return load_mnist()[0]


def run_search(space: SearchSpace, trials: int, epochs: int, subset: int):
    bar = st.progress(0.0, text="Starting the search…")
    rows = st.empty()
    done: list[dict] = []

    def progress(row: dict) -> None:
        done.append(row)
        bar.progress(min(1.0, len(done) / trials), text=f"Trial {len(done)}/{trials} finished")
        rows.dataframe(done, hide_index=True)

    x, y = training_images()
    return search(space, max_trials=trials, epochs=epochs, data=(x[:subset], y[:subset]), progress=progress)


def page() -> None:
    st.title("Tune")
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
    if st.button("Search", type="primary", key="search"):
        try:
            st.session_state.search_result = run_search(space, trials, epochs, subset)
        except (ConfigError, TuningError) as exc:
            st.error(f"The search failed: {exc}")
    result = st.session_state.get("search_result")
    if result is None:
        return
    st.subheader("Results")
    st.dataframe(result.table, hide_index=True)
    st.success(f"Best: {result.best_config.describe()} · validation accuracy {result.best_val_accuracy:.2%}")
    if st.button("Train the best settings on all the training data", key="train_best"):
        st.session_state.last_result = train_with_progress(result.best_config)
        st.success(f"Saved as `{st.session_state.last_result.path}`: test accuracy "
                   f"{st.session_state.last_result.metrics['test_accuracy']:.2%}")


use_app_navigation()
page()
