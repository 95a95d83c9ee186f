"""The work-around of a Streamlit internal (app_pages/streamlit_fixes.py)
replaces a private function. If a Streamlit upgrade renames it, stops
calling it, or it no longer clears Keras' state, these tests fail, so the
work-around is rechecked instead of silently doing nothing or harm."""

from __future__ import annotations

import inspect
import re


def _streamlits_own_clean_up():
    from streamlit.runtime.scriptrunner import script_runner

    current = script_runner._clean_problem_modules
    return getattr(current, "replaced", current)


def _next_auto_number() -> int:
    """The number Keras gives the next unnamed Dense layer: 0 for "dense" (the
    first since its state was cleared), N for "dense_N"."""
    import keras

    name = keras.layers.Dense(1).name
    match = re.fullmatch(r"dense(?:_(\d+))?", name)
    assert match, f"Keras named a Dense layer {name!r}"
    return int(match.group(1) or 0)


def _keeps_keras_state(clean_up) -> bool:
    """Whether Keras' naming goes on counting across ``clean_up()``: a layer
    made after it is numbered exactly one more than the one made before it
    (whatever that number is: other tests in this process made layers too),
    where clearing Keras' state starts again at "dense" (0)."""
    _next_auto_number()  # at least "dense" made: a cleared state then gives 0, never before + 1
    before = _next_auto_number()
    clean_up()
    return _next_auto_number() == before + 1


def test_streamlit_still_clears_keras_after_every_run_with_the_function_we_replace():
    from streamlit.runtime.scriptrunner import script_runner

    original = _streamlits_own_clean_up()
    assert original.__name__ == "_clean_problem_modules"
    assert "clear_session" in inspect.getsource(original), "Streamlit no longer clears Keras: drop the work-around"
    assert "_clean_problem_modules" in script_runner.ScriptRunner._run_script.__code__.co_names, \
        "Streamlit no longer calls _clean_problem_modules after a run"


def test_the_check_tells_a_clean_up_that_keeps_keras_state_from_one_that_clears_it():
    """The comparison below, on known answers: doing nothing keeps the state,
    ``keras.backend.clear_session`` (what Streamlit's own clean-up calls) does not."""
    import keras

    assert _keeps_keras_state(lambda: None)
    assert not _keeps_keras_state(keras.backend.clear_session)


def test_the_replacement_keeps_keras_state_and_the_original_would_not():
    from streamlit.runtime.scriptrunner import script_runner

    from app_pages.streamlit_fixes import keep_keras_state_between_reruns

    keep_keras_state_between_reruns()
    keep_keras_state_between_reruns()  # idempotent: the original is kept once
    assert _streamlits_own_clean_up().__name__ == "_clean_problem_modules"
    assert script_runner._clean_problem_modules is not _streamlits_own_clean_up()

    # what Streamlit runs after each script run
    assert _keeps_keras_state(script_runner._clean_problem_modules), "the replacement cleared Keras' global state"
    assert not _keeps_keras_state(_streamlits_own_clean_up()), "Streamlit's own clean-up no longer resets Keras' state"
