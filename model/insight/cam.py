"""Where the evidence for a digit sits, for CNNs: class activation maps
(Grad-CAM and its kin), aligned with the pixels, on any convolutional model
the lab may hold (functional or Sequential, nested, an ensemble), found by
walking the Keras graph.

    from model.insight.cam import grad_cam
    heat = grad_cam(model, image)   # (28, 28) in [0, 1]; NoConvolutionError for an MLP

- ``grad_cam``: HiResCAM on the first block's output, aligned with the
  pixels (why, and the figures: bench/faithfulness.py).
- ``class_activation_map``: other methods (``CAM_METHODS``) and layers
  (``CAM_LAYERS``).
- ``conv_layers``: the model's convolutions (none: no map).

Traced functions are kept on the model object, as ``model.predict`` does,
so a model pays for its tracing once.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from model.data.inputs import one_image
from model.serving.graph import copy_graph, kept
from model.serving.predict import target_digit

CONVOLUTIONS = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")
# Layers that act on each position alone (what a convolution's features pass through before
# pooling), and those that keep positions where they are (identities at inference too).
POINTWISE = ("Activation", "BatchNormalization", "LayerNormalization", "ReLU", "LeakyReLU", "ELU", "PReLU",
             "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
             "ActivityRegularization")
KEEP_POSITIONS = POINTWISE + ("Rescaling", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomFlip")
SPATIAL = CONVOLUTIONS + ("MaxPooling2D", "AveragePooling2D")
CAM_METHODS = ("layercam", "hirescam", "gradcam", "gradcam++")
CAM_LAYERS = ("early", "block", "last", "all")


class NoConvolutionError(ValueError):
    """The model has no convolution (Grad-CAM needs one)."""


# --- the graph -------------------------------------------------------------------------


def _kind(layer) -> str:
    return type(layer).__name__


def _single(get):
    """A layer's single input or output tensor, None for a layer called more than once."""
    try:
        return get()
    except (AttributeError, ValueError):
        return None


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history is not None else None


def _consumers(model) -> dict[int, list]:
    """For each tensor (by id), the layers that take it as their only input."""
    consumers: dict[int, list] = {}
    for layer in model.layers:
        x = _single(lambda layer=layer: layer.input)
        if x is not None and not isinstance(x, (list, tuple, dict)):
            consumers.setdefault(id(x), []).append(layer)
    return consumers


def _inlined(model):
    """``model`` itself, or, when it holds models as layers (an upload may
    nest a Sequential in a functional model), one flat functional copy of it
    with the same weights, in which every convolution's output is a tensor of
    the graph; made once and kept on the model."""
    def make():
        import keras

        if not any(isinstance(layer, keras.Model) for layer in model.layers):
            return model
        x = keras.Input(tuple(model.input_shape[1:]), name="image")
        return keras.Model(x, copy_graph(model, x, flatten=True), name=f"{model.name}_inlined")
    return kept(model, "_mnist_lab_inlined", make)


def conv_layers(model) -> list:
    """The model's convolutions, those of models nested in it included."""
    return [layer for layer in _inlined(model).layers if _kind(layer) in CONVOLUTIONS]


def _feature_maps(model) -> list[tuple[str, object]]:
    """Every convolution's feature maps (name, tensor) in network order, after
    what acts on them position by position (batch norm, activation, dropout),
    following the graph (a branch of an ensemble is followed within itself)."""
    consumers = _consumers(model)
    found = []
    for conv in conv_layers(model):
        x = _single(lambda conv=conv: conv.output)
        if x is None:
            continue  # a convolution called twice: no single map to show
        while True:
            nxt = consumers.get(id(x), [])
            if len(nxt) != 1 or _kind(nxt[0]) not in POINTWISE:
                break
            x = nxt[0].output
        found.append((conv.name, x))
    if not found:
        raise NoConvolutionError("Grad-CAM needs a convolutional model; this one has no convolution")
    return found


def _axis_map(layer, axis: int) -> tuple[float, float] | None:
    """Where output position o of ``layer`` is centred in its input, o -> s*o + c
    along ``axis`` (0 rows, 1 columns); None if not known."""
    config = layer.get_config()
    if _kind(layer) in ("MaxPooling2D", "AveragePooling2D"):
        k = config["pool_size"][axis]
        s = (config["strides"] or config["pool_size"])[axis]
        d = 1
    else:
        k, s = config["kernel_size"][axis], config["strides"][axis]
        d = config.get("dilation_rate", (1, 1))[axis]
    if config.get("data_format", "channels_last") != "channels_last":
        return None
    span = (k - 1) * d + 1
    pad = 0
    if config["padding"] == "same":
        n = layer.input.shape[1 + axis]
        if n is None:
            return None
        pad = max((-(-n // s) - 1) * s + span - n, 0) // 2
    return float(s), (span - 1) / 2 - pad


def _alignment(model, tensor) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Map position o (row or column) of ``tensor`` -> centre a*o + b in the
    28x28 image, per axis, walking back to the model's input through
    convolutions, poolings, paddings, crops and layers that keep positions;
    None when a layer on the way is not one of these (then: stretched)."""
    maps = [[1.0, 0.0], [1.0, 0.0]]
    inputs = {id(t) for t in model.inputs}
    x = tensor
    while id(x) not in inputs:
        layer = _producer(x)
        if layer is None:
            return None
        kind = _kind(layer)
        if kind == "InputLayer":
            break
        for axis in (0, 1):
            a, b = maps[axis]
            if kind in SPATIAL:
                step = _axis_map(layer, axis)
                if step is None:
                    return None
                s, c = step
                maps[axis] = [s * a, s * b + c]
            elif kind == "ZeroPadding2D":
                maps[axis] = [a, b - layer.get_config()["padding"][axis][0]]
            elif kind == "Cropping2D":
                maps[axis] = [a, b + layer.get_config()["cropping"][axis][0]]
            elif kind in KEEP_POSITIONS or kind == "Reshape":
                pass
            else:
                return None
        x = _single(lambda layer=layer: layer.input)
        if x is None or isinstance(x, (list, tuple, dict)):
            return None
        if kind == "Reshape" and tuple(x.shape[1:3]) != tuple(layer.output.shape[1:3]):
            if id(x) in inputs and tuple(layer.output.shape[1:3]) == (28, 28):
                break  # the flat (784,) input made an image again
            return None
    if tuple(x.shape[1:3]) not in ((28, 28),) and id(x) not in inputs:
        return None
    return (maps[0][0], maps[0][1]), (maps[1][0], maps[1][1])


def _resampler(n: int, a: float, b: float) -> np.ndarray:
    """(28, n): bilinear weights of map positions for each image pixel, the
    pixel y taking position (y - b) / a (clamped at the map's edges)."""
    src = np.clip((np.arange(28) - b) / a, 0, n - 1)
    low = np.floor(src).astype(int)
    high = np.minimum(low + 1, n - 1)
    frac = src - low
    r = np.zeros((28, n), np.float32)
    r[np.arange(28), low] += 1 - frac
    r[np.arange(28), high] += frac
    return r


def _resamplers(model, tensor) -> tuple[np.ndarray, np.ndarray, float]:
    """The (28, h) and (28, w) resampling matrices of a map, and its scale
    (image pixels per map position)."""
    h, w = int(tensor.shape[1]), int(tensor.shape[2])
    aligned = _alignment(model, tensor)
    if aligned is None:  # stretched over the image, as tf.image.resize does
        aligned = ((28 / h, (28 / h - 1) / 2), (28 / w, (28 / w - 1) / 2))
    (ay, by), (ax, bx) = aligned
    return _resampler(h, ay, by), _resampler(w, ax, bx), ay


def _scores(model):
    """The tensors the class scores come from, and how: the logits (before the
    softmax) where the model gives them, member by member for an average of
    models (model.training.ensemble), else the log-probabilities."""
    import keras
    import tensorflow as tf

    def logits_of(tensor):
        layer = _producer(tensor)
        if isinstance(layer, keras.layers.Dense) and getattr(layer.activation, "__name__", "") == "softmax":
            bias = layer.bias if layer.use_bias else 0.0
            return layer.input, lambda h, k=layer.kernel, b=bias: tf.matmul(h, k) + b
        if (isinstance(layer, keras.layers.Softmax) or
                (isinstance(layer, keras.layers.Activation) and getattr(layer.activation, "__name__", "") == "softmax")):
            return layer.input, lambda h: h
        return None

    out = model.outputs[0]
    last = _producer(out)
    parts = [logits_of(out)]
    if parts[0] is None and isinstance(last, keras.layers.Average):
        parts = [logits_of(t) for t in last.input]
    if any(p is None for p in parts):
        return [out], lambda ps: tf.math.log(ps[0] + 1e-9)
    fns = [fn for _, fn in parts]
    return [t for t, _ in parts], lambda hs: tf.add_n([fn(h) for fn, h in zip(fns, hs)]) / len(fns)


class _Maps(NamedTuple):
    names: list[str]  # one a convolution, in network order
    resamplers: list[tuple[np.ndarray, np.ndarray]]  # (28, h), (28, w): convolutions', then poolings'
    scales: list[float]  # image pixels per map position, one a convolution
    ancestors: list[set[int]]  # the convolutions before each
    pooled: dict[int, int]  # convolution -> index (in fn's list) of the pooling right after it
    fn: Any  # fn(image, target) -> [(maps (h, w, c), gradients (h, w, c))]: convolutions', then poolings'


def _maps_and_gradients(model) -> _Maps:
    """Every convolution's feature maps and the class score's gradients with
    respect to them (and to the pooling that directly follows a convolution,
    if one does), in one traced call."""
    def make():
        import keras
        import tensorflow as tf

        flat = _inlined(model)
        found = _feature_maps(flat)
        consumers = _consumers(flat)
        pools = []
        for i, (_, t) in enumerate(found):
            after = consumers.get(id(t), [])
            if len(after) == 1 and _kind(after[0]) in ("MaxPooling2D", "AveragePooling2D"):
                pools.append((i, after[0].output))
        maps = [t for _, t in found] + [t for _, t in pools]
        tensors, to_scores = _scores(flat)
        inner = keras.Model(flat.inputs[0], maps + tensors)
        shape = tuple(model.input_shape[1:])
        n = len(maps)

        @tf.function(input_signature=[tf.TensorSpec((28, 28), tf.float32), tf.TensorSpec((), tf.int32)])
        def fn(x, t):
            with tf.GradientTape() as tape:
                out = inner(tf.reshape(x, (1, *shape)), training=False)
                out = list(out) if isinstance(out, (list, tuple)) else [out]
                score = to_scores(out[n:])[0, t]
            grads = tape.gradient(score, out[:n])
            return [(a[0], g[0]) for a, g in zip(out[:n], grads)]

        sampling = [_resamplers(flat, t) for t in maps]
        return _Maps([name for name, _ in found], [(ry, rx) for ry, rx, _ in sampling],
                     [scale for _, _, scale in sampling[:len(found)]], _ancestors(flat, found),
                     {i: len(found) + k for k, (i, _) in enumerate(pools)}, fn)
    return kept(model, "_mnist_lab_cam_maps", make)


def _combine(method: str, a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """A low-resolution map (h, w) from feature maps and their gradients (h, w, c)."""
    if method == "layercam":
        return np.maximum((np.maximum(g, 0) * a).sum(axis=-1), 0)
    if method == "hirescam":
        return np.maximum((g * a).sum(axis=-1), 0)
    if method == "gradcam":
        return np.maximum((a * g.mean(axis=(0, 1))).sum(axis=-1), 0)
    if method == "gradcam++":
        g2, g3 = g ** 2, g ** 3
        denominator = 2 * g2 + (a.sum(axis=(0, 1)) * g3)
        alpha = g2 / np.where(denominator != 0, denominator, 1)
        weights = (alpha * np.maximum(g, 0)).sum(axis=(0, 1))
        return np.maximum((a * weights).sum(axis=-1), 0)
    raise ValueError(f"unknown method {method!r}; expected one of {', '.join(CAM_METHODS)}")


def _ancestors(model, found) -> list[set[int]]:
    """For each map of ``found``, the indices of the maps before it (walking
    back through single-input layers to the model's input)."""
    index = {id(t): i for i, (_, t) in enumerate(found)}
    result = []
    for _, t in found:
        before, x = set(), t
        layer = _producer(x)
        while layer is not None and _kind(layer) != "InputLayer":
            x = _single(lambda layer=layer: layer.input)
            if x is None or isinstance(x, (list, tuple, dict)):
                break
            if id(x) in index:
                before.add(index[id(x)])
            layer = _producer(x)
        result.append(before)
    return result


def _choose(layer: str, scales: list[float], ancestors: list[set[int]]) -> list[int]:
    """Which maps make the picture. "last": the convolutions no other follows
    (the last one; one per member of an ensemble). "early": in each chain, the
    last convolution at its finest resolution (before the first pooling or
    stride: the first block's last convolution, 24x24 for the presets; one per
    member of an ensemble). "all": every convolution."""
    n = len(scales)
    if layer == "all":
        return list(range(n))
    descendants = [{j for j in range(n) if i in ancestors[j]} for i in range(n)]
    if layer == "last":
        return [i for i in range(n) if not descendants[i]]

    def close(a: float, b: float) -> bool:
        return a <= b * 1.01

    return [i for i in range(n)
            if all(close(scales[i], scales[j]) for j in ancestors[i])  # nothing shrank the maps before it
            and not any(close(scales[j], scales[i]) for j in descendants[i])]  # the last at that resolution


def class_activation_map(model, image: np.ndarray, target: int | None = None, method: str = "hirescam",
                         layer: str = "block", input_weighted: bool = False) -> np.ndarray:
    """Where the evidence for ``target`` (default: the predicted digit) sits,
    (28, 28) in [0, 1] (peak 1; all 0 if there is none). ``method``: one of
    CAM_METHODS; ``layer``: "early" (the last convolution before the maps first
    shrink, in each branch), "block" (the pooling right after that
    convolution, if one follows it: the first block's output), "last" (each branch's last convolution: classic
    Grad-CAM) or "all" (each convolution's map scaled to peak 1, summed);
    ``input_weighted``: times the image (evidence on the ink only). Raises
    ``NoConvolutionError`` (a ``ValueError``) for a model with no convolution."""
    import tensorflow as tf

    if layer not in CAM_LAYERS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(CAM_LAYERS)}")
    image = one_image(image)
    target = target_digit(model, image, target)
    maps = _maps_and_gradients(model)
    pairs = [(a.numpy(), g.numpy()) for a, g in maps.fn(tf.constant(image), tf.constant(target, tf.int32))]
    heat = np.zeros((28, 28), np.float32)
    for i in _choose("early" if layer == "block" else layer, maps.scales, maps.ancestors):
        if layer == "block":
            i = maps.pooled.get(i, i)  # the pooling's output: the same evidence, summed over each window
        ry, rx = maps.resamplers[i]
        m = ry @ _combine(method, *pairs[i]) @ rx.T
        if layer == "all":
            m = m / m.max() if m.max() > 0 else m
        heat += m
    if input_weighted:
        heat = heat * image
    peak = heat.max()
    return (heat / peak if peak > 0 else np.zeros_like(heat)).astype(np.float64)


def grad_cam(model, image: np.ndarray, target: int | None = None) -> np.ndarray:
    """Where the evidence for ``target`` (default: the predicted digit) sits,
    (28, 28) in [0, 1]: HiResCAM on the first block's output, aligned with
    the pixels (why, and the figures: bench/faithfulness.py). Raises
    ``NoConvolutionError`` (a ``ValueError``) for a model with no convolution."""
    return class_activation_map(model, image, target, method="hirescam", layer="block")
