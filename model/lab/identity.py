"""Who a visitor is, as far as a public demo can tell: a session the server
issued, and the network address it comes from.

A session is only a cookie: anyone can drop it and get a new one, so nothing
that must not be multiplied (votes, training drawings, saves per hour) is
counted per session. It is counted per *address* (``address_tag``): the client
address the app sees (``app_pages.session.client_address``, the one place that
reads it), kept only as a keyed hash of it (IPv6 by its /64 network, what one
connection gets), never the address itself. Addresses cost an attacker
something; they do not stop one who has many (README, "The demo learns from its
visitors").

Session ids are the server's: a cookie is ``<id>.<signature>`` (an HMAC of
the id with the server's secret), and a cookie that is not one the server
signed (``deadbeef...``, another visitor's id without its signature) is never
taken: its browser gets a new session, with its own budget.

The secret: ``MNIST_LAB_SECRET`` (e.g. in Community Cloud's secrets: keep it
there, or every restart on a wiped disk starts every visitor afresh), else a
random key made once in the work folder (``models/.secret``, mode 0600).

    from model.lab import identity
    sid = identity.new_session(); cookie = identity.cookie_for(sid)
    identity.session_from_cookie(cookie) == sid
    who = identity.contributor(sid, "203.0.113.7")   # what a saved drawing records
    identity.voter(who)                                # "@3f2a...": whose vote, whose budget
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import threading
from pathlib import Path

from model import settings
from model.lab import store

SECRET_FILE = ".secret"
SESSION = re.compile(r"[0-9a-f]{32}")
SIGNATURE_CHARS = 32
TAG_CHARS = 12
UNKNOWN = "unknown"  # the tag of a visitor whose address the app can't see (one voter for all of them)
_secrets: dict[str, bytes] = {}
_lock = threading.Lock()


def secret(root: Path | None = None) -> bytes:
    """The server's secret key (``MNIST_LAB_SECRET``, else made once in the work folder)."""
    given = settings.text("MNIST_LAB_SECRET")
    if given:
        return hashlib.sha256(given.encode()).digest()
    path = (root or store.workdir()) / store.RUNS / SECRET_FILE
    key = str(path.resolve())
    with _lock:
        if key not in _secrets:
            _secrets[key] = _read_or_make(path)
        return _secrets[key]


def _read_or_make(path: Path) -> bytes:
    with contextlib.suppress(OSError):
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    made = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # two processes at once: one wins
    except FileExistsError:
        with contextlib.suppress(OSError):
            data = path.read_bytes()
            if len(data) >= 32:
                return data
        return made  # the winner has not written yet: this process signs with its own (a new session at worst)
    except OSError:
        return made  # a read-only work folder: sessions last as long as this process
    with os.fdopen(fd, "wb") as out:
        out.write(made)
    return made


def _mac(kind: str, value: str, root: Path | None = None) -> str:
    return hmac.new(secret(root), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


# --- sessions ---------------------------------------------------------------------


def new_session() -> str:
    return secrets.token_hex(16)


def cookie_for(session: str, root: Path | None = None) -> str:
    """The cookie that names ``session``: its id and the server's signature of it."""
    return f"{session}.{_mac('session', session, root)[:SIGNATURE_CHARS]}"


def session_from_cookie(cookie: object, root: Path | None = None) -> str | None:
    """The session id a cookie names, if the server signed it (else None: a new session)."""
    if not isinstance(cookie, str) or len(cookie) != 32 + 1 + SIGNATURE_CHARS:
        return None
    session, _, signature = cookie.partition(".")
    if not SESSION.fullmatch(session):
        return None
    return session if hmac.compare_digest(cookie_for(session, root), f"{session}.{signature}") else None


# --- addresses --------------------------------------------------------------------


def normal_address(address: object) -> str | None:
    """An address as one visitor's: IPv4 as it is, IPv6 by its /64 network (an
    IPv4-mapped one as its IPv4); None for anything that is not an IP address."""
    if not isinstance(address, str) or not address.strip() or len(address) > 64:
        return None
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def address_tag(address: object, root: Path | None = None) -> str:
    """A short keyed hash of the visitor's address (``UNKNOWN`` when the app can't see it)."""
    normal = normal_address(address)
    return UNKNOWN if normal is None else _mac("address", normal, root)[:TAG_CHARS]


def forwarded_address(header: object, proxies: int) -> str | None:
    """The client's address in an ``X-Forwarded-For`` header that ``proxies``
    proxies of the owner's appended to (the entry the outermost of them wrote:
    whatever the client itself put in front is its own word, never taken)."""
    if not isinstance(header, str) or proxies < 1:
        return None
    entries = [part.strip() for part in header.split(",") if part.strip()]
    return entries[-proxies] if len(entries) >= proxies else None


# --- what a saved drawing records ------------------------------------------------------


def contributor(session: str | None, address: object = None, root: Path | None = None) -> str | None:
    """What a visitor's saved drawing records as its ``session``: the session id
    and the tag of the address it was saved from (``<session>@<tag>``)."""
    if not session:
        return None
    return f"{str(session)[:40]}@{address_tag(address, root)}"


def session_of(stored: str | None) -> str | None:
    """The session part of a drawing's ``session`` (the whole, for rows saved before addresses)."""
    return None if stored is None else stored.split("@", 1)[0]


def address_of(stored: str | None) -> str | None:
    """The address tag of a drawing's ``session``, or None (an import, or saved before addresses)."""
    if stored is None or "@" not in stored:
        return None
    return stored.split("@", 1)[1] or None


def voter(stored: str | None, by_address: bool = True) -> str | None:
    """Whose drawing it is, for votes, caps and budgets: its address
    (``by_address``; its session for rows that carry no address), else its
    session; None for an import (the owner's)."""
    if stored is None:
        return None
    tag = address_of(stored) if by_address else None
    return f"@{tag}" if tag else session_of(stored)
