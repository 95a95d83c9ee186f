"""What each layer of a digit classifier computes, and what the first one
looks for, from the Keras model alone (MLP or CNN, trained here or uploaded).

    from model.insight.layers import first_layer_weights, layer_outputs
    outputs = layer_outputs(model, image)   # layer name -> vector or feature maps (h, w, channels)
    first = first_layer_weights(model)      # a dense layer's 28x28 weights or a convolution's kernels
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.data.inputs import model_inputs, one_image
from model.insight.cam import CONVOLUTIONS
from model.serving.graph import kept


class UnsupportedModelError(ValueError):
    """The model lacks a layer this view needs (a dense or convolutional layer)."""


def layer_outputs(model, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output for one image, by layer name, in network order:
    dense and flat outputs as vectors, convolution and pooling outputs as
    feature maps (h, w, channels)."""
    import keras

    def make():
        layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        return [layer.name for layer in layers], keras.Model(model.inputs[0], [layer.output for layer in layers])

    names, inner = kept(model, "_mnist_lab_layers", make)
    x = model_inputs(one_image(image)[None], model.input_shape[1:])
    outputs = inner(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return {name: np.asarray(out)[0] for name, out in zip(names, outputs)}


def feature_maps(output: np.ndarray) -> np.ndarray:
    """A layer's (h, w, channels) output as channel images (channels, h, w)."""
    return np.moveaxis(np.asarray(output), -1, 0)


@dataclass(frozen=True)
class FirstLayer:
    name: str
    kind: str  # "dense": one 28x28 image of input weights per unit; "conv": one kernel per filter
    images: np.ndarray  # (units, 28, 28) or (filters, k, k)


def first_layer_weights(model) -> FirstLayer:
    """What the first layer looks for: the first dense layer's input weights
    as 28x28 images (one a unit), or the first convolution's kernels (one a
    filter; channels averaged; a separable convolution's depthwise ones),
    whichever comes first."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel = np.asarray(layer.kernel)
            if kernel.shape[0] != 784:
                break  # a dense layer after something else: not an image of weights
            return FirstLayer(layer.name, "dense", kernel.T.reshape(-1, 28, 28))
        if type(layer).__name__ in CONVOLUTIONS:
            spatial = layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel
            kernel = np.asarray(spatial)  # (k, k, in, filters)
            return FirstLayer(layer.name, "conv", kernel.mean(axis=2).transpose(2, 0, 1))
    raise UnsupportedModelError("the model's first layer with weights is neither a dense layer on the "
                                "784 pixels nor a convolution")
