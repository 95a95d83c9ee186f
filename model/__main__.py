"""The lab's command line: ``python -m model COMMAND [ARGS]``.

    python -m model train --preset fast-cnn       # train and keep a model (model.cli.train)
    python -m model evaluate mnist_model.h5       # test loss, accuracy, per digit
    python -m model tune --trials 5 --epochs 2    # KerasTuner search
    python -m model explain mnist_model.h5        # attributions and activations as a PNG
    python -m model drawings stats                # the saved drawings
    python -m model ensemble KEY KEY              # kept runs averaged into one model
    python -m model lab-db repair                 # move a damaged lab.db aside, start a fresh one

``python -m model COMMAND --help`` lists each command's flags.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from model.cli import BAD_INPUT, fail

COMMANDS = ("train", "evaluate", "tune", "explain", "drawings", "ensemble", "lab-db")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else BAD_INPUT
    command, *rest = argv
    if command not in COMMANDS:
        return fail(f"unknown command {command!r}; one of: {', '.join(COMMANDS)} (see --help)")
    return importlib.import_module(f"model.cli.{command.replace('-', '_')}").main(rest)


if __name__ == "__main__":
    sys.exit(main())
