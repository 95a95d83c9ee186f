"""What every command line of the lab shares, so they all fail the same way:
one line ``error: ...`` on stderr and a non-zero exit status, never argparse's
usage dump or a traceback.

    python -m model train --epochs x       # error: argument --epochs: invalid int value: 'x' (see --help)
    python -m model evaluate missing.h5    # error: no model file at missing.h5

Exit status 2 is bad input (a flag, a value, a config); 1 is a failure while
running (a model file that is no classifier, a training that broke).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Iterator
from typing import NoReturn

from model.training.config import ConfigError, parse_sizes

BAD_INPUT = 2
FAILED = 1


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (exit 2)."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see --help)")
        sys.exit(BAD_INPUT)


def fail(message: object, status: int = BAD_INPUT) -> int:
    """Print ``error: message`` as one line on stderr and return ``status``,
    for ``return fail(...)`` in a ``main``. An exception becomes its first line."""
    if isinstance(message, BaseException):
        message = str(message).strip() or type(message).__name__
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    print(f"error: {(lines[0] if lines else 'unknown error')[:300]}", file=sys.stderr, flush=True)
    return status


def start_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow and Keras quietly, before a command does its work:
    ``model.logs.quiet_tensorflow``'s log levels, and, unless ``verbose``, the
    lines TensorFlow 2.21's C++ libraries print while loading, before any log
    level applies (the oneDNN notice), sent to /dev/null."""
    from model.logs import quiet_tensorflow

    quiet_tensorflow(verbose=verbose)
    if verbose or "tensorflow" in sys.modules:
        return
    with _stderr_to_devnull():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """File descriptor 2 to /dev/null (C++ code writes there, not to ``sys.stderr``)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def sizes_argument(text: str) -> tuple[int, ...]:
    """An argparse ``type``: comma-separated whole numbers ("128,64")."""
    try:
        return parse_sizes(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def words(text: str) -> tuple[str, ...]:
    """An argparse ``type``: comma-separated words ("adam,sgd")."""
    return tuple(w.strip() for w in text.split(",") if w.strip())


def float_range(text: str) -> tuple[float, float]:
    """An argparse ``type``: "MIN,MAX", or one value for a fixed range."""
    try:
        values = tuple(float(w) for w in words(text))
    except ValueError:
        values = ()
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(map(math.isfinite, values)):
        raise argparse.ArgumentTypeError(f"expected MIN,MAX or one value, got {text!r}")
    return values
