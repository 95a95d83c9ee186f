"""Ensembles: kept models combined into one that averages their probabilities.

    from model.training.ensemble import combine
    model = combine([model_a, model_b])        # one plain Keras model

Kept runs are combined and kept as a run by ``model.lab.ensembles``
(``python -m model ensemble RUN RUN [RUN ...]``).

The ensemble is ONE ordinary Keras functional model: a single input (28, 28, 1),
each member's own layers copied into the graph (``model.serving.graph.copy_graph``:
renamed ``m<i>_<name>``, with their weights) after a ``Reshape`` to that member's input shape, and a
``keras.layers.Average`` of the members' probabilities. No custom layer, no
``Lambda``, no nested model: it loads with ``model.serving.predict.load_classifier``,
exports to ``.keras``, ``.h5`` and TFLite (``model.serving.export.export_model``), and
every page sees its layers (the first member's first layer, the last member's
penultimate layer and last convolution).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from model.serving.contract import InvalidModelError
from model.serving.graph import copy_graph

INPUT_SHAPE = (28, 28, 1)


class EnsembleError(ValueError):
    """The runs can't be combined (too few, missing, unusable); the message says why."""


def combine(models: Sequence[Any]):
    """One Keras model whose output is the average of ``models``' outputs
    (each a digit classifier: input (784,), (28, 28) or (28, 28, 1), 10
    probabilities). The members are not changed: their layers are copied,
    weights included. Raises ``EnsembleError`` for fewer than 2 models."""
    import keras

    from model.serving.predict import check_classifier

    models = list(models)
    if len(models) < 2:
        raise EnsembleError(f"an ensemble needs at least 2 models, got {len(models)}")
    image = keras.Input(shape=INPUT_SHAPE, name="image")
    outputs = []
    for i, member in enumerate(models):
        try:
            check_classifier(member)
        except InvalidModelError as exc:
            raise EnsembleError(f"model {i + 1} can't be a member: {exc}") from None
        shape = tuple(member.input_shape[1:])
        # "adapt{i}": no copied layer's name ("m{i}_" + its own) can be the same
        x = image if shape == INPUT_SHAPE else keras.layers.Reshape(shape, name=f"adapt{i}")(image)
        outputs.append(copy_graph(member, x, prefix=f"m{i}_"))
    probabilities = keras.layers.Average(name="average")(outputs)
    return keras.Model(image, probabilities, name=f"ensemble_of_{len(models)}")

