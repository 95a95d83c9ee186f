"""What the lab calls a digit classifier: any Keras model with one input of
shape (784,), (28, 28) or (28, 28, 1) (``model.data.inputs``) and 10 softmax
outputs, in a file of at most ``MAX_MODEL_BYTES``. Every check that refuses a
file raises ``InvalidModelError``.
"""

from __future__ import annotations

MAX_MODEL_BYTES = 200 * 1024 * 1024


class InvalidModelError(ValueError):
    """The file is not a usable, safe digit classifier; the message says why."""
