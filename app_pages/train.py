"""Train: every hyperparameter as a widget, a Train button, live progress."""

from __future__ import annotations

import streamlit as st

from app_pages.ensemble_view import ensemble_section
from app_pages.guard import guarded, run_page
from app_pages.models import kept_models_section, model_line
from app_pages.session import kept
from app_pages.training_view import show_training, start_training
from model.lab import models, pace
from model.lab.limits import Limits, current_limits
from model.training.config import (
    ACTIVATIONS,
    ARCHITECTURES,
    DEFAULT_LEARNING_RATES,
    MAX_EPOCHS,
    OPTIMIZERS,
    PRECISIONS,
    PRESETS,
    SCHEDULES,
    ConfigError,
    TrainConfig,
    parse_sizes,
)
from model.training.estimate import CONFIRM_S, human


def hyperparameters(base: TrainConfig, tag: str) -> TrainConfig:
    """The widgets, starting from ``base``; ``tag`` keys them, so choosing
    another preset resets them; the session keeps their values from page to
    page. Raises ConfigError for a bad combination."""
    def key(name: str) -> str:
        return kept(f"{name}:{tag}")

    left, middle, right = st.columns(3)
    architecture = left.selectbox("Architecture", ARCHITECTURES, ARCHITECTURES.index(base.architecture),
                                  format_func=str.upper, key=key("architecture"),
                                  help="MLP: the seed's dense network. CNN: convolution blocks, then dense layers.")
    hidden = left.text_input("Dense layer sizes", ",".join(map(str, base.hidden_units)), key=key("hidden"),
                             help="Hidden layers, comma-separated (may be empty); 10 softmax outputs follow.")
    cnn = architecture == "cnn"
    filters = left.text_input("Conv filters", ",".join(map(str, base.conv_filters)), disabled=not cnn,
                              key=key("filters"), help="One block (3x3 convolutions, then max-pool) per number.")
    convs = left.number_input("Convolutions a block", 1, 3, base.convs_per_block, disabled=not cnn,
                              key=key("convs"))
    kernel = left.selectbox("Kernel size", (3, 5), (3, 5).index(base.kernel_size), disabled=not cnn,
                            key=key("kernel"))
    padding = left.selectbox("Padding", ("same", "valid"), ("same", "valid").index(base.padding),
                             disabled=not cnn, key=key("padding"), help="valid trims the borders: cheaper.")
    activation = left.selectbox("Activation", ACTIVATIONS, ACTIVATIONS.index(base.activation),
                                key=key("activation"))
    optimizer = middle.selectbox("Optimizer", OPTIMIZERS, OPTIMIZERS.index(base.optimizer),
                                 format_func=str.upper, key=key("optimizer"))
    default_lr = base.lr if optimizer == base.optimizer else DEFAULT_LEARNING_RATES[optimizer]
    learning_rate = middle.number_input("Learning rate", min_value=0.0, max_value=10.0, value=default_lr,
                                        step=0.001, format="%g", key=key(f"lr:{optimizer}"),
                                        help="Starts at the preset's rate, or the optimizer's Keras default.")
    schedule = middle.selectbox("Learning-rate schedule", SCHEDULES, SCHEDULES.index(base.schedule),
                                key=key("schedule"), help="one cycle: warm up over 30% of the steps, then anneal.")
    momentum = middle.number_input("Momentum (SGD)", 0.0, 0.99, base.momentum, 0.1, disabled=optimizer != "sgd",
                                   key=key("momentum"))
    nesterov = middle.checkbox("Nesterov (SGD)", base.nesterov, disabled=optimizer != "sgd", key=key("nesterov"))
    # No min/max on these two: a value out of range is not silently replaced by the
    # old one (what a bounded number_input does); TrainConfig refuses it, in words.
    batch_size = right.number_input("Batch size", value=base.batch_size, step=1, key=key("batch"),
                                    help="1 to 60,000 images a step.")
    epochs = right.number_input("Epochs", value=base.epochs, step=1, key=key("epochs"),
                                help=f"1 to {MAX_EPOCHS} passes over the training images.")
    seed = right.number_input("Random seed", 0, 2**31 - 1, base.seed, key=key("seed"),
                              help="Same settings and seed give the same model.")
    precision = right.selectbox("Precision", PRECISIONS, PRECISIONS.index(base.precision), key=key("precision"),
                                help="bfloat16: layers compute in bfloat16 while training, about 1.5x as fast "
                                     "on CPUs with native bfloat16 (AVX512-BF16, AMX); the saved model is float32. "
                                     "auto: bfloat16 where the CPU has it, float32 elsewhere (the same recipe "
                                     "everywhere; the run says which it used).")
    with st.expander("Regularization, augmentation, validation"):
        c1, c2, c3 = st.columns(3)
        dropout = c1.slider("Dropout", 0.0, 0.9, base.dropout, 0.05, key=key("dropout"))
        batch_norm = c1.checkbox("Batch normalization", base.batch_norm, key=key("batch_norm"))
        l2 = c2.number_input("L2 weight decay", 0.0, 0.1, base.l2, 1e-4, format="%g", key=key("l2"))
        weight_decay = c2.number_input("AdamW weight decay", 0.0, 0.5, base.weight_decay, 1e-3, format="%g",
                                       disabled=optimizer != "adamw", key=key("weight_decay"))
        augment = c2.slider("Augmentation strength", 0.0, 1.0, base.augment, 0.1, key=key("augment"),
                            help="Random shifts, rotations and zoom while training; 0 is off.")
        stroke_augment = c2.slider("Pen augmentation", 0.0, 1.0, base.stroke_augment, 0.1, key=key("pen"),
                                   help="Thicker and thinner strokes, slant and wobble while training, so the "
                                        "model reads drawings as well as MNIST's scans; 0 is off.")
        label_smoothing = c3.slider("Label smoothing", 0.0, 0.5, base.label_smoothing, 0.05,
                                    key=key("smoothing"), help="Train towards 1 - s for the true digit (s/10 for each digit) "
                                         "instead of 1: a less over-confident model. 0 is off.")
        validation_split = c3.slider("Validation split", 0.0, 0.3, base.validation_split, 0.05,
                                     key=key("validation"))
        early_stopping = c3.number_input("Early-stopping patience (0 = off)", 0, 50, base.early_stopping,
                                         key=key("patience"))
        drawings_weight = c1.number_input(
            "Saved drawings weight (0 = off)", 0, 100, base.drawings_weight, key=key("drawings"),
            help="Add the drawings saved on the Draw page (all but their held-out fifth) to MNIST's training "
                 "set, each repeated this many times (3: measured in bench/drawings.py); augmented like the rest.")
    return TrainConfig(
        architecture=architecture, hidden_units=parse_sizes(hidden), conv_filters=parse_sizes(filters),
        convs_per_block=int(convs), kernel_size=kernel, padding=padding, activation=activation,
        optimizer=optimizer, learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
        weight_decay=weight_decay, schedule=schedule, batch_size=int(batch_size), epochs=int(epochs),
        dropout=dropout, batch_norm=batch_norm, l2=l2, augment=augment, stroke_augment=stroke_augment,
        label_smoothing=label_smoothing, precision=precision,
        validation_split=validation_split, early_stopping=int(early_stopping), seed=int(seed),
        drawings_weight=int(drawings_weight))


def page() -> None:
    st.title("Train")
    st.caption("Defaults are the classic recipe: MLP 784-128-128-10, ReLU, softmax, SGD, "
               "categorical cross-entropy, batch 32, 3 epochs (about 94% test accuracy).")
    limits = current_limits()
    if limits.demo:
        st.info(f"Public demo: at most {limits.max_epochs} epochs and {limits.max_units} units a layer; "
                "trainings run one at a time in the background, and yours becomes your model, not other "
                "visitors'.", icon=":material/public:")
    model_line()
    preset = st.selectbox("Preset", list(PRESETS), key=kept("preset"),
                          format_func=lambda name: f"{name}: {PRESETS[name].describe()}")
    # The Train button and what it starts sit here, above the settings: where the
    # eye is when the page opens, whatever the screen's height.
    action = st.container()
    try:
        config = hyperparameters(PRESETS[preset], preset)
        limits.check(config)
    except ConfigError as exc:
        action.error(f"Check the settings: {exc}. Nothing can be trained until it is fixed.",
                     icon=":material/error:")
        return
    with action:
        train_action(config, limits)
    kept_models_section()
    ensemble_section()


BASIS = {  # what the estimate stands on (models.training_estimate), said after it
    "history": "",
    "probe": " Timed from a few of this network's steps, measured here.",
    "guess": " It is a first guess: no network of this kind and size was trained on this machine yet, "
             "and it may be twice as long or half.",
}


@st.fragment(run_every=1.0)
@guarded
def measured_soon(config: TrainConfig) -> None:
    """While the network's pace is measured (a few seconds): says so, and
    reruns the page once it is in (with the measured estimate, or to start its
    probe when another network's ran first)."""
    if pace.busy():
        st.caption(":material/timer: Measuring this network's pace on this machine (a few seconds)…")
    else:
        st.rerun()


def train_action(config: TrainConfig, limits: Limits) -> None:
    """The settings in one line, the time to expect, the Train button, the job."""
    trained_before = models.is_kept(config)
    seconds, basis = models.training_estimate(config, kept=trained_before)
    if trained_before:
        st.markdown(f"**{config.describe()}** · already trained: instant (the kept run is reused)")
    else:
        measuring = basis == "guess" and pace.measure(config)
        line = models.wait_in_line(workers=limits.workers)  # the jobs before it: the wait includes them
        queued = f", {human(line)} of it in line behind the jobs before it" if line >= 1 else ""
        st.markdown(f"**{config.describe()}** · expected wait on this machine: {human(seconds + line)}{queued}, "
                    f"from the click to the result (starting TensorFlow, loading the data, training, scoring, "
                    f"saving).{BASIS[basis]}")
        if measuring:
            measured_soon(config)
        load = models.busy()
        if load is not None:
            st.caption(f":material/warning: The machine is busy (load {load[0]:.1f} on {load[1]} cores): "
                       "trainings run at the lowest priority, so this one may take several times longer.")
    if limits.job_seconds and seconds > limits.job_seconds:
        st.warning(f"That would take {human(seconds)}, more than the {limits.job_seconds // 60} minutes a job "
                   "may run in this public demo: choose fewer epochs, a larger batch or a smaller network.",
                   icon=":material/timer:")
        return
    confirmed = seconds <= CONFIRM_S or st.checkbox(f"Yes, train for {human(seconds)}", key="confirm_long")
    if st.button("Train", type="primary", key="train", disabled=not confirmed):
        start_training(config, "train_job")
    show_training("train_job")


run_page(page)
