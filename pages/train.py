"""Train: every hyperparameter as a widget, a Train button, live progress."""

from __future__ import annotations

import streamlit as st

from model.config import (ACTIVATIONS, ARCHITECTURES, DEFAULT_LEARNING_RATES, MAX_EPOCHS, OPTIMIZERS,
                          SCHEDULES, ConfigError, TrainConfig)
from model.limits import current_limits
from pages.shared import show_history, train_with_progress

DEFAULT = TrainConfig()


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise ConfigError(f"layer sizes must be whole numbers separated by commas, got {text!r}") from None


def hyperparameters() -> TrainConfig:
    """The widgets; raises ConfigError for a bad combination."""
    left, middle, right = st.columns(3)
    architecture = left.selectbox("Architecture", ARCHITECTURES, format_func=str.upper,
                                  help="MLP: the seed's dense network. CNN: convolutions, then dense layers.")
    hidden = left.text_input("Dense layer sizes", ",".join(map(str, DEFAULT.hidden_units)),
                             help="Hidden layers, comma-separated; 10 softmax outputs follow.")
    filters = left.text_input("Conv filters", ",".join(map(str, DEFAULT.conv_filters)),
                              disabled=architecture != "cnn", help="One 3x3 conv + max-pool block per number.")
    activation = left.selectbox("Activation", ACTIVATIONS)
    optimizer = middle.selectbox("Optimizer", OPTIMIZERS, format_func=str.upper)
    learning_rate = middle.number_input("Learning rate", min_value=0.0, max_value=10.0, format="%g",
                                        value=DEFAULT_LEARNING_RATES[optimizer], step=0.001,
                                        key=f"lr_{optimizer}", help="Starts at the optimizer's Keras default.")
    schedule = middle.selectbox("Learning-rate schedule", SCHEDULES)
    momentum = middle.number_input("Momentum (SGD)", 0.0, 0.99, DEFAULT.momentum, 0.1,
                                   disabled=optimizer != "sgd")
    nesterov = middle.checkbox("Nesterov (SGD)", DEFAULT.nesterov, disabled=optimizer != "sgd")
    batch_size = right.number_input("Batch size", 1, 60_000, DEFAULT.batch_size)
    epochs = right.number_input("Epochs", 1, MAX_EPOCHS, DEFAULT.epochs)
    seed = right.number_input("Random seed", 0, 2**31 - 1, DEFAULT.seed,
                              help="Same settings and seed give the same model.")
    with st.expander("Regularization, augmentation, validation"):
        c1, c2, c3 = st.columns(3)
        dropout = c1.slider("Dropout", 0.0, 0.9, DEFAULT.dropout, 0.05)
        batch_norm = c1.checkbox("Batch normalization", DEFAULT.batch_norm)
        l2 = c2.number_input("L2 weight decay", 0.0, 0.1, DEFAULT.l2, 1e-4, format="%g")
        weight_decay = c2.number_input("AdamW weight decay", 0.0, 0.5, DEFAULT.weight_decay, 1e-3,
                                       format="%g", disabled=optimizer != "adamw")
        augment = c2.slider("Augmentation strength", 0.0, 1.0, DEFAULT.augment, 0.1,
                            help="Random shifts, rotations and zoom while training; 0 is off.")
        validation_split = c3.slider("Validation split", 0.0, 0.3, DEFAULT.validation_split, 0.05)
        early_stopping = c3.number_input("Early-stopping patience (0 = off)", 0, 50, DEFAULT.early_stopping)
    return TrainConfig(
        architecture=architecture, hidden_units=parse_sizes(hidden), conv_filters=parse_sizes(filters),
        activation=activation, optimizer=optimizer, learning_rate=learning_rate, momentum=momentum,
        nesterov=nesterov, weight_decay=weight_decay, schedule=schedule, batch_size=int(batch_size),
        epochs=int(epochs), dropout=dropout, batch_norm=batch_norm, l2=l2, augment=augment,
        validation_split=validation_split, early_stopping=int(early_stopping), seed=int(seed))


def show_result(result) -> None:
    meta = result.meta
    a, b, c = st.columns(3)
    a.metric("Test accuracy", f"{meta['metrics']['test_accuracy']:.2%}")
    b.metric("Test loss", f"{meta['metrics']['test_loss']:.4f}")
    c.metric("Training time", f"{meta['train_seconds']:.1f} s", help="Of the run that trained it.")
    if result.cached:
        st.info("These settings were trained before: the saved run was reused, nothing was retrained.")
    show_history(st, meta["history"])
    st.success(f"Saved as `{result.path}`; it is now the model the Evaluate and Draw pages use.")


def page() -> None:
    st.title("Train")
    st.caption("Defaults are the classic recipe: MLP 784-128-128-10, ReLU, softmax, SGD, "
               "categorical cross-entropy, batch 32, 3 epochs (about 94% test accuracy).")
    limits = current_limits()
    if limits.demo:
        st.info(f"Public demo: at most {limits.max_epochs} epochs and {limits.max_units} units a layer; "
                "trainings run one at a time.", icon="🌐")
    try:
        config = hyperparameters()
        limits.check(config)
    except ConfigError as exc:
        st.error(f"Check the settings: {exc}")
        return
    st.write(f"**{config.describe()}**")
    if st.button("Train", type="primary", key="train"):
        st.session_state.last_result = train_with_progress(config)
    result = st.session_state.get("last_result")
    if result is not None:
        show_result(result)


page()
