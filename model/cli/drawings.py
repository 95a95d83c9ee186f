"""The saved drawings (``model.lab.drawings``) from the command line.

    python -m model drawings stats
    python -m model drawings export drawings.npz     # x uint8 (N, 28, 28), y
    python -m model drawings import drawings.npz     # the same, or canvas images (N, H, W[, 4])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from model.lab.drawings import DrawingRefused, counts, export_npz, import_npz


def main(argv: Sequence[str] | None = None) -> int:
    from model.cli import FAILED, Parser, fail

    parser = Parser(prog="python -m model drawings", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("stats", help="how many drawings of each digit, read wrong, held out")
    for name, what in (("import", "add the drawings of FILE.npz (x, y)"), ("export", "write every drawing to FILE.npz")):
        sub.add_parser(name, help=what).add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "import":
            if not args.file.is_file():
                return fail(f"no file at {args.file}")
            added, skipped = import_npz(args.file)
            print(f"imported {added} drawings" + (f" ({skipped} already saved, skipped)" if skipped else ""))
        elif args.command == "export":
            if not args.file.parent.is_dir():
                return fail(f"no folder {args.file.parent} to write {args.file.name} in")
            print(f"exported {export_npz(args.file)} drawings to {args.file}")
        else:
            c = counts()
            print("digit   " + "".join(f"{d:>6}" for d in range(10)) + "   total")
            for name, row in (("saved", c.total), ("wrong", c.wrong), ("held out", c.held_out)):
                print(f"{name:<8}" + "".join(f"{v:>6}" for v in row) + f"{row.sum():>8}")
    except DrawingRefused as exc:
        return fail(exc)
    except Exception as exc:  # one line, never a traceback
        return fail(f"{args.command} failed: {exc}", FAILED)
    return 0

