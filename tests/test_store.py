"""The session store: atomic writes, no lost updates across processes, damage and expiry.

What every store must do runs against all three (``any_store``): the file store on real files
in a private directory (the ``store_dir`` fixture), the memory store, and Redis on a real
server the tests start (tests/redis_server.py). What only the file store has (files, crashes
mid-write) runs against it alone; Redis's own is in test_redis_store.py. The only thing
replaced is the clock the stores read, to age sessions without waiting.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dvrules.store as store_module
import dvrules.store_redis as redis_store_module
from dvrules import (
    DVRules,
    MemoryStore,
    Session,
    SessionError,
    SessionStore,
    StoreError,
    TinyDBStore,
    default_rules,
    open_store,
)

DAY = 86400.0


def files(directory: Path) -> list[str]:
    """The store's files but its key (``.secret``, created with the store)."""
    return sorted(p.name for p in directory.iterdir() if p.name != ".secret")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """The stores' clock, settable: ``clock.now`` seconds since the epoch."""
    fake = types.SimpleNamespace(now=time.time())
    fake_time = types.SimpleNamespace(
        time=lambda: fake.now, monotonic=time.monotonic, sleep=time.sleep
    )
    monkeypatch.setattr(store_module, "time", fake_time)
    monkeypatch.setattr(redis_store_module, "time", fake_time)
    return fake


Opener = Callable[[], SessionStore]


def _opener(kind: str, request: pytest.FixtureRequest) -> Opener:
    """Opens the store of ``kind`` again each call, as another process would (the memory
    store: the same one, made at the first call so it reads the settings of the test)."""
    if kind == "files":
        return TinyDBStore
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        return lambda: open_store(url)
    made: list[MemoryStore] = []

    def memory() -> MemoryStore:
        if not made:
            made.append(MemoryStore())
        return made[0]

    return memory


@pytest.fixture(params=["files", "memory", "redis"])
def any_store(request: pytest.FixtureRequest, store_dir: Path) -> Opener:
    return _opener(request.param, request)


@pytest.fixture(params=["files", "redis"])
def shared_store(request: pytest.FixtureRequest, store_dir: Path) -> tuple[str, Opener]:
    """A store several processes share: its URL (or directory) and an opener."""
    opener = _opener(request.param, request)
    where = request.getfixturevalue("redis_url") if request.param == "redis" else str(store_dir)
    return where, opener


# ---------------------------------------------------------------------- round trip


def test_a_saved_record_loads_back_unchanged(any_store: Opener) -> None:
    store = any_store()
    record = {
        "flows": {
            "cdrp": {
                "answers": {
                    "advocacy_service_independent": True,
                    "advocates_fte": 2.5,
                    "plans_integrating_dv": ["local_area_agreement"],
                    "arrest_rate_percent": None,
                },
                "history": ["advocacy_service_independent"],
                "prefilled": {},
                "completed": False,
            }
        },
        "current": "cdrp",
    }
    store.save("case-1", record)
    loaded = store.load("case-1")
    assert loaded is not None
    assert {k: loaded[k] for k in record} == record
    assert any_store().load("case-1") == loaded  # opened again, as another process would
    assert store.load("case-2") is None
    assert store.count() == 1


def test_the_store_lives_where_DVRULES_DB_says(store_dir: Path) -> None:
    TinyDBStore().save("case-1", {"flows": {}})
    assert TinyDBStore().directory == store_dir
    assert [n for n in files(store_dir) if n.endswith(".json")]


def test_a_second_save_replaces_the_first(any_store: Opener) -> None:
    store = any_store()
    store.save("case-1", {"flows": {"cdrp": {"answers": {"a": 1}}}})
    store.save("case-1", {"flows": {"cdrp": {"answers": {"b": 2}}}})
    assert store.load("case-1")["flows"] == {"cdrp": {"answers": {"b": 2}}}  # type: ignore[index]
    assert store.count() == 1


# ---------------------------------------------------------------------- crash mid-write


def _half_then_full_disk(real_fdopen: Callable[..., Any]) -> Callable[..., Any]:
    """``os.fdopen`` whose file takes half of what is written, then finds the disk full."""

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        fh = real_fdopen(fd, *args, **kwargs)
        write = fh.write

        def half_then_fail(text: str) -> int:
            write(text[: len(text) // 2])
            fh.flush()
            raise OSError(28, "No space left on device")

        fh.write = half_then_fail
        return fh

    return fdopen


def _replace_fails(src: Any, dst: Any) -> None:
    raise OSError(5, "Input/output error")


@pytest.mark.parametrize("breaks", ["the write", "os.replace"])
def test_a_crash_mid_write_leaves_the_previous_version_intact(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch, breaks: str
) -> None:
    store = TinyDBStore()
    store.save("case-1", {"flows": {"cdrp": {"answers": {"advocacy_service_independent": True}}}})
    before = {n: (store_dir / n).read_bytes() for n in files(store_dir)}

    with monkeypatch.context() as m, pytest.raises(StoreError, match="cannot write"):
        if breaks == "the write":
            m.setattr(store_module.os, "fdopen", _half_then_full_disk(store_module.os.fdopen))
        else:
            m.setattr(store_module.os, "replace", _replace_fails)
        store.save(
            "case-1", {"flows": {"cdrp": {"answers": {"advocacy_service_independent": False}}}}
        )

    after = {n: (store_dir / n).read_bytes() for n in files(store_dir)}
    assert after == before, "the file changed, or a temporary file was left behind"
    loaded = TinyDBStore().load("case-1")
    assert loaded is not None
    assert loaded["flows"]["cdrp"]["answers"] == {"advocacy_service_independent": True}


def test_a_crash_during_an_answer_keeps_the_earlier_answers(
    store_dir: Path, rules: DVRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Session(rules, "minimum-standards", "case-1", TinyDBStore())
    s.answer("posters_in_public_areas", True)
    with monkeypatch.context() as m, pytest.raises(StoreError):
        m.setattr(store_module.os, "replace", _replace_fails)
        s.answer("website_information", True)
    fresh = Session(rules, "minimum-standards", "case-1", TinyDBStore())
    assert fresh.answers == {"posters_in_public_areas": True}
    assert not [n for n in files(store_dir) if n.startswith(".tmp")]


# ---------------------------------------------------------------------- two processes


def _answer_in_turn(where: str, qids: list[str], rounds: int, start: Any) -> None:
    """A separate process answering its share of the questions, every round a new value."""
    rules = default_rules()
    start.wait()
    for r in range(rounds):
        for qid in qids:
            s = Session(rules, "cdrp", "shared-case", open_store(where))
            s.answer(qid, r % 2 == 0)


def test_two_processes_answering_one_session_lose_nothing(
    shared_store: tuple[str, Opener], store_dir: Path, rules: DVRules
) -> None:
    where, opener = shared_store
    yes_no = [q for q in rules.kb.flow("cdrp").questions if rules.kb.questions[q].type == "yes_no"]
    mine, theirs = yes_no[0::2], yes_no[1::2]
    rounds = 3  # the last round (2) writes True everywhere
    Session(rules, "cdrp", "shared-case", opener())  # created before the race
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [
        ctx.Process(target=_answer_in_turn, args=(where, qids, rounds, start))
        for qids in (mine, theirs)
    ]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    answers = Session(rules, "cdrp", "shared-case", opener()).answers
    lost = sorted(q for q in yes_no if answers.get(q) is not True)
    assert lost == [] and set(answers) == set(yes_no)
    assert not store_dir.exists() or not [n for n in files(store_dir) if n.startswith(".tmp")]


def test_writers_waiting_on_an_erased_session_still_enter_one_at_a_time(any_store: Opener) -> None:
    """An erase under the lock (an expired session found by ``load``) must not let a writer
    that was waiting on the old lock (file) run beside one arriving afterwards."""
    store = any_store()
    store.save("case-1", {"flows": {}})
    inside: list[str] = []
    overlap: list[list[str]] = []
    go = threading.Event()

    def writer(name: str) -> None:
        with any_store().locked("case-1"):
            if inside:
                overlap.append([*inside, name])
            inside.append(name)
            go.wait(10)
            inside.remove(name)

    waiting = threading.Thread(target=writer, args=("waiting",))
    arriving = threading.Thread(target=writer, args=("arriving",))
    with store.locked("case-1"):
        waiting.start()
        time.sleep(0.1)  # "waiting" opens the lock file and blocks on it
        store.delete("case-1")
        arriving.start()
        time.sleep(0.1)  # "arriving" comes after the erase
    time.sleep(0.2)  # room for both to enter wrongly; never needed when they cannot
    go.set()
    waiting.join(10)
    arriving.join(10)
    assert overlap == []
    assert not waiting.is_alive() and not arriving.is_alive()


# ---------------------------------------------------------------------- damage


def test_a_damaged_session_file_is_refused_and_left_as_it_is(
    store_dir: Path, rules: DVRules
) -> None:
    store = TinyDBStore()
    Session(rules, "cdrp", "case-bad", store).answer("advocacy_service_independent", True)
    Session(rules, "cdrp", "case-good", store).answer("advocacy_service_independent", False)
    bad = store._path("case-bad")
    bad.write_text('{"session": {"1": {"flows": {"cdrp": {"answ')  # torn by a disk fault
    damaged = bad.read_bytes()

    with pytest.raises(StoreError, match="damaged"):
        store.load("case-bad")
    with pytest.raises(StoreError):
        Session(rules, "cdrp", "case-bad", store)
    with pytest.raises(StoreError):
        store.save("case-bad", {"flows": {}})
    assert bad.read_bytes() == damaged
    assert store.purge_expired() == 0
    assert bad.read_bytes() == damaged

    good = Session(rules, "cdrp", "case-good", TinyDBStore())
    assert good.answers == {"advocacy_service_independent": False}


@pytest.mark.parametrize(
    "content",
    [
        "[1, 2]",
        '{"session": [1, 2]}',
        '{"session": {"1": 5}}',
        '{"session": {"one": {}}}',
        '"text"',
    ],
)
def test_a_file_of_valid_json_but_the_wrong_shape_is_damage_too(
    store_dir: Path, content: str
) -> None:
    store = TinyDBStore()
    store.save("case-1", {"flows": {}})
    store._path("case-1").write_text(content)
    with pytest.raises(StoreError, match="damaged"):
        store.load("case-1")
    assert store._path("case-1").read_text() == content


# ---------------------------------------------------------------------- expiry


def test_a_session_older_than_the_time_to_live_loads_as_none_and_is_erased(
    any_store: Opener,
    store_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: types.SimpleNamespace,
) -> None:
    monkeypatch.setenv("DVRULES_SESSION_TTL_DAYS", "2")
    store = any_store()
    store.save("case-1", {"flows": {"cdrp": {"answers": {"councillor_dv_lead": True}}}})
    clock.now += 1.5 * DAY
    assert store.load("case-1") is not None  # within the time to live
    store.save("case-1", {"flows": {"cdrp": {"answers": {"councillor_dv_lead": True}}}})
    clock.now += 1.5 * DAY
    assert store.load("case-1") is not None  # a save restarts the clock
    clock.now += 2.5 * DAY
    assert store.load("case-1") is None
    assert not store_dir.exists() or files(store_dir) == []
    assert store.count() == 0


def test_the_default_time_to_live_is_30_days(
    any_store: Opener, clock: types.SimpleNamespace
) -> None:
    store = any_store()
    store.save("case-1", {"flows": {}})
    clock.now += 29 * DAY
    assert store.load("case-1") is not None
    clock.now += 2 * DAY
    assert store.load("case-1") is None


def test_an_expired_session_starts_afresh_in_an_interview(
    any_store: Opener, rules: DVRules, clock: types.SimpleNamespace
) -> None:
    Session(rules, "cdrp", "case-1", any_store()).answer("advocacy_service_independent", True)
    clock.now += 31 * DAY
    s = Session(rules, "cdrp", "case-1", any_store())
    assert s.answers == {}
    assert s.next_question().id == "advocacy_service_independent"  # type: ignore[union-attr]


def test_purge_erases_only_expired_sessions_and_counts_them(
    store_dir: Path, clock: types.SimpleNamespace
) -> None:
    """(Redis erases expired sessions itself, by their TTL: see test_redis_store.py.)"""
    store = TinyDBStore()
    for sid in ("old-1", "old-2", "old-3"):
        store.save(sid, {"flows": {}})
    clock.now += 20 * DAY
    store.save("recent", {"flows": {}})
    clock.now += 15 * DAY
    assert store.purge_expired() == 3
    assert store.count() == 1
    assert store.load("recent") is not None
    assert all(store.load(s) is None for s in ("old-1", "old-2", "old-3"))
    assert {p.stem for p in store_dir.iterdir()} - {".secret"} == {store._path("recent").stem}
    assert store.purge_expired() == 0


def test_an_unreadable_time_to_live_setting_is_a_store_error(
    any_store: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVRULES_SESSION_TTL_DAYS", "thirty")
    with pytest.raises(StoreError, match="DVRULES_SESSION_TTL_DAYS"):
        any_store()


# ---------------------------------------------------------------------- privacy


def test_session_ids_never_appear_on_disk(store_dir: Path, rules: DVRules) -> None:
    code = "KX7Q-2291"
    s = Session(rules, "minimum-standards", code, TinyDBStore())
    s.answer("posters_in_public_areas", True)
    names = files(store_dir)
    assert names and not any(code.lower() in n.lower() for n in names)
    for n in names:
        assert code.encode() not in (store_dir / n).read_bytes()
    # another id gets another file
    Session(rules, "minimum-standards", "KX7Q-2292", TinyDBStore())
    assert TinyDBStore().count() == 2


@pytest.mark.parametrize(
    "bad",
    [
        "../etc/passwd",
        "a/b",
        "..",
        "case 1",
        "",
        "x" * 65,
        "C:\\cases\\1",
        "case\n1",
        "case1\n",
        "case\x001",
    ],
)
def test_case_codes_with_path_characters_are_refused(
    store_dir: Path, rules: DVRules, bad: str
) -> None:
    with pytest.raises(SessionError, match="session id"):
        Session(rules, "cdrp", bad, TinyDBStore())
    assert not store_dir.exists() or files(store_dir) == []


def test_forget_erases_the_session_and_keeps_the_others(any_store: Opener, rules: DVRules) -> None:
    s = Session(rules, "cdrp", "case-1", any_store())
    s.answer("advocacy_service_independent", True)
    keep = Session(rules, "cdrp", "case-2", any_store())
    keep.answer("advocacy_service_independent", False)
    s.forget()
    assert any_store().load("case-1") is None and any_store().count() == 1
    assert Session(rules, "cdrp", "case-2", any_store()).answers == {
        "advocacy_service_independent": False
    }


def test_forget_erases_the_session_and_its_lock(store_dir: Path, rules: DVRules) -> None:
    s = Session(rules, "cdrp", "case-1", TinyDBStore())
    s.answer("advocacy_service_independent", True)
    keep = Session(rules, "cdrp", "case-2", TinyDBStore())
    keep.answer("advocacy_service_independent", False)
    s.forget()
    assert TinyDBStore().load("case-1") is None
    assert {p.stem for p in store_dir.iterdir()} - {".secret"} == {
        TinyDBStore()._path("case-2").stem
    }
    assert keep.answers == {"advocacy_service_independent": False}


# ---------------------------------------------------------------------- requests seen


def test_a_request_seen_once_is_refused_by_every_opening_of_the_store_until_it_is_old(
    any_store: Opener,
) -> None:
    """What the Slack bot's replay refusal and the Telegram webhook's de-duplication rest on:
    the memory is the store's, so another worker (another opening) refuses a repeat too."""
    from dvrules.store import seen_requests

    first, other = seen_requests(any_store()), seen_requests(any_store())
    assert first.first_time(["sig:v0=abc", "ev:Ev1"], 0.5)
    assert not other.first_time(["ev:Ev1"], 0.5)
    assert not first.first_time(["sig:v0=new", "ev:Ev1"], 0.5)  # any key seen: a repeat
    assert other.first_time(["ev:Ev2"], 0.5)
    time.sleep(0.7)
    assert other.first_time(["ev:Ev1"], 0.5)  # remembered only as long as asked


def test_copies_of_one_request_arriving_at_once_go_on_exactly_once(any_store: Opener) -> None:
    from dvrules.store import seen_requests

    keys = ["sig:v0=same", "ev:Ev9", "tr:trig-9"]
    answers: list[bool] = []
    go = threading.Barrier(8)

    def worker() -> None:
        seen = seen_requests(any_store())  # each as another worker would open it
        go.wait()
        answers.append(seen.first_time(keys, 60))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(answers) == [False] * 7 + [True]
