"""Who this visitor is (a session the server issued, and the address it
comes from), the name of "the default model" among a session's choices, and
the choices a session keeps from page to page: a leaf module every view may import."""

from __future__ import annotations

import contextlib

import streamlit as st

from model import settings
from model.lab import choices, identity

DEFAULT = "default"


VISITOR_COOKIE = "mnist_lab_visitor"
TRUSTED_PROXIES = "MNIST_LAB_TRUSTED_PROXIES"  # how many proxies of the owner's append to X-Forwarded-For


def session_id() -> str:
    """An anonymous random id of this visitor (no personal data), kept in a
    cookie of this site so that a reload finds the visitor's jobs, model and
    uploads again; never in the URL, which people share. The cookie carries
    the server's signature of the id (``identity.cookie_for``): a cookie the
    server did not issue (crafted, or another visitor's id without its
    signature) is a new session, with its own budget, never someone else's."""
    if "session_id" not in st.session_state:
        known = identity.session_from_cookie(st.context.cookies.get(VISITOR_COOKIE))
        st.session_state.session_id = known or identity.new_session()
    return st.session_state.session_id


def client_address() -> str | None:
    """The client's network address as this app sees it: the one place that
    reads it (model/lab gets it as plain data; tests set it here, or send the
    header below to a server told to trust it). By default the connection's own
    address (``st.context.ip_address``: None from this machine, and None behind
    a proxy such as Community Cloud's). With ``MNIST_LAB_TRUSTED_PROXIES=N``
    (the owner's proxies in front of the app, each appending to
    ``X-Forwarded-For``), the entry the outermost of them wrote; what the
    client put in front of it is never taken."""
    proxies = int(settings.number(TRUSTED_PROXIES) or 0)
    with contextlib.suppress(Exception):  # no context (a bare script run): no address
        if proxies > 0:
            return identity.forwarded_address(", ".join(st.context.headers.get_all("X-Forwarded-For")), proxies)
        return st.context.ip_address
    return None


def contributor() -> str | None:
    """What this visitor's saved drawings record: the session and its address's keyed hash."""
    return identity.contributor(session_id(), client_address())


KEPT = "_kept_choices"  # session state: the widget keys whose values outlive their page
SHADOW = "_kept_values"  # session state: their last values, as plain state


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
    # A plain copy too, which Streamlit never cleans up: a fragment's rerun (a running job's
    # progress, every second) can drop the state of widgets it did not draw, and the Train
    # page's settings came back as the classic preset's after a page switch mid-training.
    shadow = st.session_state.setdefault(SHADOW, {})
    now = {}
    for key in keys:
        if key not in st.session_state and key in shadow:
            st.session_state[key] = shadow[key]
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
            now[key] = shadow[key] = st.session_state[key]
    if now != st.session_state.get("_choices_saved", {}):
        st.session_state._choices_saved = dict(now)
        choices.save(session_id(), now)


def remember(key: str, value) -> None:
    """Keep ``value`` (not a widget's) under ``key`` with the visitor's choices, saved at once:
    a tab closed right after the click finds it on coming back."""
    st.session_state[kept(key)] = value
    st.session_state.setdefault(SHADOW, {})[key] = value
    saved = {**st.session_state.get("_choices_saved", {}), key: value}
    st.session_state._choices_saved = saved
    choices.save(session_id(), saved)


def remember_visitor() -> None:
    """Set the visitor cookie once a session, if the browser lacks it."""
    cookie = identity.cookie_for(session_id())
    if st.context.cookies.get(VISITOR_COOKIE) == cookie or st.session_state.get("visitor_cookie_set"):
        return
    st.session_state.visitor_cookie_set = True
    with st.sidebar:
        st.html(f"<script>document.cookie = '{VISITOR_COOKIE}={cookie}; path=/; max-age={30 * 86400}; "
                "SameSite=Lax';</script>", unsafe_allow_javascript=True, width="content")
