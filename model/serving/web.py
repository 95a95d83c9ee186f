"""A classifier for the visitor's browser: the TensorFlow Lite file that the
Draw page runs with LiteRT.js, one drawing at a time.

    from model.serving.web import to_web_tflite, web_input_shape
    data = to_web_tflite(model)          # bytes of a .tflite whose input is [1, 784] or [1, 28, 28(, 1)]
    web_input_shape(model)               # that input shape, for the page

It is the inference pass of ``model.serving.export.to_tflite`` (float32,
dropout off, batch norm with its moving averages) with the batch pinned to 1:
LiteRT.js 2.5 refuses a model whose input has a dynamic batch ([-1, 784]:
"does not match expected ranked tensor type"), which is what the download for
phones has. It is written out through ``keras.export.ExportArchive`` (an
endpoint calling ``model(x, training=False)`` on a [1, ...] float32 tensor)
and converted from that SavedModel: converting the endpoint's concrete
function directly gave a 3.5 kB file without weights whose outputs were NaN.
Any model the lab can load converts, ensembles too (their ``Average`` of
members is an ordinary graph op).
"""

from __future__ import annotations

import tempfile

from model.logs import first_line
from model.serving.export import ExportError, _quiet


def web_input_shape(model) -> list[int]:
    """The input shape of the browser's model: [1, *the Keras model's input shape]."""
    shape = [int(d) for d in model.input_shape[1:]]
    return [1, *shape]


def to_web_tflite(model) -> bytes:
    """A float32 TFLite flatbuffer of ``model``'s inference pass for one
    image: input ``web_input_shape(model)``, output [1, 10]. Raises
    ``ExportError`` if the conversion fails."""
    import keras
    import tensorflow as tf

    try:
        with tempfile.TemporaryDirectory(prefix="mnist-web-tflite-") as tmp:
            archive = keras.export.ExportArchive()
            archive.track(model)
            archive.add_endpoint("serve", lambda x: model(x, training=False),
                                 input_signature=[tf.TensorSpec(web_input_shape(model), tf.float32)])
            with _quiet():
                archive.write_out(tmp, verbose=False)
                converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["serve"])
                return bytes(converter.convert())
    except Exception as exc:
        raise ExportError(f"could not convert the model for the browser: {first_line(exc)}") from exc
