"""Draw: a digit on the canvas, read by the current model as you draw.

Every stroke reruns this page, so what it shows must be cheap to make: a
Vega-Lite chart and a small PNG take about a millisecond, where Matplotlib
figures took 200 ms of the server's time (and its GIL) per stroke."""

from __future__ import annotations

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app_pages.charts import probability_chart
from app_pages.drawings_view import save_buttons
from app_pages.explain_view import attribution_view
from app_pages.guard import guarded, run_page
from app_pages.models import current_model
from model.data.preprocess import (
    DrawingError,
    EmptyDrawingError,
    canvas_to_mnist,
    drawing_advice,
)
from model.insight import pictures
from model.serving.predict import predict_proba

CANVAS_PX = 280
STROKE_PX = 18


def canvas_key() -> str:
    """Clearing gives the canvas a new key: a fresh, empty canvas."""
    return f"canvas_{st.session_state.get('canvas_generation', 0)}"


def clear() -> None:
    st.session_state.canvas_generation = st.session_state.get("canvas_generation", 0) + 1


def page() -> None:
    st.title("Draw")
    chosen = current_model()
    if chosen is None:
        return
    st.caption(f"Model: {chosen.meta.get('description', chosen.path)}")
    drawing_area(chosen.model)


@st.fragment
@guarded
def drawing_area(model) -> None:
    """The canvas and what the model reads on it. A fragment: a stroke or
    Clear reruns only this, not the page around it (title, sidebar, model
    picker), so each prediction costs the server and the browser less."""
    left, right = st.columns([1, 1])
    with left:
        # The answer in one line above the canvas: on a phone the columns stack,
        # and the full reading below would be out of sight while drawing.
        headline = st.empty()
        st.write("Draw one digit, large:")  # short: the canvas's toolbar shows to its right
        canvas = st_canvas(stroke_width=st.session_state.get("pen", STROKE_PX), stroke_color="#FFFFFF",
                           background_color="#000000", width=CANVAS_PX, height=CANVAS_PX,
                           drawing_mode="freedraw", return_image_data=True, key=canvas_key())
        buttons, pen = st.columns([1, 2])
        buttons.button("Clear", on_click=clear, key="clear")
        pen.slider("Pen width", 8, 40, STROKE_PX, 2, key="pen", label_visibility="collapsed",
                   help="Pen width in pixels of the canvas.", format="pen %d px")
        st.caption("Undo and redo: the arrows that show above the canvas when you point at it or touch it.")
    with right:
        probs = show_reading(model, canvas.image_data)
    if probs is not None:
        digit = int(probs.argmax())
        headline.markdown(f"**Reads {digit}** · {probs[digit]:.0%} sure")


def show_reading(model, image_data):
    """What the model reads on the drawing; returns its probabilities (None: nothing read)."""
    try:
        image = None if image_data is None else canvas_to_mnist(image_data)
    except EmptyDrawingError:  # cleared with the toolbar's bin: the same as a fresh canvas
        image = None
    except DrawingError as exc:
        message = str(exc)
        st.warning(f"{message[0].upper()}{message[1:]}.", icon=":material/warning:")
        return None
    if image is None:
        st.info("Draw a digit on the canvas: the prediction appears here.", icon=":material/edit:")
        return None
    advice = drawing_advice(image_data)
    if advice:
        st.warning(advice, icon=":material/warning:")
    probs = predict_proba(model, image)
    digit = int(probs.argmax())
    st.metric("Prediction", str(digit), help="The class with the highest probability.")
    st.markdown(f"Confidence: **{probs[digit]:.1%}**")
    probability_chart(st, probs, title="Probability of each digit")
    # Inline, not an array: Streamlit's media file store can drop an image's file
    # before the browser fetched it when the page reruns quickly (a 404 and a
    # broken image, seen under load), and every stroke reruns this.
    st.image(pictures.png_data_url(pictures.enlarged(image)), caption="What the model sees (28x28)", width=224)
    attribution_view(model, image, probs)
    save_buttons(image, image_data, probs)  # "Was it right?": keep the drawing with its right digit
    return probs


run_page(page)
