"""A Keras model's graph, worked with: functions traced once and kept on the
model (``kept``), and the model's layers copied onto a new input
(``copy_graph``), which is how ensembles are combined
(``model.training.ensemble``) and nested models flattened for the class
activation maps (``model.insight.cam``).
"""

from __future__ import annotations

from typing import Any


def kept(model, name: str, make):
    """``make()``, made once and kept on the model as ``name`` (not a tracked
    Keras attribute), as ``model.predict`` keeps its traced function."""
    fn = getattr(model, name, None)
    if fn is None:
        fn = make()
        object.__setattr__(model, name, fn)
    return fn


def copy_graph(model, x, prefix: str = "", flatten: bool = False):
    """``model``'s graph applied to the symbolic tensor ``x`` with copies of
    its layers (named ``prefix + name``, same weights; a layer the model calls
    twice stays shared); the output tensor. A model nested in it is copied as
    one layer, or, with ``flatten``, layer by layer (named ``prefix + its
    name + "_" + name``), so that every layer's output is a tensor of the new graph."""
    import keras

    copies: dict[int, Any] = {}

    def op(layer, prefix: str):
        if flatten and isinstance(layer, keras.Model):
            return lambda x, *args, **kwargs: run(layer, x, f"{prefix}{layer.name}_")

        def call(*args, **kwargs):
            new = copies.get(id(layer))
            if new is None:
                config = layer.get_config()
                config["name"] = prefix + layer.name
                new = copies[id(layer)] = type(layer).from_config(config)
                out = new(*args, **kwargs)  # builds it
                new.set_weights(layer.get_weights())
                return out
            return new(*args, **kwargs)
        return call

    def run(m, x, prefix: str):
        graph = getattr(m, "_functional", None) or m  # a built Sequential keeps a functional graph
        if hasattr(graph, "_run_through_graph"):  # Keras 3's own traversal of a functional graph
            return graph._run_through_graph(x, operation_fn=lambda layer: op(layer, prefix))
        for layer in m.layers:  # an unbuilt Sequential: a chain (its layers exclude the InputLayer)
            x = op(layer, prefix)(x)
        return x

    return run(model, x, prefix)
