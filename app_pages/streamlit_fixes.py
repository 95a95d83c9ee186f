"""Work-arounds of Streamlit internals, in one place. Each patches a private
name; tests/test_streamlit_fixes.py fails loudly when a Streamlit upgrade
removes what they patch, so the work-around is rechecked, not silently lost."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import streamlit as st

def _keep_keras_state_between_reruns() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after
    every script run (its ``_clean_problem_modules``). Here that call costs
    a full ``gc.collect()`` of a TensorFlow process, about 190 ms holding
    the GIL, on every rerun of every session (every stroke on the Draw
    page); and it resets Keras' global state and TensorFlow's kernel cache
    under any training that another session is running at that moment.
    This app keeps no Keras state to clear: models live in
    ``st.cache_resource`` and training builds its own. Figures are closed as
    before (the app makes none through pyplot)."""
    from streamlit.runtime.scriptrunner import script_runner

    def close_pyplot_figures() -> None:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")

    script_runner._clean_problem_modules = close_pyplot_figures


_keep_keras_state_between_reruns()

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard.py"


def use_app_navigation() -> None:
    """Run this page through dashboard.py's ``st.navigation``, never alone.

    Streamlit bug: until some session has called ``st.navigation``, a server
    treats pages/ as a legacy auto-discovered folder, so a deep link
    (/train) as its very first request runs the page file alone, with a
    sidebar listing every file in pages/ and no ``set_page_config``
    (AppTest does the same on every run). The flag behind that is
    process-wide: clear it, and run dashboard.py here, which calls
    ``st.navigation`` and runs this page again, now as one of the app's
    pages; then stop this outer run. Unlike a rerun, this keeps the
    widget events of this run (a button click)."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(DASHBOARD), run_name="__main__")
        st.stop()
