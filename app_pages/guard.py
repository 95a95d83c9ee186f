"""Every page and fragment runs through ``guarded``: an error reaches the
visitor as one line, never a traceback, and the server's log keeps the details.

The lab's database can be down while the rest works (drawing needs none of
it): ``DatabaseUnavailable`` is shown as what it is, a part unavailable for
now, and ``database_optional`` lets a page go on without the part that needs it.
However many parts of a page need it, the visitor reads that once a page run,
in full, at the top of the page (where a phone shows it too, unlike the
sidebar); its details (in the public demo no file, host or port reaches the
page) are in the server's log."""

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
SAID = "_database_said"  # session state: the page run (its cursors) that said the database is unavailable


def sentence(message: object) -> str:
    """One line as a sentence: its first letter capital, a full stop at its end."""
    text = first_line(message) if isinstance(message, BaseException) else str(message).strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _this_run() -> object | None:
    """An object that is this page run's own (Streamlit makes its cursors anew every run)."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import (
        get_script_run_ctx,
    )

    ctx = get_script_run_ctx()
    return ctx.cursors if ctx is not None else None


def database_unavailable(exc: DatabaseUnavailable, what: str, where=None) -> None:
    """Say that the database is unavailable (once a page run: the first part
    that finds it says it, at ``where`` or the top of the page); log the details."""
    log.warning("%s: %s", what, exc.detail)
    run = _this_run()
    if run is not None and st.session_state.get(SAID) is run:
        return
    if run is not None:
        st.session_state[SAID] = run
    (where or st).warning(sentence(exc), icon=":material/database:")


def guarded(fn: F) -> F:
    """Run ``fn``; an exception becomes one line on the page (Streamlit's own
    stop and rerun signals are ``BaseException``s and pass through)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DatabaseUnavailable as exc:
            database_unavailable(exc, f"{fn.__module__}.{fn.__qualname__}")
        except Exception as exc:
            log.exception("%s.%s failed", fn.__module__, fn.__qualname__)
            st.error(f"Something went wrong here: {first_line(exc)}", icon=":material/error:")
    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def database_optional(what: str) -> Iterator[None]:
    """Go on without what the block does when the database is unavailable,
    saying so in one line (once a page run) and in the log."""
    try:
        yield
    except DatabaseUnavailable as exc:
        database_unavailable(exc, f"{what} unavailable for now")


def run_page(page: Callable[[], None]) -> None:
    """A page's entry point, guarded."""
    guarded(page)()
