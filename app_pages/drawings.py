"""Drawings: the collection of digits people drew and marked with the right
digit on the Draw page, mistakes first. They teach models how people draw
(the Train page's "Saved drawings" option) and measure it (the Evaluate page
scores their held-out fifth). In the public demo visitors add to it; only
the owner relabels, deletes, exports or imports: strangers must not wipe,
poison in bulk or harvest the collection."""

from __future__ import annotations

import base64
import io
import time

import streamlit as st

from app_pages.guard import guarded, run_page
from app_pages.models import model_line
from model.data.preprocess import scale_images
from model.insight import pictures
from model.lab import drawings, jobs
from model.lab.limits import current_limits, drawings_admin
from model.training.config import ConfigError

PER_PAGE = 24
LEARN_SAID = "learn_said"  # session state: (started?, what the owner's "Retrain now" did)
COLUMNS = 6


def page() -> None:
    st.title("Drawings")
    model_line()
    counts = drawings.counts()
    st.markdown(f"**{counts.n:,} saved drawing{'' if counts.n == 1 else 's'}**, {int(counts.wrong.sum()):,} of them read wrong by the model "
                f"that read them; {int(counts.held_out.sum()):,} held out (a fixed fifth, never trained on, "
                "only scored on the Evaluate page).")
    admin = drawings_admin()
    if not admin:
        st.info("Public demo: save drawings on the Draw page (thank you!); only the owner of the lab can "
                "relabel, delete or export them.", icon=":material/public:")
    if counts.n:
        counts_chart(counts)
    learning(admin)
    gallery(admin)
    if admin:
        files()


def counts_chart(counts: drawings.Counts) -> None:
    rows = [{"digit": str(d), "kind": kind, "drawings": int(n)} for d in range(10)
            for kind, n in (("read right", counts.total[d] - counts.wrong[d]), ("read wrong", counts.wrong[d]))]
    st.vega_lite_chart({
        "title": "Saved drawings per digit", "height": 180, "autosize": {"type": "fit-x", "contains": "padding"},
        "data": {"values": rows}, "mark": "bar",
        "encoding": {"x": {"field": "digit", "type": "nominal", "axis": {"labelAngle": 0}},
                     "y": {"field": "drawings", "type": "quantitative", "stack": True},
                     "color": {"field": "kind", "title": None, "scale": {"range": ["#2e7d32", "#c62828"]}}}},
        width="stretch")


@guarded
def learning(admin: bool) -> None:
    """How the lab learns from the drawings: each retraining, promoted or
    refused and why; the owner starts one at will."""
    history = jobs.list_jobs(session=jobs.LEARN_SESSION, limit=20)
    after = jobs.retrain_after()
    said = st.session_state.pop(LEARN_SAID, None)  # what the owner's click did, shown once, in view
    with st.expander(f"How the lab learns from them ({len(history)} retraining{'' if len(history) == 1 else 's'})",
                     icon=":material/school:", expanded=said is not None):
        when = (f"after every {after} new drawings in the public demo" if after else "when the owner asks")
        st.caption(f"A retraining ({when}) fine-tunes the current model with the saved drawings, at most "
                   f"{drawings.TRAIN_PER_SESSION} from any one visitor: a challenger. It replaces the model "
                   "only if it reads the held-out drawings better for most visitors (one vote per visitor, "
                   "however many they drew) and stays within 0.1 point on MNIST's test set.")
        if admin:
            st.button("Retrain now", key="learn_now", icon=":material/model_training:", on_click=retrain_now)
        if said is not None:
            (st.success if said[0] else st.warning)(said[1], icon=":material/info:")
        if history:
            st.dataframe([history_row(job) for job in history], hide_index=True, width="stretch")


def retrain_now() -> None:
    """The owner's click (a callback: the page's run after it lists the new job)."""
    try:
        job = jobs.submit_retraining(why="asked by the owner")
    except (jobs.QueueFull, ConfigError) as exc:
        st.session_state[LEARN_SAID] = (False, f"Not started: {exc}.")
    else:
        started = f"Started: {job.title}. It runs in the background; its outcome appears in this table."
        st.session_state[LEARN_SAID] = (True, started)


def history_row(job: jobs.Job) -> dict[str, str]:
    """One retraining as the history table shows it."""
    result = job.result or {}
    verdict = result.get("verdict") or {}
    held, mnist = verdict.get("held_out"), verdict.get("mnist")  # none yet while it runs

    def pair(values) -> str:
        return " → ".join("?" if v is None else f"{v:.2%}" for v in values) if values else ""

    if job.active:
        outcome = job.where()
    elif job.status != "done":
        outcome = job.message or job.status
    else:
        outcome = ("promoted: " if verdict.get("promoted") else "refused: ") + verdict.get("why", "")
    finished = time.strftime("%Y-%m-%d %H:%M", time.localtime(job.finished_at or job.created_at))
    return {"when": finished, "outcome": outcome, "drawings trained on": str(result.get("drawings") or ""),
            "held-out drawings (current → new)": pair(held), "MNIST test (current → new)": pair(mnist)}


@st.fragment
@guarded
def gallery(admin: bool) -> None:
    """The drawings, mistakes first, filtered; relabel and delete (with confirmation) for the owner."""
    left, middle, right = st.columns(3)
    digit = left.selectbox("Digit", [None, *range(10)], key="gallery_digit",
                           format_func=lambda d: "every digit" if d is None else str(d))
    verdict = middle.segmented_control("Read by its model", ["all", "wrong", "right"], default="all",
                                       key="gallery_right") or "all"
    right_filter = {"all": None, "wrong": False, "right": True}[verdict]
    total = drawings.count(digit, right_filter)
    pages = max(1, -(-total // PER_PAGE))
    number = right.number_input(f"Page (of {pages})", 1, pages, 1, key="gallery_page") if pages > 1 else 1
    shown = drawings.list_drawings(digit, right_filter, limit=PER_PAGE, offset=(number - 1) * PER_PAGE)
    if not shown:
        st.caption("No drawings here yet: draw on the Draw page and say whether the model was right.")
        return
    for start in range(0, len(shown), COLUMNS):
        for column, d in zip(st.columns(COLUMNS), shown[start:start + COLUMNS]):
            with column:
                card(d, admin)


def picture(d: drawings.Drawing) -> str:
    if d.canvas is not None:
        return "data:image/png;base64," + base64.b64encode(d.canvas).decode()
    return pictures.png_data_url(pictures.enlarged(scale_images(d.image), 4))


def card(d: drawings.Drawing, admin: bool) -> None:
    if d.right is None:
        reading = "not read by a model"
    else:
        confidence = f" ({d.probs[d.prediction]:.0%})" if d.probs else ""
        reading = f"read {d.prediction}{confidence}: " + ("right" if d.right else "**wrong**")
    st.image(picture(d), width=110)
    st.markdown(f"**{d.label}** · {reading}" + (" · held out" if d.held_out else ""))
    if not admin:
        return
    pick, apply = st.columns([1, 1], vertical_alignment="bottom")
    label = pick.selectbox("Right digit", range(10), index=d.label, key=f"relabel_{d.id}",
                           help="Choose the digit it really is, then press Relabel.")
    if apply.button("Relabel", key=f"relabel_apply_{d.id}", disabled=label == d.label,
                    help=f"Store it as a {label} instead of a {d.label}." if label != d.label else
                    "Choose another digit first."):
        drawings.relabel(d.id, label)
        st.rerun()
    if st.session_state.get("confirm_delete") == d.id:
        st.caption("Delete it for good?")
        yes, no = st.columns(2)
        if yes.button("Delete", key=f"confirm_{d.id}", type="primary"):
            st.session_state.pop("confirm_delete")
            try:
                drawings.delete(d.id)
            except drawings.DrawingNotFound:
                pass  # deleted meanwhile, elsewhere: gone either way
            st.rerun()
        if no.button("Keep", key=f"cancel_{d.id}"):
            st.session_state.pop("confirm_delete")
            st.rerun()
    elif st.button("Delete", key=f"delete_{d.id}", icon=":material/delete:"):
        st.session_state.confirm_delete = d.id
        st.rerun()


@st.fragment
@guarded
def files() -> None:
    """Export every drawing as .npz (x uint8 (N, 28, 28), y), or import one."""
    st.subheader("Export and import")
    st.download_button("Export all as .npz", data=export_bytes, file_name="mnist-lab-drawings.npz",
                       mime="application/octet-stream", key="export", on_click="ignore",
                       icon=":material/download:")
    upload = st.file_uploader("Import drawings from a .npz (x: uint8 images, (N, 28, 28) MNIST-style or canvas "
                              "images, light ink on dark; y: their digits)", type=["npz"], key="import",
                              max_upload_size=current_limits().max_upload_bytes // 2**20)
    if upload is None or st.session_state.get("imported_drawings") == upload.file_id:
        return
    try:
        with st.spinner("Checking and importing…"):
            added, skipped = drawings.import_npz(io.BytesIO(upload.getvalue()))
    except drawings.DrawingRefused as exc:
        st.error(f"Not imported: {exc}", icon=":material/error:")
        return
    st.session_state.imported_drawings = upload.file_id
    st.success(f"Imported {added:,} drawings" + (f" ({skipped:,} were already saved)." if skipped else "."),
               icon=":material/check_circle:")


def export_bytes() -> bytes:
    out = io.BytesIO()
    drawings.export_npz(out)
    return out.getvalue()


run_page(page)
