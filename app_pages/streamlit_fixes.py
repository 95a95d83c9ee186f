"""The one work-around of a Streamlit internal, applied by ``dashboard.py`` at
start-up. tests/test_streamlit_fixes.py fails when a Streamlit upgrade
changes what it patches, so the work-around is rechecked, not silently lost."""

from __future__ import annotations

import sys


def keep_keras_state_between_reruns() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after
    every script run (its ``_clean_problem_modules``). That call runs a full
    ``gc.collect()`` of a TensorFlow process, 190 ms holding the GIL
    (measured with Keras 3.15 and a small CNN loaded), on every rerun of every
    session; and it resets Keras' global state under any training that
    another session runs at that moment. This app keeps no Keras state to
    clear: models live in ``st.cache_resource`` and training builds its own.
    Figures are closed as before. Idempotent."""
    from streamlit.runtime.scriptrunner import script_runner

    def close_pyplot_figures() -> None:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")

    if script_runner._clean_problem_modules.__name__ != close_pyplot_figures.__name__:
        close_pyplot_figures.replaced = script_runner._clean_problem_modules  # type: ignore[attr-defined]
        script_runner._clean_problem_modules = close_pyplot_figures
