"""Every page and fragment runs through ``guarded``: an error reaches the
visitor as one line, never a traceback, and the server's log keeps the details.

The lab's database can be down while the rest works (drawing needs none of
it): ``DatabaseUnavailable`` is shown as what it is, a part unavailable for
now, and ``database_optional`` lets a page go on without the part that needs it."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

import streamlit as st

from model.lab.db import DatabaseUnavailable
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
        except DatabaseUnavailable as exc:
            log.warning("%s.%s: %s", fn.__module__, fn.__qualname__, exc)
            st.warning(f"Unavailable for now: {exc}", icon=":material/database:")
        except Exception as exc:
            log.exception("%s.%s failed", fn.__module__, fn.__qualname__)
            st.error(f"Something went wrong here: {first_line(exc)}", icon=":material/error:")
    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def database_optional(what: str) -> Iterator[None]:
    """Go on without what the block does when the database is unavailable,
    saying so in one line in the sidebar and in the log."""
    try:
        yield
    except DatabaseUnavailable as exc:
        log.warning("%s: %s", what, exc)
        st.sidebar.caption(f":material/database: {what} unavailable for now: {exc}")


def run_page(page: Callable[[], None]) -> None:
    """A page's entry point, guarded."""
    guarded(page)()
