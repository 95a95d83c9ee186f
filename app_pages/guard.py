"""Every page and fragment runs through ``guarded``: an error reaches the
visitor as one line, never a traceback, and the server's log keeps the details."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from model.logs import first_line

log = logging.getLogger("mnist_lab")
F = TypeVar("F", bound=Callable)


def guarded(fn: F) -> F:
    """Run ``fn``; an exception becomes one line on the page (Streamlit's own
    stop and rerun signals are ``BaseException``s and pass through)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            log.exception("%s.%s failed", fn.__module__, fn.__qualname__)
            st.error(f"Something went wrong here: {first_line(exc)}", icon=":material/error:")
    return wrapper  # type: ignore[return-value]


def run_page(page: Callable[[], None]) -> None:
    """A page's entry point, guarded."""
    guarded(page)()
