"""A trained classifier as the bytes of a file to download: Keras (``.keras``),
legacy HDF5 (``.h5``), or TensorFlow Lite (``.tflite``) for phones and
microcontrollers.

    from model.serving.export import export_model, tflite_predict
    data = export_model(model, "tflite")            # bytes, ready to write or serve
    probs = tflite_predict(data, images)            # (N, 10) from float images (N, 28, 28)

``.keras`` and ``.h5`` bytes open again with ``model.serving.predict.load_classifier``.
A ``.tflite`` file holds the inference graph only (dropout off, batch norm
with its moving averages), in float32: it predicts what the Keras model
predicts, to rounding.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from pathlib import Path

import numpy as np

from model.data.inputs import model_inputs
from model.logs import first_line

FORMATS = {  # format -> (file suffix, MIME type)
    "keras": (".keras", "application/zip"),
    "h5": (".h5", "application/x-hdf5"),
    "tflite": (".tflite", "application/octet-stream"),
}


class ExportError(RuntimeError):
    """The model could not be written in the asked format; the message says why."""


def export_model(model, fmt: str) -> bytes:
    """The bytes of ``model`` saved as ``fmt``: ``"keras"``, ``"h5"`` or ``"tflite"``.
    Raises ``ValueError`` for another format, ``ExportError`` if saving fails."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "tflite":
        return to_tflite(model)
    with tempfile.TemporaryDirectory(prefix="mnist-export-") as tmp:
        path = Path(tmp) / f"model{FORMATS[fmt][0]}"
        try:
            with warnings.catch_warnings():  # Keras calls HDF5 "legacy"; it is still what we want here
                warnings.simplefilter("ignore")
                model.save(path)
        except Exception as exc:
            raise ExportError(f"could not save the model as {fmt}: {first_line(exc)}") from exc
        return path.read_bytes()


def file_name(stem: str, fmt: str) -> str:
    """``stem`` with the suffix of ``fmt``: ``file_name("mnist_model", "tflite")``."""
    return stem + FORMATS[fmt][0]


def to_tflite(model) -> bytes:
    """A float32 TFLite flatbuffer of the model's inference pass.

    ``TFLiteConverter.from_keras_model`` traces the model with
    ``training=False``. If it fails (it has with some Keras 3 releases), the
    inference pass is written out explicitly (``keras.export.ExportArchive``
    with an endpoint calling ``model(x, training=False)``) and converted from
    that SavedModel."""
    import tensorflow as tf

    errors = []
    try:
        return _convert(tf.lite.TFLiteConverter.from_keras_model(model))
    except Exception as exc:
        errors.append(first_line(exc))
    try:
        import keras

        with tempfile.TemporaryDirectory(prefix="mnist-tflite-") as tmp:
            archive = keras.export.ExportArchive()
            archive.track(model)
            archive.add_endpoint("serve", lambda x: model(x, training=False),
                                 input_signature=[tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)])
            with _quiet():
                archive.write_out(tmp, verbose=False)
            converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["serve"])
            return _convert(converter)
    except Exception as exc:
        errors.append(first_line(exc))
    raise ExportError("could not convert the model to TFLite: " + "; ".join(errors))


def _convert(converter) -> bytes:
    with _quiet():
        return bytes(converter.convert())


def tflite_predict(tflite_bytes: bytes, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Probabilities (N, 10) from a TFLite classifier for images (N, 28, 28):
    float in [0, 1], or uint8 0..255 (scaled as in training). The images are
    reshaped to the model's input shape and run ``batch_size`` at a time
    (the input tensor is resized to the batch)."""
    images = np.asarray(images)
    if images.ndim < 2 or int(np.prod(images.shape[1:])) != 784:
        raise ValueError(f"expected images (N, 28, 28), got shape {images.shape}")
    interpreter = _interpreter(tflite_bytes)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    shape = tuple(int(d) for d in inp["shape"][1:])
    x = model_inputs(images, shape)
    results = []
    current = None
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        if len(batch) != current:
            interpreter.resize_tensor_input(inp["index"], [len(batch), *shape])
            interpreter.allocate_tensors()
            current = len(batch)
        interpreter.set_tensor(inp["index"], batch)
        interpreter.invoke()
        results.append(np.array(interpreter.get_tensor(out["index"])))
    return np.concatenate(results) if results else np.zeros((0, 10), np.float32)


def _interpreter(tflite_bytes: bytes):
    """LiteRT's interpreter when installed (``ai-edge-litert``, the successor),
    else TensorFlow's own ``tf.lite.Interpreter``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT replaces it
        warnings.simplefilter("ignore")
        return Interpreter(model_content=bytes(tflite_bytes))


@contextlib.contextmanager
def _quiet():
    """Keras prints a summary of every SavedModel it writes on the way to TFLite
    ("Saved artifact at ..."); keep that and the converter's warnings out of
    the caller's output."""
    import io
    import logging

    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        tf_logger.setLevel(level)
