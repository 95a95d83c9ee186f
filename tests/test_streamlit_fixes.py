"""The work-around of a Streamlit internal (app_pages/streamlit_fixes.py)
replaces a private function. If a Streamlit upgrade renames it, stops
calling it, or it no longer clears Keras' state, these tests fail, so the
work-around is rechecked instead of silently doing nothing or harm."""

from __future__ import annotations

import inspect


def _streamlits_own_clean_up():
    from streamlit.runtime.scriptrunner import script_runner

    current = script_runner._clean_problem_modules
    return getattr(current, "replaced", current)


def test_streamlit_still_clears_keras_after_every_run_with_the_function_we_replace():
    from streamlit.runtime.scriptrunner import script_runner

    original = _streamlits_own_clean_up()
    assert original.__name__ == "_clean_problem_modules"
    assert "clear_session" in inspect.getsource(original), "Streamlit no longer clears Keras: drop the work-around"
    assert "_clean_problem_modules" in script_runner.ScriptRunner._run_script.__code__.co_names, \
        "Streamlit no longer calls _clean_problem_modules after a run"


def test_the_replacement_keeps_keras_state_and_the_original_would_not():
    import keras
    from streamlit.runtime.scriptrunner import script_runner

    from app_pages.streamlit_fixes import keep_keras_state_between_reruns

    keep_keras_state_between_reruns()
    keep_keras_state_between_reruns()  # idempotent: the original is kept once
    assert _streamlits_own_clean_up().__name__ == "_clean_problem_modules"

    def next_auto_name() -> str:
        return keras.layers.Dense(1).name

    first = next_auto_name()
    script_runner._clean_problem_modules()  # what Streamlit runs after each script run
    assert next_auto_name() != first, "the replacement cleared Keras' global state"
    _streamlits_own_clean_up()()
    assert next_auto_name() == "dense", "Streamlit's own clean-up no longer resets Keras' state"
