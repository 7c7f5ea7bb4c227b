"""The store under crashes, disk faults, bad settings and damage (issue 13, point 8).

Real files in a private directory throughout; the only things replaced are the system calls
that fail on a full disk (there is no full disk to borrow in a test). The crash test kills
real writer processes with SIGKILL.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import dvrules.store as store_module
from dvrules import DVRules, Session, StoreError, TinyDBStore
from dvrules.chat import Conversation
from dvrules.store import DamagedSessionError

ROOT = Path(__file__).resolve().parent.parent


def temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".tmp-"))


def session_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.json") if not p.name.startswith("."))


# ---------------------------------------------------------------------- kill -9 during writes


def _write_forever(directory: str, ready: Any) -> None:
    store = TinyDBStore(directory)
    n = 0
    ready.set()
    while True:
        n += 1
        sid = f"case-{n % 3}"
        store.save(sid, {"flows": {"cdrp": {"answers": {"advocates_fte": n}}}, "n": n})


def test_kill_9_during_writes_leaves_whole_sessions_and_no_temporary_files(tmp_path: Path) -> None:
    """Many writers killed at random moments: every session file left is a whole version,
    nothing named .tmp- survives the next opening of the store, and a written answer is never
    found in a leftover file."""
    directory = tmp_path / "store"
    TinyDBStore(directory)
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(13)
    runs, left_before_open = 40, 0
    deadline = time.monotonic() + 20  # bounded whatever the machine's load
    for run in range(runs):  # noqa: B007 (the count is read after the loop)
        if time.monotonic() > deadline:
            break
        ready = ctx.Event()
        writer = ctx.Process(target=_write_forever, args=(str(directory), ready))
        writer.start()
        assert ready.wait(10)
        time.sleep(rng.uniform(0.002, 0.03))
        os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        writer.join(10)
        assert writer.exitcode == -signal.SIGKILL
        left_before_open += bool(temporaries(directory))
        store = TinyDBStore(directory)  # opening cleans up after the crash
        assert temporaries(directory) == []
        for sid in ("case-0", "case-1", "case-2"):
            record = store.load(sid)  # never damaged: the old version or the new
            if record is not None:
                assert record["flows"]["cdrp"]["answers"]["advocates_fte"] == record["n"]
    assert run >= 10, "too few runs finished in the time allowed"
    # an unnamed temporary file (O_TMPFILE) dies with its process: names are rare
    assert left_before_open <= run // 2 + 1


def test_a_leftover_temporary_file_is_erased_at_open_purge_and_forget(store_dir: Path) -> None:
    store = TinyDBStore()
    store.save("case-1", {"flows": {"cdrp": {"answers": {"advocates_fte": 3}}}})
    key = store._path("case-1").stem

    def crashed_write() -> Path:
        leftover = store_dir / f".tmp-{key}.deadbeef0001"
        leftover.write_text('{"session":{"1":{"flows":{"cdrp":{"answers":{"advocates_fte":4}}}}}}')
        return leftover

    leftover = crashed_write()
    TinyDBStore()
    assert not leftover.exists()
    leftover = crashed_write()
    assert store.purge_expired() == 0
    assert not leftover.exists()
    leftover = crashed_write()
    assert store.delete("case-1")
    assert not leftover.exists()
    assert session_files(store_dir) == []


def test_a_temporary_file_of_a_write_in_progress_is_left_alone(store_dir: Path) -> None:
    store = TinyDBStore()
    key = store._path("case-1").stem
    writing = store_dir / f".tmp-{key}.inprogress01"
    with store.locked("case-1"):
        writing.write_text("{}")
        pid = os.fork()
        if pid == 0:  # another process opening the store meanwhile
            try:
                TinyDBStore(store_dir)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert writing.exists()
    TinyDBStore()
    assert not writing.exists()


def test_the_directory_is_fsynced_after_the_rename(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyDBStore()
    store.save("case-1", {"flows": {}})
    events: list[str] = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src: Any, dst: Any) -> None:
        events.append("rename")
        real_replace(src, dst)

    def fsync(fd: int) -> None:
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    monkeypatch.setattr(store_module.os, "replace", replace)
    monkeypatch.setattr(store_module.os, "fsync", fsync)
    store.save("case-1", {"flows": {}})
    assert events == ["fsync file", "rename", "fsync dir"]


# ---------------------------------------------------------------------- disk faults


def _fails(code: int) -> Any:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize(
    "code, says",
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EROFS, "the disk is read-only"),
        (errno.EACCES, "permission denied"),
    ],
)
def test_a_full_or_read_only_disk_is_one_clear_store_error(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch, code: int, says: str
) -> None:
    store = TinyDBStore()
    store.save("case-1", {"flows": {"cdrp": {"answers": {"advocates_fte": 1}}}})
    with monkeypatch.context() as m:
        m.setattr(store_module.os, "fsync", _fails(code))
        with pytest.raises(StoreError) as caught:
            store.save("case-1", {"flows": {"cdrp": {"answers": {"advocates_fte": 2}}}})
    message = str(caught.value)
    assert message == f"cannot write to the session store at {store_dir}: {says}"
    assert "\n" not in message and "case-1" not in message
    assert store.load("case-1")["flows"]["cdrp"]["answers"] == {"advocates_fte": 1}  # type: ignore[index]
    assert temporaries(store_dir) == []


def test_a_store_on_a_read_only_file_system_cannot_be_created(tmp_path: Path) -> None:
    """/sys is mounted read-only (or refuses new directories): a real refusal, not a fake."""
    with pytest.raises(StoreError, match=r"^cannot create the session store at /sys/"):
        TinyDBStore("/sys/dvrules-sessions")


def _cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dvrules", *args],
        input=stdin,
        text=True,
        capture_output=True,
        env={**os.environ, **env},
        timeout=120,
        cwd=ROOT,
    )


def test_the_cli_says_one_line_when_the_store_cannot_be_used(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    for args in (
        ["sessions", "forget", "case-1"],
        ["sessions", "purge"],
        ["chat", "cdrp", "--session", "case-1"],
    ):
        run = _cli(*args, env={"DVRULES_DB": str(not_a_dir / "sessions")})
        assert run.returncode == 2, run.stderr
        assert "Traceback" not in run.stderr
        assert run.stderr.strip().startswith("cannot create the session store at")
        assert len(run.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------- time to live


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "thirty", "1e308", "  "])
def test_the_time_to_live_must_be_a_positive_finite_number_of_days(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("DVRULES_SESSION_TTL_DAYS", value)
    if not value.strip():  # blank: the default
        assert TinyDBStore().ttl_seconds == 30 * 86400
        return
    with pytest.raises(
        StoreError, match="DVRULES_SESSION_TTL_DAYS: .* is not a positive number of days"
    ):
        TinyDBStore()


@pytest.mark.parametrize("value", [0, -5, float("nan"), float("inf"), True, "30"])
def test_a_time_to_live_given_in_code_is_checked_too(store_dir: Path, value: Any) -> None:
    with pytest.raises(StoreError, match="ttl_seconds"):
        TinyDBStore(ttl_seconds=value)


def test_a_fractional_time_to_live_is_allowed(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVRULES_SESSION_TTL_DAYS", "0.5")
    assert TinyDBStore().ttl_seconds == 43200


# ---------------------------------------------------------------------- keyed file names


def test_file_names_are_keyed_so_a_case_code_cannot_be_recovered(
    tmp_path: Path, rules: DVRules
) -> None:
    one, two = TinyDBStore(tmp_path / "one"), TinyDBStore(tmp_path / "two")
    for store in (one, two):
        Session(rules, "cdrp", "case-1", store).answer("advocacy_service_independent", True)
    unkeyed = hashlib.sha256(b"case-1").hexdigest()[:40]
    names = session_files(one.directory) + session_files(two.directory)
    assert len(set(names)) == 2, "the same code gets different names in different stores"
    assert not any(unkeyed in n for n in names)
    secret = one.directory / ".secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text().strip()) == 64
    # the key is kept: a new store object over the same directory finds the session
    assert Session(rules, "cdrp", "case-1", TinyDBStore(one.directory)).answers == {
        "advocacy_service_independent": True
    }


def test_two_processes_creating_a_store_at_once_agree_on_its_key(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=TinyDBStore, args=(str(directory),)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    key = (directory / ".secret").read_text()
    TinyDBStore(directory).save("case-1", {"flows": {}})
    assert (directory / ".secret").read_text() == key
    assert temporaries(directory) == []


def test_a_store_from_before_keyed_names_moves_each_session_when_it_is_next_loaded(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "store"
    directory.mkdir()
    old_name = hashlib.sha256(b"case-old").hexdigest()[:40] + ".json"
    (directory / old_name).write_text(
        json.dumps(
            {
                "session": {
                    "1": {
                        "flows": {"cdrp": {"answers": {"advocates_fte": 2}}},
                        "updated": time.time(),
                    }
                }
            }
        )
    )
    forgotten = hashlib.sha256(b"case-gone").hexdigest()[:40] + ".json"
    (directory / forgotten).write_text((directory / old_name).read_text())
    store = TinyDBStore(directory)
    assert (directory / ".legacy").exists()
    record = store.load("case-old")
    assert record is not None and record["flows"]["cdrp"]["answers"] == {"advocates_fte": 2}
    assert not (directory / old_name).exists()
    assert store._path("case-old").exists()
    assert store.delete("case-gone")  # forget reaches an old-named session too
    assert not (directory / forgotten).exists()


# ---------------------------------------------------------------------- damage


def _damage(store: TinyDBStore, sid: str, rules: DVRules) -> None:
    Session(rules, "cdrp", sid, store).answer("advocacy_service_independent", True)
    store._path(sid).write_bytes(b'{"session": {"1": {"flows": \xff')


def test_a_damaged_session_is_reported_and_its_owner_can_erase_it(
    store_dir: Path, rules: DVRules
) -> None:
    store = TinyDBStore()
    _damage(store, "case-bad", rules)
    with pytest.raises(DamagedSessionError, match="damaged"):
        store.load("case-bad")
    assert store.delete("case-bad")
    assert store.load("case-bad") is None


def test_a_chat_with_a_damaged_session_says_so_and_erases_it_on_request(
    store_dir: Path, rules: DVRules
) -> None:
    store = TinyDBStore()
    _damage(store, "chat-1", rules)
    conversation = Conversation(rules, store)
    reply = conversation.text("chat-1", "yes")
    said = " ".join(m.plain() for m in reply.messages)
    assert "damaged" in said and "forget now" in said and "999" in said
    assert store._path("chat-1").exists()  # nothing erased without asking
    buttons = [b for m in reply.messages for row in m.buttons for b in row]
    no = next(b for b in buttons if b.label.startswith("No"))
    assert conversation.press("chat-1", no.payload).notice == "Kept. Nothing was erased."
    yes = next(b for b in buttons if b.label.startswith("Yes"))
    erased = conversation.press("chat-1", yes.payload)
    assert erased.forgotten and "Erased" in erased.messages[0].plain()
    assert not store._path("chat-1").exists()
    assert "damaged" not in " ".join(
        m.plain() for m in conversation.text("chat-1", "start").messages
    )


def test_a_chat_whose_store_fails_says_so_without_a_traceback(
    store_dir: Path, rules: DVRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyDBStore()
    conversation = Conversation(rules, store)
    monkeypatch.setattr(store_module, "_lock_file", _fails(errno.EIO))
    reply = conversation.text("chat-2", "start")
    said = " ".join(m.plain() for m in reply.messages)
    assert "cannot be read or saved just now" in said and "999" in said
    assert str(store_dir) not in said


def test_the_terminal_chat_names_the_command_that_erases_a_damaged_session(
    store_dir: Path, rules: DVRules
) -> None:
    _damage(TinyDBStore(), "case-bad", rules)
    run = _cli("chat", "cdrp", "--session", "case-bad", env={"DVRULES_DB": str(store_dir)})
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "damaged" in run.stderr
    assert "dvrules sessions forget case-bad" in run.stderr
    forget = _cli("sessions", "forget", "case-bad", env={"DVRULES_DB": str(store_dir)})
    assert forget.returncode == 0 and "erased" in forget.stdout
    assert session_files(store_dir) == []


def test_the_home_page_of_a_damaged_session_offers_to_erase_it(
    store_dir: Path, rules: DVRules
) -> None:
    store = TinyDBStore()
    _damage(store, "chat-3", rules)
    home = Conversation(rules, store).home("chat-3")
    assert "damaged" in home.plain()
    assert [b.label for row in home.buttons for b in row] == ["Yes, erase now", "No, keep"]
