"""Who this visitor is, and the name of "the default model" among a
session's choices: a leaf module every view may import."""

from __future__ import annotations

import re
import uuid

import streamlit as st

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


def remember_visitor() -> None:
    """Set the visitor cookie once a session, if the browser lacks it."""
    visitor = session_id()
    if st.context.cookies.get(VISITOR_COOKIE) == visitor or st.session_state.get("visitor_cookie_set"):
        return
    st.session_state.visitor_cookie_set = True
    with st.sidebar:
        st.html(f"<script>document.cookie = '{VISITOR_COOKIE}={visitor}; path=/; max-age={30 * 86400}; "
                "SameSite=Lax';</script>", unsafe_allow_javascript=True, width="content")
