"""One logger for the core ("mnist_lab"), and TensorFlow's own noise turned down."""

from __future__ import annotations

import logging
import os
import warnings

log = logging.getLogger("mnist_lab")


def quiet_tensorflow(verbose: bool = False) -> None:
    """Hide TensorFlow's start-up chatter; keep its warnings when ``verbose``.
    Works fully only before TensorFlow is first imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1" if verbose else "3")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module="keras")
        warnings.filterwarnings("ignore", module="tensorflow")


def first_line(exc: BaseException) -> str:
    """An exception as one short line, for a message to a person."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
