"""Training on every local GPU at once, and on one device (or none) as before.

    from model.training.distribute import strategy, strategy_scope
    with strategy_scope():                 # MirroredStrategy with 2+ GPUs, else nothing
        model = build_model(config)
        compile_model(model, config, steps_per_epoch)
    model.fit(dataset, ...)                # each batch is split between the replicas

With two or more GPUs, ``strategy()`` is a ``tf.distribute.MirroredStrategy``
over them: every GPU holds a copy of the weights, takes a slice of each batch
(the batch size stays the *global* batch size) and the gradients are summed
across GPUs before every update. With fewer, it is TensorFlow's default
strategy and ``strategy_scope()`` does nothing, so the same code runs
everywhere. The model must be built and compiled inside the scope; ``fit``
may be called anywhere.

Two compile settings that speed up one device break under a MirroredStrategy
(Keras 3.15, TensorFlow 2.21, seen with two logical CPUs): ``steps_per_execution
> 1`` fails at the first step ("You must feed a value for placeholder tensor
...", keras-team/keras#19246), and XLA (``jit_compile=True``) fails with
"Trying to access resource ... located in device CPU:1 from device CPU:0".
Keras' own ``jit_compile="auto"`` turns XLA off under tf.distribute too.
``compile_overrides(model)`` says what to pass instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_mirrored = None  # one MirroredStrategy per process: models built in it must stay with it


def local_gpus() -> list[str]:
    """Names of the GPUs TensorFlow sees here (logical devices), e.g. ``/device:GPU:0``."""
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices("GPU")]


def strategy():
    """A ``MirroredStrategy`` over the local GPUs when there are 2 or more
    (the same one on every call), else ``tf.distribute.get_strategy()``: the
    default strategy, or the one whose scope the caller is already in."""
    global _mirrored
    import tensorflow as tf

    gpus = local_gpus()
    if len(gpus) < 2:
        return tf.distribute.get_strategy()
    if _mirrored is None:
        _mirrored = tf.distribute.MirroredStrategy(gpus)
    return _mirrored


def is_distributed(s=None) -> bool:
    """True for a strategy that is not TensorFlow's default one (it places
    variables and splits batches); ``s`` defaults to ``strategy()``."""
    import tensorflow as tf

    s = strategy() if s is None else s
    return isinstance(s, tf.distribute.Strategy) and type(s).__name__ != "_DefaultDistributionStrategy"


@contextlib.contextmanager
def strategy_scope(s=None) -> Iterator[Any]:
    """``with strategy_scope() as s:`` enter ``s`` (default ``strategy()``) for
    building and compiling models; for the default strategy this is a no-op
    (``contextlib.nullcontext``). Yields the strategy."""
    s = strategy() if s is None else s
    scope = s.scope() if is_distributed(s) else contextlib.nullcontext()
    with scope:
        yield s


def compile_overrides(model) -> dict[str, Any]:
    """Arguments of ``model.compile`` that must change for a model built in a
    distribution strategy's scope: ``{"steps_per_execution": 1, "jit_compile":
    False}`` there, ``{}`` for a model on the default strategy."""
    import tensorflow as tf

    model_strategy = getattr(model, "distribute_strategy", None)
    if tf.distribute.has_strategy() or (model_strategy is not None and is_distributed(model_strategy)):
        return {"steps_per_execution": 1, "jit_compile": False}
    return {}
