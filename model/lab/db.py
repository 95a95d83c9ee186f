"""The lab's SQL database: state that every session, every process and a
restarted server must read alike (background jobs, and the drawings people
saved with their right digit, ``model.lab.drawings``).

By default an SQLite file in the work folder (``models/lab.db``), nothing to
set up; ``MNIST_LAB_DATABASE_URL`` points it at any database SQLAlchemy
speaks, e.g. ``postgresql+psycopg://user:pass@host/lab`` for a deployment
whose disk is wiped on restart. The app creates and upgrades the schema itself
(``SCHEMA_VERSION``); there is no manual step.

    from model.lab import db
    with db.begin() as conn:            # one transaction; db.connect() to read
        conn.execute(db.jobs.select())

The database can be down, locked, full or damaged while the app runs, and
drawing needs none of it, so a fault never becomes a traceback: ``connect``
and ``begin`` turn it into ``DatabaseUnavailable``, one line the pages show
where the database was needed (``DatabaseBusy``: locked past ``BUSY_S``;
``DatabaseFull``: the disk; ``DatabaseCorrupt``: a damaged SQLite file,
named, with the command that moves it aside, ``python -m model lab-db
repair``; it is never deleted). Nothing waits long: SQLite's busy timeout and
PostgreSQL's connect and lock timeouts are ``BUSY_S``, and the next call
connects afresh, so the app recovers by itself when the database does.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from model import settings
from model.files import disk_full, disk_full_message
from model.lab import store

log = logging.getLogger("mnist_lab")

SCHEMA_VERSION = 4  # 1: jobs; 2: + drawings; 3: + drawings.client_id, jobs.lease; 4: + owners
ACTIVE = ("queued", "running")  # job states that are not over
BUSY_S = 3  # seconds a statement waits for another's lock (or a connection) before "the lab is busy"
DB_NEED_BYTES = 10 * 2**20  # room the database needs to go on: a few thousand drawings
REPAIR = "python -m model lab-db repair"


class DatabaseUnavailable(RuntimeError):
    """The lab's database can't be used right now; the message says why, in one
    line a stranger may read (in the public demo: no file, host or port; those
    are in ``detail``, which the server's log keeps). ``short``: the same in a
    few words, for a small box (the Draw page's canvas)."""
    short = "the lab's database is unavailable"

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message


class DatabaseBusy(DatabaseUnavailable):
    """Locked by other work for longer than ``BUSY_S``."""
    short = "the lab is busy"


class DatabaseFull(DatabaseUnavailable):
    """No room left on the disk the database writes to."""
    short = "the server's disk is full"


class DatabaseCorrupt(DatabaseUnavailable):
    """The SQLite file is damaged: the owner moves it aside with ``REPAIR``."""
    short = "the lab's database is damaged"

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
    # Who runs it: {"boot": boot id, "runner": [pid, start], "job": [pid, start]} (model.lab.jobs)
    sa.Column("lease", sa.JSON),
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
    sa.Column("client_id", sa.String(64)),  # made by the page: a retried save finds its row (None: no check)
    sa.CheckConstraint("label BETWEEN 0 AND 9", name="drawing_label_is_a_digit"),
    sa.Index("drawings_by_label", "label"),
    sa.Index("drawings_by_session", "session"),
    sa.Index("drawings_by_client_id", "client_id", unique=True),
)


# Each demo visitor's own model (model.lab.outcome): the lab writes it where a job ends, so it is
# there whichever tab, server or worker asks. Locally the lab's owner's model is the current one.
owners = sa.Table(
    "owners", metadata,
    sa.Column("owner", sa.String(64), primary_key=True),  # a visitor's anonymous id
    sa.Column("model", sa.String(64), nullable=False),  # the kept run that is their model
    sa.Column("updated_at", sa.Float, nullable=False),
)


def database_url(root: Path | None = None) -> str:
    url = settings.text("MNIST_LAB_DATABASE_URL")
    if url:
        return url
    path = (root or store.workdir()) / store.RUNS / "lab.db"
    with contextlib.suppress(OSError):  # a full or read-only disk: the connection says so
        path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for a server database)."""
    return Path(url.split("///", 1)[1]) if url.startswith("sqlite") and "///" in url else None


_engines: dict[str, sa.Engine] = {}
_files: dict[str, tuple[int, int]] = {}  # an SQLite engine's file (device, inode): replaced -> new engine
_lock = threading.Lock()


def engine(root: Path | None = None) -> sa.Engine:
    """The database of the work folder ``root`` (one engine a URL, schema ready).
    Raises SQLAlchemy's errors; ``connect`` and ``begin`` name them."""
    url = database_url(root)
    with _lock:
        if url in _engines and _file_id(url) != _files.get(url):  # moved aside (repair) or deleted
            _engines.pop(url).dispose()
        if url not in _engines:
            _engines[url] = _create(url)
            _files[url] = _file_id(url)
        return _engines[url]


def _file_id(url: str) -> tuple[int, int] | None:
    path = sqlite_path(url)
    try:
        stat = path.stat() if path else None
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino) if stat else None


def forget(root: Path | None = None) -> None:
    """Drop the cached engine: the next call connects afresh."""
    url = database_url(root)
    with _lock:
        eng = _engines.pop(url, None)
        if eng is not None:
            eng.dispose()


@contextlib.contextmanager
def connect(root: Path | None = None, begin: bool = False) -> Iterator[sa.Connection]:
    """A connection (``begin``: one transaction, committed at the end); any
    fault of the database itself becomes ``DatabaseUnavailable``. Others
    (an ``IntegrityError``, the caller's own exceptions) pass unchanged."""
    url = database_url(root)
    try:
        eng = engine(root)
        with eng.begin() if begin else eng.connect() as conn:
            yield conn
    except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
        problem = unavailable(exc, url)
        if problem is None:
            raise
        if isinstance(problem, DatabaseCorrupt):
            forget(root)
        raise problem from exc


def begin(root: Path | None = None) -> contextlib.AbstractContextManager[sa.Connection]:
    """One transaction, as ``connect(root, begin=True)``."""
    return connect(root, begin=True)


def unavailable(exc: BaseException, url: str) -> DatabaseUnavailable | None:
    """``exc`` as the one-line fault it is; None when it is no fault of the
    database (a broken constraint, a bad statement: those are bugs or races).
    In the public demo the line names no file, host or port (``detail`` does,
    and goes to the server's log)."""
    if isinstance(exc, (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.DataError)):
        return None
    if isinstance(exc, DatabaseUnavailable):
        return exc
    from model.lab.limits import demo_mode

    demo = demo_mode()
    path = sqlite_path(url)
    text = str(getattr(exc, "orig", None) or exc).lower()
    if isinstance(exc, sa.exc.TimeoutError) or "locked" in text or "lock timeout" in text or "busy" in text:
        return DatabaseBusy(f"the lab is busy (its database is locked by other work for over {BUSY_S} s): "
                            "try again in a moment")
    if path is not None and ("malformed" in text or "not a database" in text):
        detail = (f"the lab's database {path} is damaged ({_reason(exc)}): saved drawings and jobs "
                  f"are unavailable until the owner runs `{REPAIR}`, which moves it aside "
                  "(kept) and starts a fresh one")
        public = ("the lab's database is damaged: saved drawings and jobs are unavailable until the owner "
                  "repairs it") if demo else detail
        return _logged(DatabaseCorrupt(public, detail))
    folder = path.parent if path is not None else store.workdir() / store.RUNS
    if disk_full(exc, folder if path is not None else None):
        detail = (disk_full_message(folder, DB_NEED_BYTES)
                  + " (for its database; saved drawings and jobs come back once there is room)")
        public = "the disk is full: saved drawings and jobs come back once there is room" if demo else detail
        return _logged(DatabaseFull(public, detail))
    where = path.name if path is not None else "server"
    detail = (f"the lab's database is unavailable ({where}: {_reason(exc)}): saved drawings "
              "and jobs come back by themselves when it does")
    public = ("the lab's database is unavailable: saved drawings and jobs come back by themselves when it does"
              if demo else detail)
    return _logged(DatabaseUnavailable(public, detail))


LOG_EVERY_S = 30.0
_logged_at: dict[str, float] = {}


def _logged(problem: DatabaseUnavailable) -> DatabaseUnavailable:
    """``problem``, its details in the server's log (each at most every ``LOG_EVERY_S``)."""
    now = time.monotonic()
    if problem.detail != str(problem) and now - _logged_at.get(problem.detail, -LOG_EVERY_S) >= LOG_EVERY_S:
        if len(_logged_at) > 100:
            _logged_at.clear()
        _logged_at[problem.detail] = now
        log.warning("%s", problem.detail)
    return problem


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    line = next((part.strip() for part in text.splitlines() if part.strip()), type(exc).__name__)
    return line[:160]


def _create(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        eng = sa.create_engine(url, connect_args={"timeout": BUSY_S}, pool_timeout=BUSY_S)

        @sa.event.listens_for(eng, "connect")
        def _pragmas(conn, _record) -> None:  # readers never wait for the writer; safe on a crash
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
    else:
        connect_args = ({"connect_timeout": BUSY_S, "options": f"-c lock_timeout={BUSY_S * 1000}"}
                        if url.startswith("postgresql") else {})
        eng = sa.create_engine(url, pool_pre_ping=True, pool_timeout=BUSY_S, connect_args=connect_args)
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


def _to_3(conn: sa.Connection) -> None:
    """2 -> 3: ``drawings.client_id`` (unique: a retried save finds its row)
    and ``jobs.lease`` (which processes run a job). Columns ``create_all``
    just made in this transaction are left as they are."""
    inspector = sa.inspect(conn)
    for table, column in ((drawings, drawings.c.client_id), (jobs, jobs.c.lease)):
        if column.name not in {c["name"] for c in inspector.get_columns(table.name)}:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))
    index = next(i for i in drawings.indexes if i.name == "drawings_by_client_id")
    if index.name not in {i["name"] for i in inspector.get_indexes("drawings")}:
        index.create(conn)


def _to_4(conn: sa.Connection) -> None:
    """3 -> 4: the owners table (each demo visitor's model)."""
    owners.create(conn, checkfirst=True)


# One step a version: UPGRADES[n] brings a database at version n - 1 to n, in
# the transaction that records n (a failed step leaves the old version whole).
UPGRADES = {2: _to_2, 3: _to_3, 4: _to_4}


# --- a damaged SQLite file -----------------------------------------------------------


def check(root: Path | None = None) -> str | None:
    """None when the database answers and (SQLite) passes its integrity
    check; else the one line saying what is wrong."""
    url = database_url(root)
    path = sqlite_path(url)
    try:
        if path is not None and path.exists():
            with contextlib.closing(sqlite3.connect(path, timeout=BUSY_S)) as conn:
                verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sa.exc.DatabaseError("PRAGMA quick_check", None, sqlite3.DatabaseError(
                    f"database disk image is malformed: {verdict}"))
        with connect(root) as conn:
            conn.execute(sa.select(sa.func.count()).select_from(jobs))
    except sqlite3.DatabaseError as exc:
        return unavailable(sa.exc.DatabaseError("open", None, exc), url).detail
    except (DatabaseUnavailable, sa.exc.DBAPIError) as exc:
        problem = unavailable(exc, url)
        return problem.detail if problem is not None else str(exc)
    return None


def repair(root: Path | None = None) -> tuple[Path, int] | None:
    """Move a damaged SQLite file aside (with its journal; kept, never
    deleted), start a fresh database, and copy into it the saved drawings
    that can still be read. Returns (where the old file went, drawings
    saved), or None when the database was fine. The owner's command:
    ``python -m model lab-db repair``."""
    url = database_url(root)
    path = sqlite_path(url)
    if path is None:
        raise ValueError("the lab's database is a server (MNIST_LAB_DATABASE_URL): its owner repairs it there")
    problem = check(root)
    if problem is None:
        return None
    if "damaged" not in problem:  # down, busy or full: nothing to move aside
        raise DatabaseUnavailable(problem)
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    forget(root)
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    engine(root)  # a fresh, empty database
    return aside, _salvage(aside, root)


def _salvage(old: Path, root: Path | None) -> int:
    """Copy the drawings rows of ``old`` that still read into the database, one by one."""
    rows = []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{old}?mode=ro", uri=True)) as conn:
            known = {r[1] for r in conn.execute("PRAGMA table_info(drawings)")}
            names = [c.name for c in drawings.columns if c.name != "id" and c.name in known]
            query = f"SELECT {', '.join(names)} FROM drawings WHERE id = ?"
            drawing_id, misses = 0, 0
            while misses < 1000:  # row by row: a damaged page loses its rows, not the rest
                drawing_id += 1
                try:
                    found = conn.execute(query, (drawing_id,)).fetchone()
                except sqlite3.DatabaseError:
                    found = None
                misses = 0 if found else misses + 1
                if found:
                    rows.append(dict(zip(names, found)))
    except sqlite3.DatabaseError as exc:
        log.warning("salvaging drawings from %s stopped: %s", old, exc)
    for row in rows:  # the JSON column comes back as text from plain sqlite3
        if isinstance(row.get("probs"), str):
            row["probs"] = json.loads(row["probs"])
    if rows:
        with begin(root) as conn:
            conn.execute(drawings.insert(), rows)
    return len(rows)
