"""What the Draw page's canvas sends the server, checked before anything uses it.

The canvas (``app_pages/draw_canvas``) sends a settled drawing as a PNG data
URL and, when the browser read it, the ten probabilities and the 28x28 image
its model saw; a tap on a digit chip sends the same with the right digit and
the browser's id for the tap. All of it comes from a stranger's browser: a bad
PNG is refused with a one-line ``DrawingError``, a bad browser reading is
ignored (the server then reads the drawing itself), and what is saved is
always the server's own preprocessing of the PNG, never the browser's image.

    from model.lab import canvas
    rgba = canvas.decode_png(drawing["png"])
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
from typing import Any

import numpy as np

from model.data.preprocess import DrawingError, canvas_to_mnist
from model.lab import drawings, identity
from model.lab.limits import Limits

MAX_PNG_CHARS = 400_000  # a 280x280 drawing's data URL is 2-10 kB
MAX_SEEN_CHARS = 2_000  # base64 of 784 bytes is 1,048 characters
log = logging.getLogger("mnist_lab")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode_png(url: Any) -> np.ndarray:
    """The RGBA pixels of a ``data:image/png;base64,...`` URL from the canvas.
    Anything else is refused in one line that names no object of the server's."""
    from PIL import Image

    if not isinstance(url, str) or not url.startswith("data:image/png;base64,") or len(url) > MAX_PNG_CHARS:
        raise DrawingError("the drawing did not arrive as a PNG image")
    try:
        raw = base64.b64decode(url.split(",", 1)[1], validate=True)
    except binascii.Error:
        raise DrawingError("the drawing did not arrive as a PNG image (its data is not base64)") from None
    if not raw.startswith(PNG_SIGNATURE):
        raise DrawingError("the drawing is not a PNG image")
    try:
        with Image.open(io.BytesIO(raw), formats=["PNG"]) as img:
            if max(img.size) > drawings.MAX_CANVAS_SIDE:
                raise DrawingError("the drawing is not a canvas-sized PNG image")
            return np.asarray(img.convert("RGBA"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, DrawingError):
            raise
        log.info("an unreadable PNG from a canvas: %s", exc)  # the details stay in the server's log
        raise DrawingError("the drawing is not a readable PNG image") from None


def read_png(url: Any) -> tuple[np.ndarray, np.ndarray]:
    """(RGBA pixels, the server's 28x28 image) of the canvas's PNG data URL."""
    rgba = decode_png(url)
    return rgba, canvas_to_mnist(rgba)


def server_reading(model, image: np.ndarray) -> list[float]:
    """The server's reading of the 28x28 ``image``, for a canvas that reads on
    the server: the ten probabilities, rounded for the canvas's message."""
    from model.serving.predict import predict_proba

    return [round(float(p), 6) for p in predict_proba(model, image)]


def valid_probs(probs: Any) -> np.ndarray | None:
    """The browser's 10 probabilities, if they are that: numbers in [0, 1]
    summing to 1 (else None: the server reads the drawing itself)."""
    if not isinstance(probs, list) or len(probs) != 10:
        return None
    if not all(isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) and 0.0 <= p <= 1.0
               for p in probs):
        return None
    if abs(math.fsum(probs) - 1.0) > 1e-3:
        return None
    return np.asarray(probs, dtype=np.float32)


def browser_seen(text: Any) -> np.ndarray | None:
    """The 28x28 image the browser's model read (base64 of 784 bytes), to
    show it, or None if it is not that."""
    if not isinstance(text, str) or len(text) > MAX_SEEN_CHARS:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    if len(raw) != 784:
        return None
    return np.frombuffer(raw, dtype=np.uint8).reshape(28, 28).astype(np.float32) / 255.0


def save_correction(tap: dict[str, Any], model, *, model_name: str | None, session: str | None,
                    limits: Limits | None = None, address: str | None = None) -> tuple[int, int]:
    """Keep a tapped drawing with the digit the visitor chose; returns (row id,
    label). The 28x28 image stored is the server's preprocessing of the tap's
    PNG; the probabilities are the browser's if valid, else ``model``'s; the
    tap's ``client_id`` makes a retried tap one row. ``address``: the client
    address the app sees (plain data; ``app_pages.session.client_address``):
    the row records its keyed hash with the session (``identity.contributor``),
    for the budgets and votes that count addresses (``model.lab.learning``).
    Raises ``DrawingRefused``, ``DrawingsFull``, ``DrawingError`` or
    ``db.DatabaseUnavailable`` (nothing saved)."""
    client_id = tap.get("client_id")
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 64:
        raise drawings.DrawingRefused("the tap carried no valid id")
    label = drawings.check_label(tap.get("label"))
    rgba, image = read_png(tap.get("png"))
    probs = valid_probs(tap.get("probs"))
    if probs is None:
        from model.serving.predict import predict_proba

        probs = predict_proba(model, image)
    row = drawings.save(image, label, canvas=rgba, probs=probs, model=model_name,
                        session=identity.contributor(session, address), limits=limits, client_id=client_id)
    return row, label
