"""Open a saved digit classifier safely, and read digits with it.

    from model.serving.predict import load_classifier, predict_proba
    from model.data.preprocess import canvas_to_mnist
    model = load_classifier("mnist_model.h5")
    probs = predict_proba(model, canvas_to_mnist(canvas_rgba))   # shape (10,)

Any Keras classifier with input (784,), (28, 28) or (28, 28, 1) and 10
softmax outputs loads. Before Keras reads a file, ``model.serving.untrusted`` checks
it statically: only allowlisted layers, nothing that carries code (a ``Lambda``
layer, a custom or non-Keras class), bounded sizes; Keras' own safe mode stays
on as a second guard. Uploads are opened in a child process under memory and
time limits (``model.lab.sandbox``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.data.inputs import INPUT_SHAPES, model_inputs, one_image
from model.logs import first_line
from model.serving.contract import MAX_MODEL_BYTES, InvalidModelError
from model.serving.graph import kept


def load_classifier(path: str | Path, max_bytes: int = MAX_MODEL_BYTES, name: str | None = None,
                    own: bool = False):
    """Load a ``.h5`` or ``.keras`` digit classifier, checked and ready to predict.
    Raises ``InvalidModelError`` (a ``ValueError``) for anything else. The file
    passes ``model.serving.untrusted``'s static checks (allowlisted layers, no code,
    bounded sizes) before Keras reads it; messages call it ``name`` (default:
    its own name, e.g. the upload's name for a temporary copy). ``own=True``
    (a run this lab saved) skips the size bounds: the training limits bound
    those models, and a local MLP may be larger than an upload may be."""
    from model.serving import untrusted

    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise InvalidModelError(f"no model file at {name if name != path.name else path}")
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidModelError(f"{name} is {size / 2**20:.0f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
    untrusted.check_file(path, name, sizes=not own)
    import keras

    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except MemoryError:
        raise
    except Exception as exc:
        if any(word in str(exc) for word in ("MemoryError", "Unable to allocate", "bad_alloc")):
            raise MemoryError(first_line(exc)) from exc  # Keras wraps it; the sandbox reports memory
        message = first_line(exc).replace(str(path), name).replace(path.name, name)
        raise InvalidModelError(f"{name} could not be loaded as a Keras model: {message}") from None
    try:
        check_classifier(model)
    except InvalidModelError as exc:
        raise InvalidModelError(f"{name}: {exc}") from None
    return model


def check_classifier(model) -> None:
    """Input (784,), (28, 28) or (28, 28, 1); 10 outputs that are probabilities."""
    inputs = getattr(model, "inputs", None) or []
    outputs = getattr(model, "outputs", None) or []
    if len(inputs) != 1 or len(outputs) != 1:
        raise InvalidModelError("the model must have exactly one input and one output")
    shape = tuple(model.input_shape[1:])
    if shape not in INPUT_SHAPES:
        raise InvalidModelError(f"the model's input shape is {shape}; expected (784,), (28, 28) or (28, 28, 1)")
    if tuple(model.output_shape[1:]) != (10,):
        raise InvalidModelError(f"the model has output shape {tuple(model.output_shape[1:])}; expected 10 classes")
    probe = np.random.default_rng(0).random((2, 28, 28), dtype=np.float32)
    probs = predict_batch(model, probe)
    if not (np.isfinite(probs).all() and (probs >= -1e-6).all() and np.allclose(probs.sum(axis=1), 1, atol=1e-3)):
        raise InvalidModelError("the model's outputs are not probabilities (is its last layer a softmax?)")


def _forward(model):
    """The model's inference pass as a graph traced once (any batch size) and
    kept on the model: a call costs a tenth of an eager ``model(x)``, whose
    Python dispatch dominates for one image; the numbers are the same."""
    def make():
        import tensorflow as tf

        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        return tf.function(lambda x: model(x, training=False), input_signature=[spec])
    return kept(model, "_mnist_lab_forward", make)


def predict_batch(model, images: np.ndarray) -> np.ndarray:
    """Probabilities (N, 10) for float images (N, 28, 28) in [0, 1], by calling
    the model directly (traced once): for a handful of images this is 20-100x
    faster than Keras' ``model.predict``."""
    return _forward(model)(model_inputs(np.asarray(images, dtype=np.float32), model.input_shape[1:])).numpy()


def predict_proba(model, image: np.ndarray) -> np.ndarray:
    """The 10 class probabilities for one preprocessed 28x28 image in [0, 1]
    (what ``canvas_to_mnist`` returns, or an MNIST image scaled to [0, 1])."""
    return predict_batch(model, one_image(image)[None])[0]


def target_digit(model, image: np.ndarray, target: int | None = None) -> int:
    """``target`` checked as a digit 0-9, or, for None, the digit the model
    reads in ``image`` (what an explanation is of, by default)."""
    if target is None:
        return int(predict_proba(model, image).argmax())
    if not 0 <= int(target) <= 9:
        raise ValueError(f"the target must be a digit 0-9, got {target}")
    return int(target)
