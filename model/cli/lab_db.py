"""The lab's database (``model.lab.db``) from the command line: check it, and
repair a damaged SQLite file on the owner's word, never by itself.

    python -m model lab-db check     # "ok", or what is wrong, in one line
    python -m model lab-db repair    # moves a damaged lab.db aside (kept) and starts a fresh one
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from model.cli import FAILED, Parser, fail
    from model.lab import db

    parser = Parser(prog="python -m model lab-db", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="does the database answer, and is the SQLite file whole?")
    sub.add_parser("repair", help="move a damaged SQLite file aside (kept), start a fresh one, "
                                  "and copy the drawings that still read")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            problem = db.check()
            if problem is not None:
                return fail(problem, FAILED)
            print(f"ok: {db.sqlite_path(db.database_url()) or 'the database server'} answers")
            return 0
        repaired = db.repair()
    except (ValueError, db.DatabaseUnavailable) as exc:
        return fail(exc, FAILED)
    if repaired is None:
        print("ok: the database is not damaged; nothing was moved")
    else:
        aside, saved = repaired
        print(f"moved the damaged database to {aside}; a fresh one is in its place, "
              f"with {saved} saved drawings copied from the old file")
    return 0
