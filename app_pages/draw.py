"""Draw: a digit on the canvas, read by the chosen model as it is drawn.

The model runs in the visitor's browser (``app_pages/draw_canvas``: LiteRT.js
on the model's web export, ``model.lab.web_models``), so a pen movement costs
the server nothing. The server hears from the canvas when a drawing settles
(its PNG and the browser's probabilities: one cheap rerun of the fragment,
which shows the 28x28 image and the probabilities under the canvas) and when
the visitor taps a correction chip (the drawing is saved with that digit) or
Undo. The attribution is computed only when the visitor opens "Why does it
read N?". Where the browser can't run the model (``?reader=server``, the
sidebar's "Read on the server", a model that doesn't convert, or a browser
without WebAssembly), the server reads each settled drawing, as the page did
before, and the canvas says so."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from typing import Any

import numpy as np
import streamlit as st

from app_pages.charts import probability_chart
from app_pages.draw_canvas import MODULE, draw_canvas
from app_pages.drawings_view import model_name
from app_pages.explain_view import LAST_DRAWING, attribution_view
from app_pages.guard import guarded, run_page
from app_pages.models import Chosen, chosen_line, current_model
from app_pages.session import client_address, kept, session_id
from model.data.preprocess import DrawingError
from model.insight import pictures
from model.lab import canvas, drawings
from model.lab.db import DatabaseUnavailable
from model.lab.limits import current_limits
from model.logs import first_line

log = logging.getLogger("mnist_lab")
STROKE_PX = 18
KEY = "draw"  # the component's key; its state "drawing" is the last settled drawing
RESULT = "draw_result"  # session state: the last correction's outcome, for the canvas
SAVED_ROWS = "draw_saved_rows"  # session state: client id -> database row id of this session's saves
CLEARED = "draw_cleared_seq"  # session state: drawings up to this seq were saved (the canvas was cleared)
FAILED = "draw_browser_failed"  # session state: why this browser can't run the model
WHY_OPEN = "draw_why_open"  # session state: the visitor keeps "Why does it read N?" open
RESULT_S = 8.0  # seconds a tap's outcome is given to the canvas (it shows it for 6)


def page() -> None:
    st.title("Draw")
    in_url = st.query_params.get("reader") == "server"
    if "read_on_server" not in st.session_state:
        st.session_state.read_on_server = in_url
    server_reading = st.sidebar.toggle(
        "Read on the server", key=kept("read_on_server"),
        help="Run the model on the server instead of in your browser: the reading comes when you lift "
             "the pen. The same as opening the page with ?reader=server.") or in_url
    chosen = current_model()
    if chosen is None:
        return
    chosen_line(chosen)
    web, why = None, None
    if server_reading:
        why = "?reader=server in the address" if in_url else "as chosen in the sidebar"
    elif not st.session_state.get(FAILED):
        web, why = browser_model(chosen)
    drawing_area(chosen, web, why)


def browser_model(chosen: Chosen) -> tuple[dict[str, Any] | None, str | None]:
    """The chosen model's web export for the canvas (converted once per model
    file, the first time a session needs it), or None and why not."""
    from model.lab import web_models
    from model.serving.export import ExportError

    try:
        web = web_models.cached(chosen.path)
        if web is None:
            with st.spinner("Preparing the model for your browser (once per model)…"):
                web = web_models.web_model(chosen.model, chosen.path)
    except (ExportError, OSError) as exc:
        log.warning("no browser model for %s: %s", chosen.path, exc)
        return None, "this model could not be prepared for browsers"
    name = chosen.meta.get("description") or chosen.meta.get("key") or chosen.path.name
    return {"url": web.url, "shape": web.input_shape, "name": name, "bytes": web.size_bytes}, None


def static_url() -> str:
    """The URL path of the app's static folder (``enableStaticServing``), under ``server.baseUrlPath``."""
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/app/static/" if base else "/app/static/"


@st.fragment
@guarded
def drawing_area(chosen: Chosen, web: dict[str, Any] | None, why: str | None) -> None:
    """The canvas and, under it, what the model saw. A fragment: the
    canvas's events rerun only this, not the page around it."""
    if st.session_state.get(FAILED):  # since the page ran: the browser said it can't (a fragment keeps its arguments)
        web, why = None, st.session_state[FAILED]
    drawing = current_drawing()
    data = {
        "static": static_url(), "module": MODULE, "reader": "browser" if web else "server", "why": why, "model": web,
        "pen": STROKE_PX, "result": fresh_result(), "shown": drawing["seq"] if drawing else None,
        "server": server_reading(chosen.model, drawing) if drawing and drawing.get("reader") != "browser" else None,
    }
    draw_canvas(key=KEY, data=data, on_drawing_change=lambda: None,
                on_correction_change=lambda: correct(chosen), on_undo_change=undo_save,
                on_fallback_change=fall_back)
    if drawing:
        under_the_canvas(chosen, drawing, data["server"])
    else:
        st.caption("Draw a digit, large, on the black square: the model reads it as you draw. "
                   "Undo takes back the last stroke; a tap on the right digit keeps the drawing "
                   "in the lab's collection.")


def fresh_result() -> dict[str, Any] | None:
    """The last tap's outcome for the canvas, for a few seconds: a canvas drawn
    again later (the visitor back from another page) has nothing to show of it
    (and within those seconds, the canvas shows an outcome once a browser tab)."""
    result = st.session_state.get(RESULT)
    if result is None or time.monotonic() - result.get("at", 0.0) > RESULT_S:
        return None
    return {k: v for k, v in result.items() if k != "at"}


def current_drawing() -> dict[str, Any] | None:
    """The canvas's last settled drawing (its state), unless it has been saved and cleared since."""
    state = st.session_state.get(KEY) or {}
    drawing = state.get("drawing") if hasattr(state, "get") else None
    if not isinstance(drawing, dict) or not isinstance(drawing.get("seq"), int):
        return None
    if drawing["seq"] <= st.session_state.get(CLEARED, -1):
        return None
    return drawing


def seen(drawing: dict[str, Any]) -> np.ndarray:
    """The server's own 28x28 image of a settled drawing's PNG, made once per
    drawing (cached in the session)."""
    digest = hashlib.sha256(str(drawing.get("png")).encode()).hexdigest()
    cache = st.session_state.get("_draw_seen")
    if cache and cache[0] == digest:
        return cache[1]
    _, image = canvas.read_png(drawing.get("png"))
    st.session_state._draw_seen = (digest, image)
    return image


def sentence(exc: Exception) -> str:
    """An error's one-line message as a sentence (capital first letter)."""
    message = str(exc)
    return message[:1].upper() + message[1:]


def server_reading(model, drawing: dict[str, Any]) -> dict[str, Any]:
    """The server's reading of a settled drawing (``canvas.server_reading``), or why there is none."""
    try:
        image = seen(drawing)
    except DrawingError as exc:
        return {"seq": drawing["seq"], "error": sentence(exc)}
    return {"seq": drawing["seq"], "probs": canvas.server_reading(model, image)}


def under_the_canvas(chosen: Chosen, drawing: dict[str, Any], server: dict[str, Any] | None) -> None:
    """What the model saw, the ten probabilities, and, on request, why it
    reads what it reads. A drawing read in the browser comes with its 28x28
    image and probabilities: showing them costs the server no preprocessing
    and no model call; the attribution (on request) and a save use the
    server's own preprocessing of the PNG."""
    probs = image = None
    if drawing.get("reader") == "browser":
        probs, image = canvas.valid_probs(drawing.get("probs")), canvas.browser_seen(drawing.get("seen"))
    if probs is None and server and server.get("probs"):
        probs = np.asarray(server["probs"], dtype=np.float32)
    if probs is None or image is None:
        try:
            image = seen(drawing)
        except DrawingError as exc:
            st.warning(f"{sentence(exc)}.", icon=":material/warning:")
            return
    st.session_state[LAST_DRAWING] = image  # the Inside page's "your last drawing"
    if probs is None:
        return
    digit = int(probs.argmax())
    left, right = st.columns([1, 2])
    # Inline, not an st.image array: the media file store can drop a file before the browser
    # fetched it when the page reruns quickly (a broken image under load).
    left.image(pictures.png_data_url(pictures.enlarged(image)), caption="What the model sees (28x28)", width=168)
    with right:
        probability_chart(st, probs, title="Probability of each digit")
    why = st.expander(f"Why does it read {digit}?", expanded=st.session_state.get(WHY_OPEN, False),
                      key="draw_why_expander", on_change=remember_why, icon=":material/neurology:")
    if why.open:
        with why:
            try:
                image = seen(drawing)  # the server's own 28x28 of the drawing
            except DrawingError as exc:
                st.warning(str(exc))
                return
            attribution_view(chosen.model, image, probs)


def remember_why() -> None:
    st.session_state[WHY_OPEN] = bool(st.session_state.get("draw_why_expander"))


# --- the canvas's events (callbacks: they run before the fragment, whose canvas shows their outcome)

def event(name: str) -> Any:
    state = st.session_state.get(KEY)
    return state.get(name) if hasattr(state, "get") else None


def attempt(tap: Any) -> int | None:
    """Which tap of its tab an event is (the canvas numbers them: a retried save is answered anew)."""
    value = tap.get("attempt") if isinstance(tap, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53 else None


def correct(chosen: Chosen) -> None:
    """A tap on "Right" or a digit chip: keep the drawing with that digit
    (``canvas.save_correction``, with this visitor's session and address) and
    tell the canvas how it went: a short line it shows whole (the details of a
    database fault are in the server's log); ``retry``: tapping again may work."""
    tap = event("correction")
    if not isinstance(tap, dict):
        return
    outcome: dict[str, Any] = {"id": str(tap.get("client_id"))[:64], "label": tap.get("label"),
                               "attempt": attempt(tap)}
    try:
        row, label = canvas.save_correction(tap, chosen.model, model_name=model_name(), session=session_id(),
                                            limits=current_limits(), address=client_address())
    except (drawings.DrawingRefused, drawings.DrawingsFull, DrawingError) as exc:
        outcome |= {"kind": "failed", "message": first_line(exc), "retry": False}
    except DatabaseUnavailable as exc:
        log.warning("a drawing was not saved: %s", exc.detail)
        outcome |= {"kind": "failed", "message": exc.short, "retry": True}
    else:
        st.session_state.setdefault(SAVED_ROWS, {})[tap["client_id"]] = row
        if isinstance(tap.get("seq"), int):
            st.session_state[CLEARED] = max(st.session_state.get(CLEARED, -1), tap["seq"])
        outcome |= {"kind": "saved", "label": label}
    st.session_state[RESULT] = outcome | {"at": time.monotonic()}


def undo_save() -> None:
    """"Undo" after a save: the row goes again (only a row this session saved)."""
    tap = event("undo")
    client_id = tap.get("client_id") if isinstance(tap, dict) else None
    rows = st.session_state.setdefault(SAVED_ROWS, {})
    outcome: dict[str, Any] = {"id": str(client_id)[:64], "attempt": attempt(tap)}
    if client_id not in rows:
        outcome |= {"kind": "undo-failed", "message": "this page did not save it"}
    else:
        try:
            with contextlib.suppress(drawings.DrawingNotFound):  # gone already: taken back all the same
                drawings.delete(rows[client_id])
        except DatabaseUnavailable as exc:
            log.warning("a drawing was not taken back: %s", exc.detail)
            outcome |= {"kind": "undo-failed", "message": exc.short}
        else:
            rows.pop(client_id)
            outcome |= {"kind": "undone"}
    st.session_state[RESULT] = outcome | {"at": time.monotonic()}


def fall_back() -> None:
    """The browser could not run the model: this session reads on the server from now on."""
    tap = event("fallback")
    reason = tap.get("reason") if isinstance(tap, dict) else None
    st.session_state[FAILED] = str(reason or "your browser could not run the model")[:200]


run_page(page)
