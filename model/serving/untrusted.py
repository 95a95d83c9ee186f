"""Static checks of a model file from a stranger, before anything is built.

``keras.models.load_model`` trusts the file: it builds whatever layers the
config declares and allocates every weight before it can fail. Measured on
this lab's server: a 600-byte ``.keras`` declaring one huge Dense layer made
Keras allocate 10 GB (47 s); a 1.5 MB ``.keras`` whose ``config.json``
inflates to 1.6 GB took 3.7 GB; a small valid model with an ``UpSampling2D``
needed gigabytes of activations per image. So here, reading only file
metadata and a bounded config, with no TensorFlow:

- the container: zip members' declared sizes and count (before reading any),
  ``config.json`` read with a hard cap on bytes actually decompressed (declared
  sizes can lie); HDF5 attributes' and datasets' declared sizes (never read);
- every class the config names: layers from an explicit allowlist of what a
  digit classifier needs (not "anything in keras.*": ``TFSMLayer`` loads
  files by path), containers, Keras' own initializers, regularizers,
  constraints and dtype policies; nothing that runs code (``Lambda``, custom
  or non-Keras classes, functions other than Keras' activations);
- sizes, by walking the layers from the input shape as Keras would
  (Sequential and Functional, nested too): parameters, units, filters,
  kernels, multiply-adds and the activations each image produces.

The bounds are generous for digit classifiers (the lab's strong CNN has 0.6
million parameters, 21,632 floats in its largest activation and 10 million
multiply-adds an image) and small enough that a checked model loads and is
evaluated on the test set within the sandbox's memory (``model.lab.sandbox``).
Every refusal is an ``InvalidModelError`` naming the user's file.
"""

from __future__ import annotations

import json
import math
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.data.inputs import INPUT_SHAPES
from model.serving.contract import InvalidModelError

MAX_PARAMETERS = 20_000_000  # in all (80 MB of float32): 30x the strong CNN
MAX_UNITS = 100_000  # units of a Dense layer, filters of a convolution
MAX_KERNEL = 64  # side of a kernel, pool, stride or dilation
MAX_ACTIVATION = 4_000_000  # floats one layer outputs for one image (16 MB)
MAX_TOTAL_ACTIVATION = 40_000_000  # floats all layers output for one image
MAX_MACS = 100_000_000  # multiply-adds an image: 10x the strong CNN; the test set then runs in about a minute
MAX_LAYERS = 1_000
MAX_NESTING = 8  # models inside models
MAX_CONFIG_BYTES = 2 * 2**20  # the architecture JSON: 18 KB for the strong CNN
MAX_ZIP_MEMBERS = 64  # Keras writes 3
MAX_WEIGHT_BYTES = 16 * MAX_PARAMETERS  # float32 weights plus optimizer slots
MAX_OTHER_MEMBER_BYTES = 2**20  # metadata.json and the like
MAX_H5_OBJECTS = 20_000  # groups and datasets
MAX_ATTRIBUTE_ELEMENTS = 100_000  # e.g. a group's weight_names

# Layer classes a digit classifier needs. Keras 2 spellings of the same layers
# (legacy .h5 files) are the same names.
SAME_SHAPE_LAYERS = {
    "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "Activation", "ReLU", "LeakyReLU",
    "ELU", "Softmax", "Rescaling", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomFlip",
    "BatchNormalization", "LayerNormalization",
}
MERGE_LAYERS = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}
LAYERS = SAME_SHAPE_LAYERS | MERGE_LAYERS | {
    "InputLayer", "Dense", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D", "AveragePooling2D",
    "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "Reshape", "ZeroPadding2D", "Cropping2D",
    "UpSampling2D",
}
CONTAINERS = {"Sequential", "Functional", "Model"}
# Everything else a config may name: Keras' own building blocks and
# serialization markers (the lab loads with compile=False: optimizers, losses
# and metrics of a compile config are never built).
OTHER_CLASSES = {
    "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
    "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform", "Orthogonal",
    "Identity", "IdentityInitializer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "MaxNorm", "MinMaxNorm",
    "NonNeg", "UnitNorm", "DTypePolicy", "FloatDTypePolicy", "Policy",
    "__keras_tensor__", "__tuple__", "function", "__numpy__", "__bytes__", "__typespec__", "__tensor__",
}
COMPILE_CLASSES = {
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl", "Lion",
    "CosineDecay", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay", "InverseTimeDecay",
    "CosineDecayRestarts", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "MeanSquaredError",
    "CategoricalAccuracy", "SparseCategoricalAccuracy", "Accuracy", "MeanMetricWrapper", "Mean",
}
CODE_CLASSES = {"Lambda", "TFOpLambda", "SlicingOpLambda", "TFLambda", "__lambda__"}
KERAS_FUNCTIONS = {"relu", "sigmoid", "softmax", "tanh", "elu", "selu", "gelu", "linear", "swish",
                   "silu", "softplus", "softsign", "exponential", "leaky_relu", "relu6", "mish",
                   "hard_sigmoid", "hard_silu", "log_softmax", "categorical_crossentropy",
                   "sparse_categorical_crossentropy", "mean_squared_error"}


@dataclass(frozen=True)
class Summary:
    """What the config declares, per image where it says so."""

    input_shape: tuple[int, ...]
    parameters: int
    layers: int
    peak_activation: int  # floats, the largest layer output for one image
    total_activation: int  # floats, all layer outputs for one image
    macs: int  # multiply-adds for one image


def check_file(path: str | Path, name: str | None = None, sizes: bool = True) -> Summary | None:
    """Every static check of the ``.h5`` or ``.keras`` file at ``path``;
    messages call it ``name`` (default: the file's own name). ``sizes=False``
    skips the size bounds (for the lab's own runs, whose sizes its training
    limits already bound) and returns None."""
    path = Path(path)
    name = name or path.name
    try:
        config = read_config(path, name)
        check_classes(config, name)
        return check_sizes(config, name) if sizes else None
    except RecursionError:
        raise InvalidModelError(f"{name}: the model's configuration is nested too deeply") from None


def read_config(path: Path, name: str) -> Any:
    """The model's architecture, read within bounds; weights' declared sizes checked."""
    suffix = path.suffix.lower()
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise InvalidModelError(f"{name}: expected a .h5 or .keras file")
    if path.stat().st_size == 0:
        raise InvalidModelError(f"{name} is empty")
    if suffix == ".keras":
        return _read_keras(path, name)
    return _read_h5(path, name)


def _read_keras(path: Path, name: str) -> Any:
    if not zipfile.is_zipfile(path):
        raise InvalidModelError(f"{name} is not a Keras model file (a .keras file is a zip archive)")
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise InvalidModelError(f"{name} holds {len(members):,} files; a Keras model holds 3")
            for info in members:
                limit = {"config.json": MAX_CONFIG_BYTES, "model.weights.h5": MAX_WEIGHT_BYTES}.get(
                    info.filename, MAX_OTHER_MEMBER_BYTES)
                if info.file_size > limit:
                    raise InvalidModelError(f"{name}: its part {info.filename} unpacks to {info.file_size:,} "
                                            f"bytes; the limit is {limit:,}")
            names = {info.filename for info in members}
            if "config.json" not in names:
                raise InvalidModelError(f"{name} is not a Keras model file (it has no config.json)")
            with z.open("config.json") as f:
                raw = f.read(MAX_CONFIG_BYTES + 1)  # the declared size may lie: cap what is inflated
            if len(raw) > MAX_CONFIG_BYTES:
                raise InvalidModelError(f"{name}: its config.json unpacks to more than {MAX_CONFIG_BYTES:,} "
                                        "bytes; the limit is that")
            if "model.weights.h5" in names:
                with z.open("model.weights.h5") as src, tempfile.TemporaryFile() as copy:
                    _copy_capped(src, copy, MAX_WEIGHT_BYTES, name)
                    copy.seek(0)
                    _check_h5_file(copy, name)
    except InvalidModelError:
        raise
    except Exception as exc:
        raise InvalidModelError(f"{name} is not a readable Keras model file ({_short(exc)})") from None
    return _parse_json(raw, name)


def _copy_capped(src, dst, limit: int, name: str) -> None:
    copied = 0
    while chunk := src.read(2**20):
        copied += len(chunk)
        if copied > limit:
            raise InvalidModelError(f"{name}: its weights unpack to more than {limit:,} bytes")
        dst.write(chunk)


def _read_h5(path: Path, name: str) -> Any:
    import h5py

    if not h5py.is_hdf5(path):
        raise InvalidModelError(f"{name} is not a Keras model file (a .h5 file is an HDF5 file)")
    try:
        with open(path, "rb") as f:
            _check_h5_file(f, name)
            with h5py.File(f, "r") as h5:
                if "model_config" not in h5.attrs:
                    raise InvalidModelError(f"{name} holds weights only, no model architecture")
                raw = h5.attrs["model_config"]  # sizes checked by _check_h5_file
    except InvalidModelError:
        raise
    except Exception as exc:
        raise InvalidModelError(f"{name} is not a readable Keras model file ({_short(exc)})") from None
    if isinstance(raw, str):
        raw = raw.encode()
    if not isinstance(raw, bytes) or len(raw) > MAX_CONFIG_BYTES:
        raise InvalidModelError(f"{name}: its model_config is not a text of at most {MAX_CONFIG_BYTES:,} bytes")
    return _parse_json(raw, name)


def _check_h5_file(fileobj, name: str) -> None:
    """Declared sizes of every attribute and dataset, read from metadata only.
    A variable-length string lives in the file's heap, so it can't be longer
    than the file; fixed-size data is bounded by its declared shape."""
    import h5py

    objects: list[Any] = []
    with h5py.File(fileobj, "r") as f:
        def visit(_key: str, obj: Any) -> None:
            objects.append(obj)
            if len(objects) > MAX_H5_OBJECTS:
                raise InvalidModelError(f"{name} holds more than {MAX_H5_OBJECTS:,} objects")

        objects.append(f)
        f.visititems(visit)
        total = 0
        for obj in objects:
            for attr in obj.attrs:
                aid = obj.attrs.get_id(attr)
                elements = math.prod(aid.shape or ())
                if elements > MAX_ATTRIBUTE_ELEMENTS or elements * aid.dtype.itemsize > MAX_CONFIG_BYTES:
                    raise InvalidModelError(f"{name}: its attribute {attr!r} declares {elements:,} values; "
                                            f"the limit is {MAX_ATTRIBUTE_ELEMENTS:,}")
            if isinstance(obj, h5py.Dataset):
                if obj.dtype.kind not in "biuf":
                    raise InvalidModelError(f"{name}: its dataset {obj.name} does not hold numbers")
                size = math.prod(obj.shape or ()) * obj.dtype.itemsize
                total += size
                if size > 8 * MAX_PARAMETERS or total > MAX_WEIGHT_BYTES:
                    raise InvalidModelError(f"{name}: its weights declare {total:,} bytes; "
                                            f"the limit is {MAX_WEIGHT_BYTES:,}")


def _parse_json(raw: bytes, name: str) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidModelError(f"{name}: its model configuration is not valid JSON ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    from model.logs import first_line

    return first_line(exc)[:160]


# --- classes ----------------------------------------------------------------


def check_classes(config: Any, name: str) -> None:
    """Refuse every class outside the allowlists, and anything that would run
    or import code: Lambda layers, custom objects, non-Keras modules."""
    if not (isinstance(config, dict) and config.get("class_name") in CONTAINERS):
        raise InvalidModelError(f"{name}: the file does not hold a Keras model (Sequential or Functional)")
    _check_layers(config, name, depth=0)
    for node in _walk(config):
        cls = node.get("class_name")
        if not isinstance(cls, str):
            continue
        module, registered = node.get("module"), node.get("registered_name")
        if cls in CODE_CLASSES:
            raise InvalidModelError(f"{name}: the model contains a {cls.strip('_')} layer, which runs code; "
                                    "it is refused")
        if ">" in cls or (isinstance(registered, str) and ">" in registered):
            raise InvalidModelError(f"{name}: the model uses the custom object {registered or cls}; "
                                    "custom code is refused")
        if module is not None and not (isinstance(module, str) and module.split(".")[0] == "keras"):
            raise InvalidModelError(f"{name}: the model uses {cls} from {module!r}, which is not part of Keras; "
                                    "it is refused")
        if cls == "function" and node.get("config") not in KERAS_FUNCTIONS:
            raise InvalidModelError(f"{name}: the model references the function {node.get('config')!r}; "
                                    "it is refused")
        if cls not in LAYERS | CONTAINERS | OTHER_CLASSES | COMPILE_CLASSES:
            raise InvalidModelError(f"{name}: the model uses {cls}, which this lab does not accept in an upload")


def _check_layers(container: dict, name: str, depth: int) -> None:
    """Each layer of a container (and of containers inside it) is allowlisted."""
    if depth > MAX_NESTING:
        raise InvalidModelError(f"{name}: the model nests more than {MAX_NESTING} models")
    layers = _layer_list(container, name)
    for layer in layers:
        cls = layer.get("class_name") if isinstance(layer, dict) else None
        if cls in CONTAINERS:
            _check_layers(layer, name, depth + 1)
        elif cls in CODE_CLASSES:
            raise InvalidModelError(f"{name}: the model contains a {str(cls).strip('_')} layer, which runs code; "
                                    "it is refused")
        elif cls not in LAYERS:
            raise InvalidModelError(f"{name}: the model uses the layer {cls}, which is not one a digit "
                                    "classifier needs; it is refused")


def _layer_list(container: dict, name: str) -> list:
    config = container.get("config")
    layers = config.get("layers") if isinstance(config, dict) else config  # Keras 2.0 Sequential: a list
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise InvalidModelError(f"{name}: the model's configuration has no list of layers")
    if len(layers) > MAX_LAYERS:
        raise InvalidModelError(f"{name}: the model has {len(layers):,} layers; the limit is {MAX_LAYERS:,}")
    return layers


def _walk(node: Any):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


# --- sizes ------------------------------------------------------------------

Shape = tuple[int, ...]


class _Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.parameters = self.layers = self.peak = self.total = self.macs = 0

    def add(self, layer: str, out: Shape, parameters: int = 0, macs: int = 0, hidden: int = 0) -> None:
        """One layer call: its output shape, weights, work and any inner activation."""
        n = self.name
        if parameters > MAX_PARAMETERS:
            raise InvalidModelError(f"{n}: the layer {layer} declares {parameters:,} parameters; "
                                    f"the limit is {MAX_PARAMETERS:,}")
        floats = max(math.prod(out), hidden)
        if floats > MAX_ACTIVATION:
            raise InvalidModelError(f"{n}: the layer {layer} outputs {floats:,} numbers for each image "
                                    f"{_shape_text(out)}; the limit is {MAX_ACTIVATION:,}")
        self.layers += 1
        self.parameters += parameters
        self.macs += macs
        self.peak = max(self.peak, floats)
        self.total += math.prod(out) + hidden
        if self.parameters > MAX_PARAMETERS:
            raise InvalidModelError(f"{n}: the model declares {self.parameters:,} parameters; "
                                    f"the limit is {MAX_PARAMETERS:,}")
        if self.macs > MAX_MACS:
            raise InvalidModelError(f"{n}: the model needs {self.macs:,} multiply-adds for each image "
                                    f"(up to the layer {layer}); the limit is {MAX_MACS:,}")
        if self.total > MAX_TOTAL_ACTIVATION:
            raise InvalidModelError(f"{n}: the model's layers output {self.total:,} numbers for each image "
                                    f"(up to the layer {layer}); the limit is {MAX_TOTAL_ACTIVATION:,}")


def _shape_text(shape: Shape) -> str:
    return "(" + " x ".join(f"{d:,}" for d in shape) + ")"


def check_sizes(config: dict, name: str) -> Summary:
    """Walk the layers from the declared input shape, tallying and bounding
    parameters, work and activations; the input must be a digit image."""
    tally = _Tally(name)
    shape = _container_input_shape(config, name)
    if shape not in INPUT_SHAPES:
        raise InvalidModelError(f"{name}: the model's input shape is {shape}; "
                                "expected (784,), (28, 28) or (28, 28, 1)")
    _run_container(config, shape, tally, depth=0)
    return Summary(input_shape=shape, parameters=tally.parameters, layers=tally.layers,
                   peak_activation=tally.peak, total_activation=tally.total, macs=tally.macs)


def _container_input_shape(container: dict, name: str) -> Shape:
    """The input shape a container declares (batch axis dropped)."""
    config = container.get("config") if isinstance(container.get("config"), dict) else {}
    layers = _layer_list(container, name)
    inputs = [layer for layer in layers if layer.get("class_name") == "InputLayer"]
    if container.get("class_name") != "Sequential" and len(inputs) != 1:
        raise InvalidModelError(f"{name}: the model must have exactly one input and one output")
    candidates = []
    if inputs:
        lc = inputs[0].get("config") or {}
        candidates += [lc.get("batch_shape"), lc.get("batch_input_shape")]
    candidates.append(config.get("build_input_shape"))
    if layers:
        first = layers[0].get("config") or {}
        candidates += [first.get("batch_input_shape"), first.get("batch_shape"),
                       (layers[0].get("build_config") or {}).get("input_shape")]
    for candidate in candidates:
        if candidate is not None:
            return _dims(candidate[1:] if isinstance(candidate, list) else candidate, name, "input")
    raise InvalidModelError(f"{name}: the model does not declare its input shape")


def _run_container(container: dict, shape: Shape, tally: _Tally, depth: int) -> Shape:
    """The output shape of a Sequential or Functional container called on ``shape``."""
    name = tally.name
    if depth > MAX_NESTING:
        raise InvalidModelError(f"{name}: the model nests more than {MAX_NESTING} models")
    layers = _layer_list(container, name)
    if container.get("class_name") == "Sequential":
        for layer in layers:
            if layer.get("class_name") != "InputLayer":
                shape = _call(layer, [shape], tally, depth)
        return shape
    outputs: dict[tuple[str, int], Shape] = {}
    for layer in layers:
        lname = _layer_name(layer)
        if layer.get("class_name") == "InputLayer":
            outputs[(lname, 0)] = shape
            continue
        nodes = layer.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise InvalidModelError(f"{name}: the layer {lname} has unreadable connections")
        for index, node in enumerate(nodes):
            refs = _node_inputs(node)
            missing = [ref for ref in refs if ref not in outputs]
            if not refs or missing:
                raise InvalidModelError(f"{name}: the layer {lname} is connected to a layer that comes "
                                        "later or does not exist")
            outputs[(lname, index)] = _call(layer, [outputs[ref] for ref in refs], tally, depth)
    config = container.get("config") or {}
    out = config.get("output_layers")
    if isinstance(out, list) and out and not isinstance(out[0], list):
        out = [out]
    if not isinstance(out, list) or len(out) != 1:
        raise InvalidModelError(f"{name}: the model must have exactly one input and one output")
    ref = _ref(out[0])
    if ref not in outputs:
        raise InvalidModelError(f"{name}: the model's output is not one of its layers")
    return outputs[ref]


def _layer_name(layer: dict) -> str:
    value = layer.get("name") or (layer.get("config") or {}).get("name")
    return str(value)[:80]


def _ref(ref: Any) -> tuple[str, int]:
    if isinstance(ref, list) and len(ref) >= 2 and isinstance(ref[1], int):
        return str(ref[0])[:80], ref[1]
    return ("", -1)


def _node_inputs(node: Any) -> list[tuple[str, int]]:
    """(layer, node index) of each tensor a call takes: Keras 3 writes
    ``{"args": [...__keras_tensor__...], "kwargs": {...}}``, Keras 2
    ``[[layer, node, tensor, kwargs], ...]``."""
    if isinstance(node, dict):
        return [_ref(t.get("config", {}).get("keras_history")) for t in _walk(node.get("args"))
                if t.get("class_name") == "__keras_tensor__" and isinstance(t.get("config"), dict)]
    if isinstance(node, list):
        return [_ref(item) for item in node]
    return []


def _call(layer: dict, inputs: list[Shape], tally: _Tally, depth: int) -> Shape:
    """Account for one call of ``layer``; its output shape."""
    cls = layer.get("class_name")
    lname = _layer_name(layer)
    if cls in CONTAINERS:
        if len(inputs) != 1:
            raise InvalidModelError(f"{tally.name}: the inner model {lname} must take one input")
        return _run_container(layer, inputs[0], tally, depth + 1)
    cfg = layer.get("config")
    if not isinstance(cfg, dict):
        raise InvalidModelError(f"{tally.name}: the layer {lname} has no configuration")
    try:
        out, parameters, macs, hidden = _layer_shape(cls, cfg, inputs)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError) as exc:
        message = exc.args[0] if isinstance(exc, ValueError) and exc.args else "an unreadable configuration"
        raise InvalidModelError(f"{tally.name}: the layer {lname} has {message}") from None
    if any(d < 1 for d in out):
        raise InvalidModelError(f"{tally.name}: the layer {lname} shrinks the image to nothing")
    tally.add(lname, out, parameters, macs, hidden)  # first: "declares N parameters" says most
    for field in ("units", "filters", "depth_multiplier"):
        if isinstance(cfg.get(field), int) and cfg[field] > MAX_UNITS:
            what = field.replace("_", " ")
            raise InvalidModelError(f"{tally.name}: the layer {lname} declares {cfg[field]:,} {what}; "
                                    f"the limit is {MAX_UNITS:,}")
    return out


def _int(value: Any, what: str, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f"{low:,} to {high:,}" if high is not None else f"at least {low:,}"
        raise ValueError(f"{what} {value!r}; it must be a whole number {bounds}")
    return value


def _dims(values: Any, name: str, what: str) -> Shape:
    if not isinstance(values, list) or not values:
        raise InvalidModelError(f"{name}: the model's {what} shape is missing or unknown")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in values):
        raise InvalidModelError(f"{name}: the model's {what} shape is {tuple(values)}; "
                                "expected (784,), (28, 28) or (28, 28, 1)")
    return tuple(values)


def _pair(value: Any, what: str, high: int = MAX_KERNEL, low: int = 1) -> tuple[int, int]:
    if isinstance(value, list) and len(value) == 2:
        return _int(value[0], what, low, high), _int(value[1], what, low, high)
    v = _int(value, what, low, high)
    return v, v


def _image(shape: Shape, cfg: dict) -> tuple[int, int, int, bool]:
    """(height, width, channels, channels_first) of an image-shaped input."""
    if len(shape) != 3:
        raise ValueError(f"an input of shape {shape}, not an image (height, width, channels)")
    first = cfg.get("data_format") == "channels_first"
    return (shape[1], shape[2], shape[0], True) if first else (shape[0], shape[1], shape[2], False)


def _as_image(h: int, w: int, c: int, first: bool) -> Shape:
    return (c, h, w) if first else (h, w, c)


def _spatial(n: int, k: int, s: int, d: int, padding: Any) -> int:
    if padding == "same":
        return -(-n // s)
    if padding == "valid":
        return (n - d * (k - 1) - 1) // s + 1
    raise ValueError(f"padding {padding!r}")


def _padding(value: Any, what: str) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from an int, a pair, or a pair of pairs."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, list) for v in value):
        (t, b), (l, r) = value
        return tuple(_int(v, what, 0, 10_000) for v in (t, b, l, r))  # type: ignore[return-value]
    h, w = _pair(value, what, high=10_000, low=0)
    return h, h, w, w


def _layer_shape(cls: str, cfg: dict, inputs: list[Shape]) -> tuple[Shape, int, int, int]:
    """(output shape, parameters, multiply-adds, largest inner activation) of one call."""
    x = inputs[0]
    bias = bool(cfg.get("use_bias", True))
    if cls in MERGE_LAYERS:
        if cls == "Concatenate":
            axis = _int(cfg.get("axis", -1), "axis", -len(x), len(x))
            if axis == 0:
                raise ValueError("axis 0, the batch")
            axis = axis - 1 if axis > 0 else axis  # the config counts the batch axis
            out = list(x)
            out[axis] = sum(s[axis] for s in inputs)
            return tuple(out), 0, 0, 0
        return max(inputs, key=math.prod), 0, 0, 0
    if len(inputs) != 1:
        raise ValueError(f"{len(inputs)} inputs")
    if cls in SAME_SHAPE_LAYERS:
        parameters = 0
        if cls in ("BatchNormalization", "LayerNormalization"):
            parameters = (4 if cls == "BatchNormalization" else 2) * x[-1]
        return x, parameters, 0, 0
    if cls == "Dense":
        units = _int(cfg["units"], "units")
        return x[:-1] + (units,), x[-1] * units + units * bias, math.prod(x[:-1]) * x[-1] * units, 0
    if cls == "Flatten":
        return (math.prod(x),), 0, 0, 0
    if cls == "Reshape":
        target = [int(_int(d, "target shape", low=-1)) for d in cfg["target_shape"]]
        if target.count(-1) > 1 or 0 in target:
            raise ValueError(f"target shape {tuple(target)}")
        if -1 in target:
            known = math.prod(d for d in target if d != -1)
            target[target.index(-1)] = math.prod(x) // known
        if math.prod(target) != math.prod(x):
            raise ValueError(f"target shape {tuple(target)} for an input {x}")
        return tuple(target), 0, 0, 0
    h, w, c, first = _image(x, cfg)
    if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return ((1, 1, c) if not first else (c, 1, 1)) if cfg.get("keepdims") else (c,), 0, 0, 0
    if cls == "UpSampling2D":
        sh, sw = _pair(cfg.get("size", 2), "size", high=10**9)
        return _as_image(h * sh, w * sw, c, first), 0, 0, 0
    if cls in ("ZeroPadding2D", "Cropping2D"):
        t, b, l, r = _padding(cfg.get("padding" if cls == "ZeroPadding2D" else "cropping", 1), "padding")
        sign = 1 if cls == "ZeroPadding2D" else -1
        return _as_image(h + sign * (t + b), w + sign * (l + r), c, first), 0, 0, 0
    if cls in ("MaxPooling2D", "AveragePooling2D"):
        ph, pw = _pair(cfg.get("pool_size", 2), "pool size")
        sh, sw = _pair(cfg.get("strides") or [ph, pw], "strides")
        padding = cfg.get("padding", "valid")
        return _as_image(_spatial(h, ph, sh, 1, padding), _spatial(w, pw, sw, 1, padding), c, first), 0, 0, 0
    if cls in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        kh, kw = _pair(cfg["kernel_size"], "kernel size")
        sh, sw = _pair(cfg.get("strides", 1), "strides")
        dh, dw = _pair(cfg.get("dilation_rate", 1), "dilation rate")
        padding = cfg.get("padding", "valid")
        oh, ow = _spatial(h, kh, sh, dh, padding), _spatial(w, kw, sw, dw, padding)
        if cls == "Conv2D":
            filters = _int(cfg["filters"], "filters")
            groups = _int(cfg.get("groups", 1), "groups", high=c)
            per_output = kh * kw * (c // groups)
            return (_as_image(oh, ow, filters, first), per_output * filters + filters * bias,
                    oh * ow * per_output * filters, 0)
        multiplier = _int(cfg.get("depth_multiplier", 1), "depth multiplier")
        depthwise = kh * kw * c * multiplier
        if cls == "DepthwiseConv2D":
            return _as_image(oh, ow, c * multiplier, first), depthwise + c * multiplier * bias, oh * ow * depthwise, 0
        filters = _int(cfg["filters"], "filters")
        pointwise = c * multiplier * filters
        return (_as_image(oh, ow, filters, first), depthwise + pointwise + filters * bias,
                oh * ow * (depthwise + pointwise), oh * ow * c * multiplier)
    raise ValueError(f"a layer class {cls!r} this check does not know")
