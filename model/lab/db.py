"""The lab's SQL database: state that every session, every process and a
restarted server must read alike (background jobs, and the drawings people
saved with their right digit, ``model.lab.drawings``).

By default an SQLite file in the work folder (``models/lab.db``), nothing to
set up; ``MNIST_LAB_DATABASE_URL`` points it at any database SQLAlchemy
speaks, e.g. ``postgresql+psycopg://user:pass@host/lab`` for a deployment
whose disk is wiped on restart. The app creates and upgrades the schema itself
(``SCHEMA_VERSION``); there is no manual step.

    from model.lab import db
    with db.engine().begin() as conn:   # one transaction
        conn.execute(db.jobs.select())
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import sqlalchemy as sa

from model.lab import store

SCHEMA_VERSION = 2  # 1: jobs; 2: + drawings
ACTIVE = ("queued", "running")  # job states that are not over

metadata = sa.MetaData()

schema_version = sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, nullable=False))

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # train | tune
    sa.Column("key", sa.String(64), nullable=False),  # same kind and key: the same work
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("session", sa.String(64)),  # who asked (an anonymous random id); None: the server itself
    sa.Column("status", sa.String(16), nullable=False),  # queued running done failed cancelled interrupted
    sa.Column("message", sa.Text, nullable=False, default=""),  # one line for the visitor
    sa.Column("progress", sa.JSON),
    sa.Column("result", sa.JSON),
    sa.Column("cancel", sa.Boolean, nullable=False, default=False),
    sa.Column("runner", sa.String(64)),  # the server process that runs it
    sa.Column("pid", sa.Integer),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("heartbeat", sa.Float),  # the job's process writes it every few seconds
    # One queued-or-running job per piece of work: a second request joins it.
    sa.Index("one_active_job", "kind", "key", unique=True,
             sqlite_where=sa.text("status IN ('queued', 'running')"),
             postgresql_where=sa.text("status IN ('queued', 'running')")),
)


drawings = sa.Table(
    "drawings", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("image", sa.LargeBinary, nullable=False),  # the 28x28 uint8 image the model saw, 784 bytes
    sa.Column("canvas", sa.LargeBinary),  # the drawing itself, a grayscale PNG (a few KiB); None for imports
    sa.Column("label", sa.Integer, nullable=False),  # the right digit, as the visitor said
    sa.Column("prediction", sa.Integer),  # what the model read (None for imports)
    sa.Column("probs", sa.JSON),  # its 10 probabilities
    sa.Column("model", sa.String(200)),  # which model read it: run key or file name
    sa.Column("session", sa.String(64)),  # the anonymous random id of the visitor's session
    sa.Column("source", sa.String(16), nullable=False),  # draw | import
    sa.Column("digest", sa.String(16), nullable=False),  # of the image's pixels: fixes its split
    sa.Column("held_out", sa.Boolean, nullable=False),  # never trained on, only scored
    sa.Column("created_at", sa.Float, nullable=False),
    sa.CheckConstraint("label BETWEEN 0 AND 9", name="drawing_label_is_a_digit"),
    sa.Index("drawings_by_label", "label"),
    sa.Index("drawings_by_session", "session"),
)


def database_url(root: Path | None = None) -> str:
    url = os.environ.get("MNIST_LAB_DATABASE_URL", "").strip()
    if url:
        return url
    path = (root or store.workdir()) / store.RUNS / "lab.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


_engines: dict[str, sa.Engine] = {}
_lock = threading.Lock()


def engine(root: Path | None = None) -> sa.Engine:
    """The database of the work folder ``root`` (one engine a URL, schema ready)."""
    url = database_url(root)
    with _lock:
        if url not in _engines:
            _engines[url] = _create(url)
        return _engines[url]


def _create(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        eng = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(eng, "connect")
        def _pragmas(conn, _record) -> None:  # readers never wait for the writer; safe on a crash
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
    else:
        eng = sa.create_engine(url, pool_pre_ping=True)
    for attempt in range(3):  # two processes creating the tables at once: the loser retries
        try:
            _upgrade(eng)
            break
        except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError):
            if attempt == 2:
                raise
    return eng


def _upgrade(eng: sa.Engine) -> None:
    """Create the tables, or bring an older schema up to ``SCHEMA_VERSION``."""
    with eng.begin() as conn:
        metadata.create_all(conn)
        found = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        if found is None:
            conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
        elif found > SCHEMA_VERSION:
            raise RuntimeError(f"the lab database has schema {found}, newer than this code's "
                               f"{SCHEMA_VERSION}: update the code")
        elif found < SCHEMA_VERSION:
            for version in range(found + 1, SCHEMA_VERSION + 1):
                UPGRADES[version](conn)
            conn.execute(schema_version.update().values(version=SCHEMA_VERSION))


def _to_2(conn: sa.Connection) -> None:
    """1 -> 2: the drawings table. (``create_all`` above has made it already
    in this same transaction; the step says so explicitly, so the chain stays
    right when a later version changes what ``metadata`` holds.)"""
    drawings.create(conn, checkfirst=True)


# One step a version: UPGRADES[n] brings a database at version n - 1 to n, in
# the transaction that records n (a failed step leaves the old version whole).
UPGRADES = {2: _to_2}
