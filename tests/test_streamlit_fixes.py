"""The two work-arounds of Streamlit internals (pages/streamlit_fixes.py)
patch private names. If a Streamlit upgrade renames or removes them, these
tests fail loudly, so the work-arounds are rechecked instead of silently
doing nothing."""

from __future__ import annotations


def test_streamlit_still_has_the_clean_up_hook_we_replace():
    from streamlit.runtime.scriptrunner import script_runner

    import pages.streamlit_fixes  # noqa: F401  (patches on import)

    assert script_runner._clean_problem_modules.__name__ == "close_pyplot_figures"
    source = script_runner.ScriptRunner._run_script.__code__.co_names
    assert "_clean_problem_modules" in source, "Streamlit no longer calls _clean_problem_modules after a run"


def test_streamlit_still_has_the_pages_directory_flag_we_clear():
    from streamlit.runtime.pages_manager import PagesManager

    assert isinstance(PagesManager.uses_pages_directory, (bool, type(None)))
