"""Draw: a digit on the canvas, read by the current model as you draw.

Every stroke reruns this page, so what it shows must be cheap to make: a
Vega-Lite chart and a small PNG take about a millisecond, where Matplotlib
figures took 200 ms of the server's time (and its GIL) per stroke."""

from __future__ import annotations

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from model import figures
from model.predict import predict_proba
from model.preprocess import DrawingError, EmptyDrawingError, canvas_to_mnist
from pages.charts import probability_chart
from pages.guard import guarded, run_page
from pages.models import current_model

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
        st.write("Draw one digit, large, in the middle:")
        canvas = st_canvas(stroke_width=STROKE_PX, stroke_color="#FFFFFF", background_color="#000000",
                           width=CANVAS_PX, height=CANVAS_PX, drawing_mode="freedraw",
                           return_image_data=True, key=canvas_key())
        st.button("Clear", on_click=clear, key="clear")
    with right:
        show_reading(model, canvas.image_data)


def show_reading(model, image_data) -> None:
    if image_data is None:
        st.info("Draw a digit on the canvas: the prediction appears here.", icon=":material/edit:")
        return
    try:
        image = canvas_to_mnist(image_data)
    except EmptyDrawingError:
        st.info("The canvas is empty: draw a digit on it.", icon=":material/edit:")
        return
    except DrawingError as exc:
        st.warning(f"{exc}.", icon=":material/warning:")
        return
    probs = predict_proba(model, image)
    digit = int(probs.argmax())
    st.metric("Prediction", str(digit), help="The class with the highest probability.")
    st.markdown(f"Confidence: **{probs[digit]:.1%}**")
    probability_chart(st, probs, title="Probability of each digit")
    # Inline, not an array: Streamlit's media file store can drop an image's file
    # before the browser fetched it when the page reruns quickly (a 404 and a
    # broken image, seen under load), and every stroke reruns this.
    st.image(figures.png_data_url(figures.enlarged(image)), caption="What the model sees (28x28)", width=224)


run_page(page)
