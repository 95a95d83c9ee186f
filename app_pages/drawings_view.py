"""The Draw page's "Was it right?": one click keeps the drawing with its right
digit (``model.lab.drawings``), the data that teaches a model how people draw;
and the Evaluate page's section that scores a model on them.

A row of small buttons, under the reading: "Yes, it's a N", or the right
digit. It saves once per drawing: after the click the buttons give way to
what was stored, so a double click can't store it twice."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages.charts import digit_grid, show_figure
from app_pages.guard import guarded
from app_pages.models import load_run
from app_pages.session import DEFAULT, contributor, session_id
from model.insight import figures
from model.lab import drawings, store
from model.lab.db import DatabaseUnavailable
from model.lab.limits import current_limits


def model_name() -> str:
    """Which model read the drawing: a kept run's key, else the default model's key or file name."""
    key = st.session_state.get("model_key", DEFAULT)
    if key != DEFAULT:
        return key
    default = store.default_model()
    if default is None:
        return "unknown"
    return (default.meta or {}).get("key") or default.path.name


def save_buttons(image: np.ndarray, canvas_rgba: np.ndarray, probs: np.ndarray, model: str | None = None,
                 client_id: str | None = None) -> None:
    """After a prediction: keep the drawing with the predicted digit, or with the one clicked.
    ``client_id`` names the save (default: this session and the drawing's pixels), so a click
    retried after an error stores one row even if the failed attempt was stored after all."""
    digest = drawings.pixels_digest(drawings.mnist_image(image))
    saved = st.session_state.setdefault("saved_drawings", {})  # this session's: pixels digest -> label
    box = st.empty()
    if digest in saved:
        box.success(stored_text(saved[digest]), icon=":material/check_circle:")
        return
    predicted = int(np.argmax(probs))
    clicked = None
    with box.container():
        st.markdown("**Was it right?**")
        if st.button(f"Yes, it's a {predicted}", key="save_right", icon=":material/thumb_up:"):
            clicked = predicted
        st.caption("No, it's a:")
        for digit, column in enumerate(st.columns(10, gap="small")):
            if column.button(str(digit), key=f"save_as_{digit}", width="stretch"):
                clicked = digit
    if clicked is None:
        return
    try:
        drawings.save(image, clicked, canvas=canvas_rgba, probs=probs, model=model or model_name(),
                      session=contributor(), limits=current_limits(),
                      client_id=client_id or f"{session_id()}:{digest}")
    except (drawings.DrawingRefused, drawings.DrawingsFull) as exc:
        box.warning(f"Not saved: {exc}", icon=":material/warning:")
        return
    except DatabaseUnavailable as exc:  # nothing stored (or, if it was after all, a retry finds it)
        st.warning(f"Not saved: {exc}. The buttons stay: click again to retry.", icon=":material/database:")
        return
    saved[digest] = clicked
    box.success(stored_text(clicked), icon=":material/check_circle:")


def stored_text(label: int) -> str:
    return (f"Saved as a **{label}**: this drawing is now stored in the lab's collection (the image, the model's "
            "reading, an anonymous session id and a keyed hash of your network address, never the address). "
            "See it on the Drawings page.")


@st.fragment
@guarded
def drawings_section(chosen) -> None:
    """The model on the held-out saved drawings (people's own handwriting),
    beside its MNIST test accuracy; and the compared model's score on them."""
    from model.lab.drawings import held_out_evaluation

    st.subheader("Saved drawings")
    st.caption("Only the held-out fifth of the drawings saved on the Draw page is scored: a model trained "
               "with drawings never learned from these.")
    scored = held_out_evaluation(chosen.model)
    if scored is None:
        saved = drawings.counts().n
        if saved:
            st.info(f"No held-out drawings yet: none of the {saved:,} saved drawing{'s' if saved != 1 else ''} "
                    "fell in the held-out fifth (each drawing's fifth is fixed by its pixels, about one in five). "
                    "Save more on the Draw page.", icon=":material/draw:")
        else:
            st.info("No held-out drawings yet: draw on the Draw page and say whether the model was right.",
                    icon=":material/draw:")
        return
    drawn, held = scored
    mnist = chosen.meta.get("metrics", {}).get("test_accuracy")
    a, b, c = st.columns(3)
    a.metric("Accuracy on held-out drawings", f"{drawn.accuracy:.2%}", help=f"{len(held)} drawings")
    b.metric("MNIST test accuracy", f"{mnist:.2%}" if isinstance(mnist, float) else "unknown")
    other_key = st.session_state.get("compare_with")
    other = load_run(other_key) if other_key else None
    if other is not None:
        other_drawn = held_out_evaluation(other.model)[0]
        c.metric("Other model on them", f"{other_drawn.accuracy:.2%}",
                 f"{other_drawn.accuracy - drawn.accuracy:+.2%}")
    left, right = st.columns(2)
    with left:
        show_figure(figures.confusion_matrix(drawn.confusion, title=f"Confusion matrix ({len(held)} drawings)"),
                    alt=f"Confusion matrix of {len(held)} held-out drawings")
    with right:
        worst = drawn.mistakes()[:10]
        st.caption(f"Read wrong: {int((~drawn.correct).sum())} of {len(held)}, the most confident first.")
        if len(worst):
            digit_grid(st, held.x[worst], drawn.predictions[worst], drawn.labels[worst], min_px=120)
