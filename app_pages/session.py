"""Who this visitor is, the name of "the default model" among a session's
choices, and the choices a session keeps from page to page: a leaf module
every view may import."""

from __future__ import annotations

import re
import uuid

import streamlit as st

from model.lab import choices

DEFAULT = "default"


VISITOR_COOKIE = "mnist_lab_visitor"


def session_id() -> str:
    """An anonymous random id of this visitor (no personal data), kept in a
    cookie of this site so that a reload finds the visitor's jobs, model and
    uploads again; never in the URL, which people share."""
    if "session_id" not in st.session_state:
        known = st.context.cookies.get(VISITOR_COOKIE)
        valid = isinstance(known, str) and re.fullmatch(r"[0-9a-f]{32}", known)  # a cookie is the browser's word
        st.session_state.session_id = known if valid else uuid.uuid4().hex
    return st.session_state.session_id


KEPT = "_kept_choices"  # session state: the widget keys whose values outlive their page


def kept(key: str) -> str:
    """``key``, for a widget whose value the session keeps when the visitor goes
    to another page and back (Streamlit forgets the state of a widget that a
    run does not draw; ``keep_choices`` holds it for it)."""
    st.session_state.setdefault(KEPT, set()).add(key)
    return key


def keep_choices() -> None:
    """At the top of every run, before any widget: the kept widgets' values
    become plain session state, which no run forgets (Streamlit's documented
    way to keep a widget's value across pages); the widget, drawn again,
    starts from it. They are also kept on the server under the visitor's
    cookie id (``model.lab.choices``), so that a reload finds them: the first
    run of a session puts them back."""
    keys = st.session_state.setdefault(KEPT, set())
    if not st.session_state.get("_choices_restored"):
        st.session_state._choices_restored = True
        if st.context.cookies.get(VISITOR_COOKIE):  # a returning browser (the id is checked by choices)
            for key, value in choices.load(session_id()).items():
                if key not in st.session_state:
                    st.session_state[key] = value
                    keys.add(key)
    now = {}
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
            now[key] = st.session_state[key]
    if now != st.session_state.get("_choices_saved", {}):
        st.session_state._choices_saved = dict(now)
        choices.save(session_id(), now)


def remember_visitor() -> None:
    """Set the visitor cookie once a session, if the browser lacks it."""
    visitor = session_id()
    if st.context.cookies.get(VISITOR_COOKIE) == visitor or st.session_state.get("visitor_cookie_set"):
        return
    st.session_state.visitor_cookie_set = True
    with st.sidebar:
        st.html(f"<script>document.cookie = '{VISITOR_COOKIE}={visitor}; path=/; max-age={30 * 86400}; "
                "SameSite=Lax';</script>", unsafe_allow_javascript=True, width="content")
