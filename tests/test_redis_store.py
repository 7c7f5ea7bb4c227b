"""The Redis store against a real ``redis-server`` (see tests/redis_server.py): keys that hold
no case code, locks with tokens and expiry, expiry by the server's TTL, several processes, and
an outage mid-turn that says "try again" and loses no stored answer. What every store must do
(two processes answering one session, expiry, locks) runs against Redis in test_store.py."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from dvrules import DVRules, Session, StoreError, open_store
from dvrules.chat import Conversation
from dvrules.interview import open_turn
from dvrules.store import DamagedSessionError, seen_requests
from dvrules.store_redis import RedisStore
from tests.redis_server import RedisServer

CODE = "KX7Q-2291"
DAY = 86400.0


def raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def test_open_store_gives_a_redis_store_for_a_redis_url_and_for_DVRULES_STORE(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(open_store(redis_url), RedisStore)
    monkeypatch.setenv("DVRULES_STORE", redis_url)
    store = open_store()
    assert isinstance(store, RedisStore)
    store.save("case-1", {"flows": {}})
    assert open_store(redis_url).load("case-1") is not None  # the same server, another client


def test_an_unreachable_server_is_one_line_without_its_password() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError, match="cannot be reached") as caught:
        open_store(f"redis://user:hunter2secret@127.0.0.1:{port}/0")
    message = str(caught.value)
    assert "hunter2secret" not in message and "\n" not in message
    assert f"redis://127.0.0.1:{port}/0" in message


def test_keys_and_values_never_hold_the_case_code(redis_url: str, rules: DVRules) -> None:
    s = Session(rules, "minimum-standards", CODE, open_store(redis_url))
    s.answer("posters_in_public_areas", True)
    r = raw(redis_url)
    keys = r.keys("*")
    assert keys and not any(CODE.lower().encode() in k.lower() for k in keys)
    for k in keys:
        if r.type(k) == b"string":
            assert CODE.encode() not in (r.get(k) or b"")
    # the hashing key is the server's, created once: a second client agrees on it
    assert Session(rules, "minimum-standards", CODE, open_store(redis_url)).answers == {
        "posters_in_public_areas": True
    }


def test_a_session_expires_by_the_servers_time_to_live(redis_url: str) -> None:
    store = RedisStore(redis_url, ttl_seconds=0.4)
    store.save("case-1", {"flows": {}})
    key = next(k for k in raw(redis_url).keys("dvrules:s:*"))
    assert 0 < raw(redis_url).pttl(key) <= 400
    time.sleep(0.25)
    store.save("case-1", {"flows": {}})  # a save restarts the clock
    time.sleep(0.25)
    assert store.load("case-1") is not None
    time.sleep(0.5)
    assert store.load("case-1") is None and store.count() == 0


def test_DVRULES_SESSION_TTL_DAYS_sets_the_ttl_and_is_checked(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVRULES_SESSION_TTL_DAYS", "2")
    open_store(redis_url).save("case-1", {"flows": {}})
    key = next(k for k in raw(redis_url).keys("dvrules:s:*"))
    assert 2 * DAY * 1000 - 60_000 < raw(redis_url).pttl(key) <= 2 * DAY * 1000
    monkeypatch.setenv("DVRULES_SESSION_TTL_DAYS", "nan")
    with pytest.raises(StoreError, match="DVRULES_SESSION_TTL_DAYS"):
        open_store(redis_url)


def test_a_lowered_time_to_live_applies_to_sessions_saved_before(redis_url: str) -> None:
    RedisStore(redis_url, ttl_seconds=30 * DAY).save("old", {"flows": {}})
    RedisStore(redis_url, ttl_seconds=30 * DAY).save("loaded", {"flows": {}})
    r = raw(redis_url)
    for key in r.keys("dvrules:s:*"):  # saved three days ago
        record = json.loads(r.get(key) or b"{}")
        record["updated"] -= 3 * DAY
        r.set(key, json.dumps(record), keepttl=True)
    short = RedisStore(redis_url, ttl_seconds=2 * DAY)
    short.save("recent", {"flows": {}})
    assert short.load("loaded") is None
    assert short.purge_expired() == 1
    assert short.count() == 1 and short.load("recent") is not None


def test_a_damaged_record_is_refused_left_as_it_is_and_can_be_erased(redis_url: str) -> None:
    store = open_store(redis_url)
    store.save("case-bad", {"flows": {}})
    r = raw(redis_url)
    key = next(iter(r.keys("dvrules:s:*")))
    r.set(key, b'{"flows": {"cdrp": {"answ')
    with pytest.raises(DamagedSessionError, match="damaged"):
        store.load("case-bad")
    assert r.get(key) == b'{"flows": {"cdrp": {"answ'
    assert store.purge_expired() == 0 and r.exists(key)
    assert store.delete("case-bad") and store.load("case-bad") is None


# ---------------------------------------------------------------------- locks


def test_a_lock_is_released_only_by_its_holder_and_expires_after_a_crash(redis_url: str) -> None:
    a = RedisStore(redis_url, lock_seconds=0.5, wait_seconds=0.2)
    b = RedisStore(redis_url, lock_seconds=0.5, wait_seconds=0.2)
    lock = a.locked("case-1")
    lock.__enter__()  # held, then never released: the holder "crashed"
    with pytest.raises(StoreError, match="busy"), b.locked("case-1"):
        pass
    lock_key = next(iter(raw(redis_url).keys("dvrules:l:*")))
    raw(redis_url).eval(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end",
        1,
        lock_key,
        "not-the-token",
    )
    assert raw(redis_url).exists(lock_key)  # a wrong token releases nothing
    time.sleep(0.6)
    with b.locked("case-1"):  # the crashed holder's lock expired
        b.save("case-1", {"flows": {"by": "b"}})


def test_a_turn_that_outlived_its_lock_saves_nothing_over_another_writer(redis_url: str) -> None:
    slow = RedisStore(redis_url, lock_seconds=0.3)
    fast = RedisStore(redis_url)
    with slow.locked("case-1"):
        time.sleep(0.4)  # the lock expired meanwhile; another writer took it and saved
        with fast.locked("case-1"):
            fast.save("case-1", {"flows": {"by": "fast"}})
        with pytest.raises(StoreError, match="nothing was saved"):
            slow.save("case-1", {"flows": {"by": "slow"}})
    assert fast.load("case-1")["flows"] == {"by": "fast"}  # type: ignore[index]


def test_after_a_flush_every_client_hashes_with_the_servers_new_key(redis_url: str) -> None:
    early = open_store(redis_url)
    early.save("case-1", {"flows": {}})
    raw(redis_url).flushall()  # or a restart without persistence
    late = open_store(redis_url)  # creates a new key
    early.save("case-1", {"flows": {"by": "early"}})
    assert late.load("case-1") is not None  # early noticed the new key on locking
    assert late.count() == 1


# ---------------------------------------------------------------------- requests seen


def test_requests_seen_are_shared_by_every_client_and_forgotten_after_their_time(
    redis_url: str,
) -> None:
    one, two = seen_requests(open_store(redis_url)), seen_requests(open_store(redis_url))
    assert one.first_time(["sig:abc", "ev:E1"], 0.4)
    assert not two.first_time(["ev:E1"], 0.4)  # a retry reaching another process
    assert not two.first_time(["sig:new", "ev:E1"], 0.4)
    assert two.first_time(["ev:E2"], 0.4)
    assert not any(b"abc" in k or b"E1" in k for k in raw(redis_url).keys("*"))
    time.sleep(0.5)
    assert two.first_time(["ev:E1"], 0.4)


# ---------------------------------------------------------------------- outages


@pytest.fixture
def own_server(tmp_path: Path) -> Any:
    """A Redis server of this test's own, keeping an append-only file (fsync always), so it
    can be killed and started again with what it had saved."""
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.kill()


def test_an_outage_mid_turn_says_try_again_and_loses_no_stored_answer(
    own_server: RedisServer, rules: DVRules
) -> None:
    store = open_store(own_server.url)
    s = Session(rules, "minimum-standards", CODE, store)
    s.answer("posters_in_public_areas", True)
    with pytest.raises(StoreError) as caught, open_turn(rules, store, CODE) as t:
        t.session("minimum-standards").answer("website_information", True)
        own_server.kill()  # between the turn's load and its save
    message = str(caught.value)
    assert "cannot be reached" in message and "\n" not in message and CODE not in message
    own_server.start()
    again = Session(rules, "minimum-standards", CODE, open_store(own_server.url))
    assert again.answers == {"posters_in_public_areas": True}  # the old version, whole
    again.answer("website_information", True)  # and the store works again
    assert Session(rules, "minimum-standards", CODE, store).answers == {
        "posters_in_public_areas": True,
        "website_information": True,
    }


def test_a_chat_during_an_outage_gets_the_store_problem_message(
    own_server: RedisServer, rules: DVRules
) -> None:
    conversation = Conversation(rules, open_store(own_server.url))
    conversation.text("chat-1", "start")
    own_server.kill()
    reply = conversation.text("chat-1", "start")
    said = " ".join(m.plain() for m in reply.messages)
    assert "cannot be read or saved just now" in said and "try again" in said and "999" in said
    assert "127.0.0.1" not in said
    own_server.start()
    assert conversation.text("chat-1", "start").messages


# ---------------------------------------------------------------------- kept assessments


def _cli(*args: str) -> Any:
    from typer.testing import CliRunner

    import dvrules.cli as cli

    return CliRunner().invoke(cli.app, list(args))


def test_kept_assessments_go_to_redis_with_no_expiry_when_DVRULES_STORE_names_it(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DVRULES_ASSESSMENTS", raising=False)
    monkeypatch.setenv("DVRULES_STORE", redis_url)
    monkeypatch.setenv("HOME", str(tmp_path))  # nothing may land in a default folder either
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"education_pack": True}))
    save = ("assessments", "save", "bvpi225", "--answers", str(answers))
    kept = _cli(*save, "--area", "Havering", "--period", "2025")
    assert kept.exit_code == 0, kept.output
    assert raw(redis_url).pttl("dvrules:a:bvpi225-havering-2025") == -1  # never expires
    again = _cli(*save, "--area", "Havering", "--period", "2025")
    assert again.exit_code == 2 and "already kept" in again.stderr
    assert _cli("sessions", "purge").exit_code == 0
    listed = json.loads(_cli("assessments", "list", "--format", "json").stdout)
    assert [k["id"] for k in listed] == ["bvpi225-havering-2025"]
    assert not (tmp_path / "data").exists()
    # a folder named in DVRULES_ASSESSMENTS still wins: the file behaviour stays the default
    monkeypatch.setenv("DVRULES_ASSESSMENTS", str(tmp_path / "kept"))
    assert json.loads(_cli("assessments", "list", "--format", "json").stdout) == []
    assert _cli("assessments", "delete", "bvpi225-havering-2025").stdout.strip() != "deleted"


def test_kept_assessments_on_an_unreachable_server_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("DVRULES_ASSESSMENTS", raising=False)
    monkeypatch.setenv("DVRULES_STORE", f"redis://:pw-secret@127.0.0.1:{port}/0")
    listed = _cli("assessments", "list")
    assert listed.exit_code == 2 and "Traceback" not in listed.output
    assert "cannot be reached" in listed.stderr and "pw-secret" not in listed.output


def test_the_record_read_with_the_lock_is_never_older_than_a_save_under_it(
    redis_url: str,
) -> None:
    store, other = open_store(redis_url), open_store(redis_url)
    other.save("case-1", {"flows": {"n": 1}})
    with store.locked("case-1"):
        store.save("case-1", {"flows": {"n": 2}})
        assert store.load("case-1")["flows"] == {"n": 2}  # type: ignore[index]
    with store.locked("case-1"):
        assert store.load("case-1")["flows"] == {"n": 2}  # type: ignore[index]
        store.save("case-1", {"flows": {"n": 3}})
        assert store.load("case-1")["flows"] == {"n": 3}  # type: ignore[index]
        store.delete("case-1")
        assert store.load("case-1") is None
    other.save("case-1", {"flows": {"n": 4}})  # between two locks, from another process
    with store.locked("case-1"):
        assert store.load("case-1")["flows"] == {"n": 4}  # type: ignore[index]


def test_a_server_with_a_password_is_opened_with_it_and_a_wrong_one_is_one_line(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis", password="right-pass-123").start()
    try:
        url = f"redis://:right-pass-123@127.0.0.1:{server.port}/0"
        open_store(url).save("case-1", {"flows": {}})
        assert open_store(url).load("case-1") is not None
        for wrong in (f"redis://:wrong-pass-456@127.0.0.1:{server.port}/0", server.url):
            with pytest.raises(StoreError, match="password") as caught:
                open_store(wrong)
            message = str(caught.value)
            assert "pass-" not in message and "\n" not in message
    finally:
        server.kill()


def test_a_server_that_stops_answering_is_one_line_and_its_session_is_not_left_locked(
    own_server: RedisServer, rules: DVRules
) -> None:
    """A hung server (SIGSTOP): the turn gives up with a message; the lock commands it sent
    run when the server wakes, and the next turn is not kept waiting by them."""
    import signal

    store = RedisStore(own_server.url, lock_seconds=120, wait_seconds=3)
    Session(rules, "minimum-standards", CODE, store).answer("posters_in_public_areas", True)
    assert own_server.proc is not None
    own_server.proc.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(StoreError, match="did not answer in time"):
            Session(rules, "minimum-standards", CODE, store).answer("website_information", True)
    finally:
        own_server.proc.send_signal(signal.SIGCONT)
    s = Session(rules, "minimum-standards", CODE, store)  # not "busy": the lock is ours
    s.answer("website_information", True)
    assert s.answers == {"posters_in_public_areas": True, "website_information": True}
