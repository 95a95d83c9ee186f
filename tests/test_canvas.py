"""What the Draw page's canvas sends (model.lab.canvas): its PNG decoded or
refused in one line, the browser's reading taken only when it is one, and a
tapped correction saved once, as the server itself preprocessed it."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from conftest import drawn_digit, tiny_model
from PIL import Image

from model.data.preprocess import DrawingError, canvas_to_mnist
from model.lab import canvas, drawings
from model.serving.predict import predict_proba

SEVEN = drawn_digit([[(60, 60), (220, 60), (120, 240)]])


def data_url(rgba: np.ndarray, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format=fmt)
    return f"data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"


def test_a_canvas_png_decodes_to_its_pixels():
    assert (canvas.decode_png(data_url(SEVEN)) == SEVEN).all()


@pytest.mark.parametrize("url, words", [
    (None, "did not arrive as a PNG"),
    ("data:image/jpeg;base64,AAAA", "did not arrive as a PNG"),
    ("data:image/png;base64," + "A" * canvas.MAX_PNG_CHARS, "did not arrive as a PNG"),
    ("data:image/png;base64,not base64!", "did not arrive as a PNG"),
    ("data:image/png;base64," + base64.b64encode(b"\x89PNG but not").decode(), "not a PNG image"),
    ("data:image/png;base64," + base64.b64encode(bytes(range(256)) * 4).decode(), "not a PNG image"),  # random bytes
    (data_url(SEVEN[..., :3], "BMP"), "not a PNG image"),
    (data_url(SEVEN)[:22 + 200], "not a readable PNG image"),  # a PNG cut short
    (data_url(np.zeros((1100, 20, 4), np.uint8)), "not a canvas-sized PNG"),
])
def test_a_bad_drawing_is_refused_in_one_line(url, words):
    """Issue 37: random bytes once got "cannot identify image file <_io.BytesIO object at 0x7f42...>"."""
    with pytest.raises(DrawingError, match=words) as caught:
        canvas.decode_png(url)
    message = str(caught.value)
    assert "\n" not in message and "0x" not in message and "<" not in message and "object" not in message


def test_the_message_for_random_bytes_names_no_object_of_the_servers():
    import os

    url = "data:image/png;base64," + base64.b64encode(os.urandom(300)).decode()
    with pytest.raises(DrawingError) as caught:
        canvas.decode_png(url)
    assert str(caught.value) == "the drawing is not a PNG image"
    # the negative control: what Pillow itself says names its object, the message this replaced
    from PIL import UnidentifiedImageError

    with pytest.raises(UnidentifiedImageError, match="BytesIO object at 0x"):
        Image.open(io.BytesIO(os.urandom(300)))


def test_the_browsers_reading_is_taken_only_when_it_is_one():
    good = [0.01] * 9 + [0.91]
    assert canvas.valid_probs(good).argmax() == 9
    for bad in (None, good[:9], [*good[:9], float("nan")], [*good[:9], 1.5], [*good[:9], "0.9"], tuple(good),
                [0.5] * 10, [0.0] * 10, [True] + [0.0] * 9):  # issue 37: probabilities that don't sum to 1
        assert canvas.valid_probs(bad) is None
    image = np.arange(784, dtype=np.uint8).reshape(28, 28)
    text = base64.b64encode(image.tobytes()).decode()
    np.testing.assert_allclose(canvas.browser_seen(text), image / 255.0, atol=1e-7)
    for bad in (None, text[:-8], "not base64!", "A" * (canvas.MAX_SEEN_CHARS + 4)):
        assert canvas.browser_seen(bad) is None


def test_a_tapped_correction_is_saved_once_as_the_server_saw_it(lab_dir):
    model = tiny_model((28, 28))
    tap = {"client_id": "tap-1", "label": 7, "png": data_url(SEVEN), "probs": [0.1] * 10}
    row, label = canvas.save_correction(tap, model, model_name="m", session="s")
    again, _ = canvas.save_correction(tap, model, model_name="m", session="s")  # a retried tap
    assert label == 7 and again == row and drawings.counts().n == 1
    kept = drawings.list_drawings()[0]
    server_image = np.round(canvas_to_mnist(SEVEN) * 255).astype(np.uint8)
    assert np.abs(kept.image.astype(int) - server_image).max() <= 1  # the server's preprocessing, not the browser's
    np.testing.assert_allclose(kept.probs, [0.1] * 10, atol=1e-6)  # the browser's valid reading is kept
    # A tap without a valid reading (none, or ten numbers that don't sum to 1): the server's model
    # reads the drawing, and the drawing is saved (issue 37: such a tap was refused).
    for n, bad in enumerate(("?", [0.5] * 10)):
        row2, _ = canvas.save_correction({**tap, "client_id": f"tap-{n + 2}", "probs": bad}, model, model_name="m",
                                         session="s")
        second = next(d for d in drawings.list_drawings() if d.id == row2)
        np.testing.assert_allclose(second.probs, predict_proba(model, canvas_to_mnist(SEVEN)), atol=1e-4)
    with pytest.raises(drawings.DrawingRefused, match="sum to 1"):  # the negative control: the row's own check
        drawings.save(canvas_to_mnist(SEVEN), 7, probs=[0.5] * 10)


@pytest.mark.parametrize("change, error", [
    ({"client_id": ""}, drawings.DrawingRefused),
    ({"client_id": "x" * 65}, drawings.DrawingRefused),
    ({"label": 10}, drawings.DrawingRefused),
    ({"png": "data:image/png;base64,"}, DrawingError),
])
def test_a_bad_tap_saves_nothing(lab_dir, change, error):
    tap = {"client_id": "tap-1", "label": 7, "png": data_url(SEVEN), "probs": None} | change
    with pytest.raises(error):
        canvas.save_correction(tap, tiny_model((28, 28)), model_name="m", session="s")
    assert drawings.counts().n == 0
