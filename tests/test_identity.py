"""Issue 37: who a visitor is, as the learning loop counts them. Session ids
are the server's (a cookie it did not sign is a new session, never someone
else's); the client address is read in one place and kept only as a keyed
hash; saves, training drawings, votes and the retraining's trigger count
addresses, not cookies; a label the current model disagrees with is trained
on only when other addresses' drawings agree; the gate refuses a digit pair's
confusion jumping; a thin win waits for the owner. Each with its negative
control. (The whole loop with real trainings: tests/test_learning.py.)"""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest

from model.lab import champion, drawings, identity, learning
from model.lab.limits import DEMO, LOCAL

SIGNED = identity.SESSION.pattern


# --- sessions ---------------------------------------------------------------------


def test_a_session_cookie_is_one_the_server_signed(lab_dir):
    sid = identity.new_session()
    cookie = identity.cookie_for(sid)
    assert identity.session_from_cookie(cookie) == sid
    crafted = [
        "deadbeef" * 4,  # the issue's crafted cookie: the old form alone, accepted before
        f"{'deadbeef' * 4}.{'0' * identity.SIGNATURE_CHARS}",  # a made-up signature
        f"{identity.new_session()}.{cookie.split('.')[1]}",  # another id with this cookie's signature
        cookie[:-1] + ("0" if cookie[-1] != "0" else "1"),  # one character changed
        cookie.upper(), cookie + "0", "", None, 42, "../../etc/passwd",
    ]
    for bad in crafted:
        assert identity.session_from_cookie(bad) is None, bad


def test_a_cookie_signed_with_another_secret_is_not_taken(lab_dir, monkeypatch):
    cookie = identity.cookie_for(identity.new_session())
    monkeypatch.setenv("MNIST_LAB_SECRET", "the owner's secret")
    assert identity.session_from_cookie(cookie) is None  # made with the work folder's key: refused
    sid = identity.new_session()
    assert identity.session_from_cookie(identity.cookie_for(sid)) == sid  # the secret's own


def test_the_work_folders_secret_is_made_once_and_kept_private(lab_dir):
    first = identity.secret()
    path = lab_dir / "models" / identity.SECRET_FILE
    assert path.read_bytes() == first and len(first) == 32
    assert path.stat().st_mode & 0o077 == 0  # readable by the server's user only
    identity._secrets.clear()
    assert identity.secret() == first  # read back, not made anew: cookies outlive a restart


# --- addresses --------------------------------------------------------------------


def test_an_address_is_kept_as_a_keyed_hash_and_ipv6_counts_by_its_network(lab_dir):
    tag = identity.address_tag("203.0.113.7")
    assert len(tag) == identity.TAG_CHARS and "203" not in tag
    assert identity.address_tag("203.0.113.7") == tag != identity.address_tag("203.0.113.8")
    assert identity.address_tag("::ffff:203.0.113.7") == tag  # the same IPv4, mapped
    assert identity.address_tag("2001:db8:1:2::1") == identity.address_tag("2001:db8:1:2:ffff::9")  # one /64
    assert identity.address_tag("2001:db8:1:2::1") != identity.address_tag("2001:db8:1:3::1")
    for unknown in (None, "", "localhost", "1.2.3", "x" * 100):
        assert identity.address_tag(unknown) == identity.UNKNOWN


def test_only_the_proxys_own_entry_of_x_forwarded_for_is_taken():
    # A client may send its own X-Forwarded-For; the proxy appends the address it saw.
    assert identity.forwarded_address("6.6.6.6, 203.0.113.7", 1) == "203.0.113.7"
    assert identity.forwarded_address("6.6.6.6, 203.0.113.7, 10.0.0.2", 2) == "203.0.113.7"
    assert identity.forwarded_address("203.0.113.7", 2) is None  # fewer entries than proxies: none is trusted
    assert identity.forwarded_address("203.0.113.7", 0) is None and identity.forwarded_address(None, 1) is None


def test_the_client_address_is_read_in_one_place(monkeypatch):
    """``app_pages.session.client_address``: the connection's address by default, the
    trusted proxies' entry of X-Forwarded-For when the owner says there are proxies."""
    from app_pages import session

    class Headers:
        def get_all(self, name):
            return ["6.6.6.6, 198.51.100.4"] if name.lower() == "x-forwarded-for" else []

    fake = types.SimpleNamespace(context=types.SimpleNamespace(ip_address="10.1.2.3", headers=Headers()))
    monkeypatch.setattr(session, "st", fake)
    monkeypatch.delenv(session.TRUSTED_PROXIES, raising=False)
    assert session.client_address() == "10.1.2.3"  # no proxy trusted: the header is the client's word
    monkeypatch.setenv(session.TRUSTED_PROXIES, "1")
    assert session.client_address() == "198.51.100.4"


def test_a_drawing_records_its_session_and_the_hash_of_its_address(lab_dir):
    who = identity.contributor("ab" * 16, "203.0.113.7")
    assert who == f"{'ab' * 16}@{identity.address_tag('203.0.113.7')}" and len(who) <= 64
    assert identity.session_of(who) == "ab" * 16 and identity.address_of(who) == identity.address_tag("203.0.113.7")
    assert identity.voter(who) == f"@{identity.address_tag('203.0.113.7')}"
    assert identity.voter(who, by_address=False) == "ab" * 16  # the policy off: the cookie votes
    assert identity.voter("visitor-1") == "visitor-1" and identity.voter(None) is None  # older rows, imports


# --- budgets: an address, not a cookie --------------------------------------------------


def image(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    return (rng.random((28, 28)) * 255).astype(np.uint8)


@pytest.fixture
def demo(lab_dir, monkeypatch):
    """The public demo, where the learning policy counts addresses (``learning.policy``)."""
    monkeypatch.setenv("MNIST_LAB_DEMO", "1")
    assert learning.policy() is learning.POLICY
    return lab_dir


def test_the_owners_own_lab_trains_on_the_owners_corrections(lab_dir, mnist, monkeypatch):
    """Locally every visitor is one address, the owner's: their corrections of the model's
    mistakes are what teaches it, so nothing asks for corroboration there (in the demo, the
    negative control, the same lone corrections are left out)."""
    from model.lab import starter, store

    assert learning.policy() is learning.LOCAL
    store.make_current(starter.seed(lab_dir), lab_dir)
    (_, _), (x, y) = mnist
    sevens = x[y == 7][:30]
    drawings.save_many([drawings.make_row(img, 1, session=identity.contributor("c" * 32, None)) for img in sevens])
    local = drawings.collection("train", per_session=drawings.TRAIN_PER_SESSION)
    assert len(local) == drawings.count(part="train") > 0  # 7s the model reads as 7, labelled 1: all taken
    monkeypatch.setenv("MNIST_LAB_DEMO", "1")
    assert len(drawings.collection("train", per_session=drawings.TRAIN_PER_SESSION)) == 0


def test_new_cookies_from_one_address_share_its_hourly_budget(demo, monkeypatch):
    monkeypatch.setattr(learning, "POLICY", dataclasses.replace(learning.ON, address_saves_per_hour=5))
    saved = refused = 0
    for n in range(12):  # twelve cookies, one address
        who = identity.contributor(f"{n:032x}", "203.0.113.7")
        for i in range(2):
            try:
                drawings.save(image(100 * n + i), 1, session=who, limits=DEMO)
                saved += 1
            except drawings.DrawingsFull as exc:
                refused += 1
                assert "your network" in str(exc)
    assert saved == 5 and refused == 19
    drawings.save(image(9999), 1, session=identity.contributor("f" * 32, "198.51.100.1"), limits=DEMO)  # another's
    # the negative control: the policy off, each cookie has its own budget again
    monkeypatch.setattr(learning, "POLICY", learning.OFF)
    drawings.save(image(5000), 1, session=identity.contributor("e" * 32, "203.0.113.7"), limits=DEMO)
    # and in the owner's own lab nothing is capped
    monkeypatch.setattr(learning, "POLICY", dataclasses.replace(learning.ON, address_saves_per_hour=5))
    drawings.save(image(5001), 1, session=identity.contributor("d" * 32, "203.0.113.7"), limits=LOCAL)
    monkeypatch.delenv("MNIST_LAB_DEMO")
    drawings.save(image(5002), 1, session=identity.contributor("d" * 32, "203.0.113.7"), limits=DEMO)


def test_a_sessions_cap_counts_its_saves_from_every_address(demo):
    limits = dataclasses.replace(DEMO, drawings_per_session=3)
    for i, address in enumerate(("203.0.113.1", "203.0.113.2", "203.0.113.3")):
        drawings.save(image(i), 1, session=identity.contributor("c" * 32, address), limits=limits)
    with pytest.raises(drawings.DrawingsFull, match="you saved 3 drawings"):
        drawings.save(image(7), 1, session=identity.contributor("c" * 32, "203.0.113.4"), limits=limits)


# --- what a training takes ---------------------------------------------------------------


def rows_of(x, labels, sessions):
    return [types.SimpleNamespace(id=i, image=np.ascontiguousarray(x[i]).tobytes(), label=int(labels[i]),
                                  session=sessions[i]) for i in range(len(labels))]


def test_a_label_the_model_disagrees_with_needs_other_addresses_that_agree(mnist):
    (_, _), (x, y) = mnist
    sevens, ones = x[y == 7][:12], x[y == 1][:12]
    honest = [identity.contributor(f"{i:032x}", f"198.51.100.{i}") for i in range(6)]
    attacker = identity.contributor("a" * 32, "203.0.113.9")
    # the honest visitors: 7s labelled 7 (two each); the attacker: other 7s labelled 8.
    images = np.concatenate([sevens[:12], x[y == 7][12:24]])
    labels = np.array([7] * 12 + [8] * 12)
    voters = [identity.voter(honest[i // 2]) for i in range(12)] + [identity.voter(attacker)] * 12
    reading = np.full(24, 7)  # the current model reads them all as 7
    keep = learning.corroborated(images, labels, voters, reading)
    assert keep[:12].all() and not keep[12:].any()  # the attacker's 8s: their nearest others say 7
    # a correction many addresses make alike (the model reads these 1s as 7) is learnt
    many = np.concatenate([ones, sevens])
    labels = np.array([1] * 12 + [7] * 12)
    voters = [identity.voter(honest[i % 6]) for i in range(24)]
    keep = learning.corroborated(many, labels, voters, np.full(24, 7))
    assert keep.all()
    # the negative control: one address alone saying 1 for all twelve is not corroborated
    keep = learning.corroborated(many, labels, [identity.voter(attacker)] * 12 + voters[12:], np.full(24, 7))
    assert not keep[:12].any() and keep[12:].all()
    # no model to disagree with: everything is taken
    assert learning.corroborated(many, labels, voters, None).all()


def test_a_training_takes_at_most_the_cap_from_an_address_whatever_its_cookies(demo, mnist, monkeypatch):
    (_, _), (x, y) = mnist
    rows = [drawings.make_row(x[i], y[i], session=identity.contributor(f"{i % 12:032x}", "203.0.113.7"))
            for i in range(300)]
    rows += [drawings.make_row(x[i], y[i], session=identity.contributor("b" * 32, "198.51.100.1"))
             for i in range(300, 320)]
    drawings.save_many(rows)
    taken = drawings.collection("train", per_session=drawings.TRAIN_PER_SESSION)  # no model: nothing disagrees
    by_voter = {}
    for s in taken.sessions:
        by_voter[identity.voter(s)] = by_voter.get(identity.voter(s), 0) + 1
    assert by_voter[identity.voter(rows[0]["session"])] == drawings.TRAIN_PER_SESSION  # 12 cookies, one cap
    assert by_voter[identity.voter(rows[-1]["session"])] == sum(1 for r in rows[300:] if not r["held_out"])
    # the negative control: counted by cookie, the twelve cookies bring twelve caps
    monkeypatch.setattr(learning, "POLICY", learning.OFF)
    off = drawings.collection("train", per_session=drawings.TRAIN_PER_SESSION)
    assert sum(1 for s in off.sessions if identity.address_of(s) == identity.address_tag("203.0.113.7")) > \
        drawings.TRAIN_PER_SESSION


def test_the_retraining_trigger_needs_three_addresses(demo, mnist, monkeypatch):
    (_, _), (x, y) = mnist
    one = [drawings.make_row(x[i], y[i], session=identity.contributor(f"{i % 12:032x}", "203.0.113.7"))
           for i in range(400)]
    drawings.save_many(one)
    assert learning.new_corrections(0.0) == 0  # one address, 12 cookies, 320 training drawings: nothing counts
    with monkeypatch.context() as off:
        off.setattr(learning, "POLICY", learning.OFF)
        assert learning.new_corrections(0.0) == drawings.count(part="train")  # the negative control: all count
    two = [drawings.make_row(x[i], y[i], session=identity.contributor("b" * 32, f"198.51.100.{i % 2}"))
           for i in range(400, 640)]
    drawings.save_many(two)
    assert learning.new_corrections(0.0) == 3 * drawings.TRAIN_PER_SESSION  # three addresses: 40 each


# --- the gate ----------------------------------------------------------------------------------


def test_the_gate_refuses_a_digit_pair_whose_confusion_jumps_for_several_visitors():
    rng = np.random.default_rng(0)
    voters = [f"@v{i}" for i in range(6) for _ in range(20)]
    labels = rng.integers(0, 10, len(voters))
    labels[::10] = 7
    before = labels.copy()
    after = labels.copy()
    after[(labels == 7)] = 8  # every visitor's 7s now read as 8
    assert "7s as 8" in learning.confusion_jump(labels, voters, before, after)
    lone = labels.copy()
    lone[(labels == 7) & (np.array(voters) == "@v0")] = 8  # one visitor alone: no refusal (no veto either)
    assert learning.confusion_jump(labels, voters, before, lone) is None
    mnist_y = np.repeat(np.arange(10), 100)
    mnist_after = mnist_y.copy()
    mnist_after[np.flatnonzero(mnist_y == 3)[:12]] = 5
    assert "MNIST's test 3s as 5" in learning.confusion_jump(labels, voters, before, before,
                                                              (mnist_y, mnist_y, mnist_after))
    owner = [None] * 20
    y = np.array([4] * 20)
    assert "owner's held-out 4s as 9" in learning.confusion_jump(y, owner, y, np.array([9] * 3 + [4] * 17))


def test_a_thin_win_waits_for_the_owner(demo, monkeypatch):
    labels = np.array([1, 2, 3, 4] * 3)
    sessions = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    now = labels.copy()
    now[0] = 0  # the current model misses one of a's
    verdict = champion.judge(labels, sessions, now, labels, 0.99, 0.99)  # one visitor better, none worse
    assert not verdict.promoted and verdict.owner and "kept for the owner to approve" in verdict.why
    monkeypatch.setattr(learning, "POLICY", learning.OFF)  # the negative control: promoted as before
    assert champion.judge(labels, sessions, now, labels, 0.99, 0.99).promoted


def test_cookies_of_one_address_vote_once(demo, monkeypatch):
    labels = np.array([1, 2] * 12)
    sessions = [identity.contributor(f"{i:032x}", "203.0.113.7") for i in range(4) for _ in range(4)]
    sessions += [identity.contributor("b" * 32, f"198.51.100.{i}") for i in range(2) for _ in range(4)]
    verdict = champion.judge(labels, sessions, labels, labels, 0.99, 0.99)
    assert verdict.sessions == 3  # four cookies of one address, and one cookie from two: three voters
    monkeypatch.setattr(learning, "POLICY", learning.OFF)  # the negative control: cookies vote
    assert champion.judge(labels, sessions, labels, labels, 0.99, 0.99).sessions == 5
