"""Drawings people saved with their right digit: the data that teaches a model
the handwriting of its own visitors.

A model that scores 99% on MNIST reads canvas drawings noticeably worse (a
mouse or a finger is not a pen on paper). Each drawing a visitor marks with
its right digit is kept in the lab's database (``model.lab.db``, table
``drawings``): the 28x28 image the model saw, the canvas drawing itself (a
small grayscale PNG), the label, what the model predicted and with which
probabilities, which model read it, when, and the anonymous id of the session
with a keyed hash of the address it came from (``identity.contributor``).

A fixed fifth of the drawings is *held out*: never trained on, only scored,
so a model trained with drawings is never measured on those it learned from.
Which fifth is decided by a hash of the image's pixels, not by the row id:
it survives export and import into another database, and an exact duplicate
can never sit on both sides.

Every change is one transaction: concurrent saves from many sessions lose
nothing, a crash mid-save loses at most that drawing, an import adds all of
its file or nothing. A bad row is refused with ``DrawingRefused`` (a
``ValueError``) and a one-line message. A save may carry the caller's own id
(``client_id``, unique in the table): a save retried after an error whose
first attempt was stored after all, or a double click, finds that row
instead of storing a second. A database that is down, full or locked past
``db.BUSY_S`` raises ``db.DatabaseUnavailable`` at once: a click never hangs.

    python -m model drawings stats
    python -m model drawings export drawings.npz     # x uint8 (N, 28, 28), y
    python -m model drawings import drawings.npz     # the same, or canvas images (N, H, W[, 4])
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import sqlalchemy as sa

from model.files import atomic_path
from model.lab import db, identity, learning
from model.lab.limits import Limits, current_limits

HELD_OUT_EVERY = 5  # one drawing in 5 (by its pixels' hash) is held out: ~20%
MAX_CANVAS_SIDE = 1024  # pixels: larger canvas images are refused
# Drawings one visitor contributes to any training, at most: one visitor's labels (right or
# wrong) never outweigh the others'. A visitor is an address, however many cookies it uses
# (model.lab.learning; the demo lets a session save 100).
TRAIN_PER_SESSION = learning.TRAIN_PER_VOTER
MAX_CANVAS_PNG = 64 * 1024  # bytes of a stored canvas PNG (a 280x280 drawing is 1-5 KiB)
MAX_IMPORT_BYTES = 512 * 2**20  # uncompressed size of an imported .npz
MAX_NAME = 200
PARTS = ("all", "train", "held_out")


class DrawingRefused(ValueError):
    """A drawing (or a file of them) that can't be kept; the message says why, in one line."""


class DrawingsFull(RuntimeError):
    """A cap on saved drawings (the public demo's) is reached."""


class DrawingNotFound(LookupError):
    """No saved drawing has that id (deleted meanwhile?)."""


@dataclass(frozen=True)
class Drawing:
    id: int
    image: np.ndarray  # uint8 (28, 28)
    label: int
    prediction: int | None
    probs: list[float] | None
    model: str | None
    session: str | None
    source: str
    held_out: bool
    created_at: float
    canvas: bytes | None = None  # PNG

    @property
    def right(self) -> bool | None:
        """Did the model read it right? None when no model read it (an import)."""
        return None if self.prediction is None else self.prediction == self.label


@dataclass(frozen=True)
class Collection:
    """Some saved drawings as arrays, in id order."""
    ids: np.ndarray  # int64 (N,)
    x: np.ndarray  # uint8 (N, 28, 28)
    y: np.ndarray  # int64 (N,)
    digests: list[str]
    sessions: list[str | None] = field(default_factory=list)  # who drew each (None: an import)

    def __len__(self) -> int:
        return len(self.ids)

    def digest(self) -> str:
        """Names exactly these images with these labels (whatever their ids): part of a run's key."""
        lines = sorted(f"{d}:{label}" for d, label in zip(self.digests, self.y.tolist()))
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Counts:
    total: np.ndarray  # per digit (10,)
    wrong: np.ndarray  # read wrong by the model that read them
    held_out: np.ndarray

    @property
    def n(self) -> int:
        return int(self.total.sum())


# --- checking a row ---------------------------------------------------------------


def pixels_digest(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()[:16]


def is_held_out(digest: str) -> bool:
    return int(digest[:8], 16) % HELD_OUT_EVERY == 0


def check_label(label: Any, what: str = "label") -> int:
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)) or not 0 <= label <= 9:
        raise DrawingRefused(f"the {what} must be a digit 0-9, got {label!r}")
    return int(label)


def mnist_image(image: Any) -> np.ndarray:
    """A 28x28 image as uint8: uint8 as it is, floats in [0, 1] scaled (what
    ``canvas_to_mnist`` returns); anything else is refused."""
    a = np.asarray(image)
    if a.shape != (28, 28):
        raise DrawingRefused(f"the image must be 28x28, got shape {a.shape}")
    if a.dtype == np.uint8:
        out = a
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise DrawingRefused("a float image must hold values in [0, 1]")
        out = np.rint(a * 255).astype(np.uint8)
    else:
        raise DrawingRefused(f"the image must be uint8 or floats in [0, 1], got dtype {a.dtype}")
    if not out.any():
        raise DrawingRefused("the image is blank")
    return np.ascontiguousarray(out)


def canvas_png(canvas: Any) -> bytes:
    """A canvas image (RGBA, RGB or gray; light ink on dark) as a small grayscale PNG."""
    from PIL import Image

    from model.data.preprocess import DrawingError, to_grayscale

    a = np.asarray(canvas)
    if a.ndim < 2 or max(a.shape[:2]) > MAX_CANVAS_SIDE:
        raise DrawingRefused(f"the canvas image must be at most {MAX_CANVAS_SIDE}x{MAX_CANVAS_SIDE} pixels, "
                             f"got shape {a.shape}")
    try:
        gray = to_grayscale(a)
    except DrawingError as exc:
        raise DrawingRefused(f"the canvas image: {exc}") from None
    pixels = np.rint(gray * 255.0).astype(np.uint8)  # to_grayscale: brightness in [0, 1]
    out = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(out, format="PNG", optimize=True)
    data = out.getvalue()
    if len(data) > MAX_CANVAS_PNG:
        raise DrawingRefused(f"the canvas image is too large to keep ({len(data):,} bytes as PNG; "
                             f"the limit is {MAX_CANVAS_PNG:,})")
    return data


def make_row(image: Any, label: Any, canvas: Any = None, probs: Sequence[float] | None = None,
             model: str | None = None, session: str | None = None, source: str = "draw") -> dict[str, Any]:
    """A checked row of the ``drawings`` table; raises ``DrawingRefused``."""
    pixels = mnist_image(image)
    row: dict[str, Any] = {"image": pixels.tobytes(), "label": check_label(label), "prediction": None,
                           "probs": None, "model": (str(model)[:MAX_NAME] if model else None),
                           "session": (str(session)[:64] if session else None), "source": source,
                           "canvas": None if canvas is None else canvas_png(canvas)}
    if probs is not None:
        p = np.asarray(probs, dtype=np.float64)
        if p.shape != (10,) or not np.isfinite(p).all() or p.min() < 0 or abs(p.sum() - 1) > 1e-3:
            raise DrawingRefused("the probabilities must be 10 numbers >= 0 that sum to 1")
        row["probs"] = [round(float(v), 6) for v in p]
        row["prediction"] = int(p.argmax())
    row["digest"] = pixels_digest(pixels)
    row["held_out"] = is_held_out(row["digest"])
    row["created_at"] = time.time()
    return row


# --- writing ----------------------------------------------------------------------


def _write(work, root: Path | None):
    """Run ``work(conn)`` in one transaction. SQLite's "database is locked"
    from a stale snapshot (another writer won; nothing was written) is
    retried at once; a lock held by other work waits ``db.BUSY_S`` at most,
    then ``DatabaseBusy`` says the lab is busy: a click never hangs."""
    deadline = time.monotonic() + db.BUSY_S
    for attempt in range(8):
        try:
            with db.begin(root) as conn:
                if conn.dialect.name == "postgresql":  # saves and imports take turns: exact caps
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(1313)"))
                return work(conn)
        except db.DatabaseBusy:
            if attempt == 7 or time.monotonic() > deadline:
                raise
            time.sleep(0.05 * (attempt + 1))


def _like(text: str) -> str:
    """``text`` as a LIKE pattern's literal part."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_caps(conn: sa.Connection, session: str | None, limits: Limits) -> None:
    """The demo's caps, counted with the new row in: all drawings, a session's
    (whatever address it saved from), and an address's in the last hour
    (``learning.Policy.address_saves_per_hour``: a new cookie is no new budget)."""
    t = db.drawings
    if limits.max_drawings and conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() > limits.max_drawings:
        raise DrawingsFull(f"the collection is full ({limits.max_drawings:,} drawings): thank you!")
    if session is None:
        return
    if limits.drawings_per_session:
        mine = identity.session_of(session)
        count = conn.execute(sa.select(sa.func.count()).where(
            (t.c.session == mine) | t.c.session.like(f"{_like(mine)}@%", escape="\\"))).scalar()
        if count > limits.drawings_per_session:
            raise DrawingsFull(f"you saved {limits.drawings_per_session} drawings, the most one visitor "
                               "may save in this public demo: thank you!")
    per_hour, tag = learning.policy().address_saves_per_hour, identity.address_of(session)
    if limits.demo and per_hour and tag and tag != identity.UNKNOWN:
        recent = conn.execute(sa.select(sa.func.count()).where(
            t.c.session.like(f"%@{_like(tag)}", escape="\\"), t.c.created_at > time.time() - learning.HOUR_S)).scalar()
        if recent > per_hour:
            raise DrawingsFull(f"your network saved {per_hour} drawings this hour, the most the demo takes from "
                               "one: try again later")


def save(image: Any, label: Any, *, canvas: Any = None, probs: Sequence[float] | None = None,
         model: str | None = None, session: str | None = None, limits: Limits | None = None,
         root: Path | None = None, client_id: str | None = None) -> int:
    """Keep one drawing with its right digit ``label``; returns its id.
    ``image``: the 28x28 image the model saw; ``canvas``: the drawing itself.
    ``client_id``: the caller's own name for this save (at most 64 characters),
    so that a retry after an error, or a double click, stores one row: a save
    whose id is kept already returns that row's id and stores nothing.
    Raises ``DrawingRefused`` for a bad row, ``DrawingsFull`` over a cap,
    ``db.DatabaseUnavailable`` when the database can't take it (not stored)."""
    row = make_row(image, label, canvas, probs, model, session)
    if client_id is not None:
        if not isinstance(client_id, str) or not 0 < len(client_id) <= 64:
            raise DrawingRefused("a save's client id must be a string of 1 to 64 characters")
        row["client_id"] = client_id
    limits = limits or current_limits()

    def work(conn: sa.Connection) -> int:
        known = _saved_as(conn, client_id)
        if known is not None:
            return known
        # Insert first, then count: the insert takes the write lock, so the count is exact.
        new_id = conn.execute(db.drawings.insert().values(**row)).inserted_primary_key[0]
        _check_caps(conn, session, limits)  # over a cap: the exception rolls the insert back
        return int(new_id)
    try:
        return _write(work, root)
    except sa.exc.IntegrityError:  # the same client id, saved by a retry that raced this one
        if client_id is None:
            raise
        with db.connect(root) as conn:
            known = _saved_as(conn, client_id)
        if known is None:
            raise
        return known


def _saved_as(conn: sa.Connection, client_id: str | None) -> int | None:
    if client_id is None:
        return None
    return conn.execute(sa.select(db.drawings.c.id).where(db.drawings.c.client_id == client_id)).scalar()


def save_many(rows: Sequence[dict[str, Any]], root: Path | None = None) -> tuple[int, int]:
    """Keep rows made by ``make_row``, all or none, skipping those already
    kept (same pixels, same label); returns (added, skipped)."""
    def work(conn: sa.Connection) -> tuple[int, int]:
        t = db.drawings
        known = {(r.digest, r.label) for r in conn.execute(sa.select(t.c.digest, t.c.label))}
        new, seen = [], set()
        for row in rows:
            if (row["digest"], row["label"]) not in known | seen:
                new.append(row)
                seen.add((row["digest"], row["label"]))
        if new:
            conn.execute(t.insert(), new)
        return len(new), len(rows) - len(new)
    return _write(work, root)


def relabel(drawing_id: int, label: Any, root: Path | None = None) -> None:
    label = check_label(label)
    _changed(lambda conn: conn.execute(db.drawings.update().where(db.drawings.c.id == drawing_id)
                                       .values(label=label)), drawing_id, root)


def delete(drawing_id: int, root: Path | None = None) -> None:
    _changed(lambda conn: conn.execute(db.drawings.delete().where(db.drawings.c.id == drawing_id)),
             drawing_id, root)


def _changed(statement, drawing_id: int, root: Path | None) -> None:
    if _write(lambda conn: statement(conn).rowcount, root) == 0:
        raise DrawingNotFound(f"no saved drawing {drawing_id} (deleted meanwhile?)")


# --- reading ----------------------------------------------------------------------


def _filters(digit: int | None, right: bool | None, part: str) -> list:
    t = db.drawings
    where = []
    if digit is not None:
        where.append(t.c.label == check_label(digit, "digit"))
    if right is True:
        where.append(t.c.prediction == t.c.label)
    elif right is False:
        where.append(t.c.prediction != t.c.label)
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    if part != "all":
        where.append(t.c.held_out.is_(part == "held_out"))
    return where


def _drawing(row, with_canvas: bool) -> Drawing:
    return Drawing(id=row.id, image=np.frombuffer(row.image, np.uint8).reshape(28, 28), label=row.label,
                   prediction=row.prediction, probs=row.probs, model=row.model, session=row.session,
                   source=row.source, held_out=bool(row.held_out), created_at=row.created_at,
                   canvas=row.canvas if with_canvas else None)


def list_drawings(digit: int | None = None, right: bool | None = None, part: str = "all",
                  mistakes_first: bool = True, limit: int | None = 100, offset: int = 0,
                  with_canvas: bool = True, root: Path | None = None) -> list[Drawing]:
    """Saved drawings, filtered by true ``digit`` and by whether the model
    read them ``right``; the mistakes first, then the newest first."""
    t = db.drawings
    order = [sa.case((t.c.prediction != t.c.label, 0), else_=1)] if mistakes_first else []
    query = sa.select(t).where(*_filters(digit, right, part)).order_by(*order, t.c.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with db.connect(root) as conn:
        return [_drawing(r, with_canvas) for r in conn.execute(query)]


def count(digit: int | None = None, right: bool | None = None, part: str = "all", root: Path | None = None) -> int:
    with db.connect(root) as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(*_filters(digit, right, part))
                                .select_from(db.drawings)).scalar())


def count_since(created_after: float, part: str = "train", root: Path | None = None) -> int:
    """How many drawings of ``part`` were saved after ``created_after`` (a time.time())."""
    t = db.drawings
    with db.connect(root) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t)
                                .where(*_filters(None, None, part), t.c.created_at > created_after)).scalar())


def counts(root: Path | None = None) -> Counts:
    """How many drawings of each digit: in all, read wrong, held out."""
    t = db.drawings
    wrong = sa.case((t.c.prediction != t.c.label, 1), else_=0)
    query = sa.select(t.c.label, sa.func.count(), sa.func.sum(wrong),
                      sa.func.sum(sa.case((t.c.held_out, 1), else_=0))).group_by(t.c.label)
    out = np.zeros((3, 10), np.int64)
    with db.connect(root) as conn:
        for label, n, n_wrong, n_held in conn.execute(query):
            out[:, label] = n, n_wrong or 0, n_held or 0
    return Counts(*out)


def collection(part: str = "all", root: Path | None = None, per_session: int | None = None) -> Collection:
    """The saved drawings of ``part`` ("all", "train", "held_out") as arrays;
    ``per_session``: what a training takes (``learning.for_training``): at most
    that many of each visitor (an address, whatever its cookies; its first: more
    change nothing), imports uncapped, and a label the current model disagrees
    with only when other visitors' drawings like it say the same."""
    t = db.drawings
    query = (sa.select(t.c.id, t.c.image, t.c.label, t.c.digest, t.c.session)
             .where(*_filters(None, None, part)).order_by(t.c.id))
    with db.connect(root) as conn:
        rows = conn.execute(query).all()
    if per_session is not None:  # what a training takes (model.lab.learning: per address, corroborated)
        rows = learning.for_training(rows, per_session, root)
    x = np.stack([np.frombuffer(r.image, np.uint8).reshape(28, 28) for r in rows]) if rows \
        else np.zeros((0, 28, 28), np.uint8)
    return Collection(ids=np.array([r.id for r in rows], np.int64), x=x,
                      y=np.array([r.label for r in rows], np.int64), digests=[r.digest for r in rows],
                      sessions=[r.session for r in rows])


def held_out_evaluation(model, root: Path | None = None):
    """``(Evaluation, Collection)`` of ``model`` on the held-out drawings, or None when there are none."""
    from model.serving.evaluate import evaluate

    held = collection("held_out", root)
    if not len(held):
        return None
    return evaluate(model, held.x, held.y), held


# --- files ------------------------------------------------------------------------


def export_npz(target: str | Path | IO[bytes], root: Path | None = None) -> int:
    """Write every saved drawing as ``x`` uint8 (N, 28, 28) and ``y`` (N,) to
    a ``.npz`` path (atomically) or an open binary file; returns N."""
    saved = collection("all", root)
    if not isinstance(target, (str, Path)):
        np.savez_compressed(target, x=saved.x, y=saved.y)
        return len(saved)
    with atomic_path(Path(target)) as tmp, open(tmp, "wb") as out:
        np.savez_compressed(out, x=saved.x, y=saved.y)
    return len(saved)


def read_npz(source: str | Path | IO[bytes], session: str | None = None) -> list[dict[str, Any]]:
    """Checked rows from a ``.npz`` with ``x`` (uint8: MNIST-style (N, 28, 28),
    or canvas images (N, H, W) / (N, H, W, 3 or 4), light ink on dark, made
    MNIST-style by ``canvas_to_mnist``) and ``y`` (digits 0-9)."""
    from model.data.preprocess import DrawingError, canvas_to_mnist

    try:
        with zipfile.ZipFile(source) as z:
            size = sum(i.file_size for i in z.infolist())
        if size > MAX_IMPORT_BYTES:
            raise DrawingRefused(f"the file unpacks to {size:,} bytes; the limit is {MAX_IMPORT_BYTES:,}")
        if not isinstance(source, (str, Path)):
            source.seek(0)
        with np.load(source, allow_pickle=False) as data:
            if not {"x", "y"} <= set(data.files):
                raise DrawingRefused(f"the file must hold arrays x and y, found {', '.join(data.files) or 'none'}")
            x, y = data["x"], data["y"]
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        if isinstance(exc, DrawingRefused):
            raise
        raise DrawingRefused(f"not a readable .npz file: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if x.dtype != np.uint8:
        raise DrawingRefused(f"x must be uint8 images, got dtype {x.dtype}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DrawingRefused(f"y must be one whole-number label per image: x has {len(x)} images, "
                             f"y has shape {y.shape} and dtype {y.dtype}")
    canvases = not (x.ndim == 3 and x.shape[1:] == (28, 28))
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (3, 4)):
        raise DrawingRefused(f"x must be (N, 28, 28) images or canvas images (N, H, W[, 3 or 4]), got {x.shape}")
    rows = []
    for i, (image, label) in enumerate(zip(x, y)):
        try:
            if canvases:
                rows.append(make_row(canvas_to_mnist(image), label, canvas=image, session=session, source="import"))
            else:
                rows.append(make_row(image, label, session=session, source="import"))
        except (DrawingRefused, DrawingError) as exc:
            raise DrawingRefused(f"image {i}: {exc}") from None
    return rows


def import_npz(source: str | Path | IO[bytes], session: str | None = None,
               root: Path | None = None) -> tuple[int, int]:
    """Add the drawings of a ``.npz`` (see ``read_npz``), all or none; returns (added, already there)."""
    return save_many(read_npz(source, session), root)
