"""Where sessions live between turns: a TinyDB file per session, written atomically.

One file per session keeps a turn's write cost flat however many sessions are stored (a single
TinyDB file is rewritten whole on every write). Each write goes to an unnamed temporary file
(``O_TMPFILE``) that is flushed, given a name the store recognises (``.tmp-<key>.<random>``)
only at the last moment and renamed over the old one; the directory is then fsynced. A crash
mid-write leaves the previous version intact and, at most, a named temporary file that the
next opening of the store, ``purge_expired`` or ``forget`` erases. A per-session lock file
serialises read-modify-write across processes.

File names are keyed hashes (HMAC-SHA256) of the session id under a secret created with the
store (``.secret``, mode 0600), so a case code cannot be recovered from a file name by trying
likely codes. A store written before the secret existed is marked ``.legacy``: its sessions
are moved to keyed names when they are next loaded, and those never loaded again expire and
are purged as before.

Every failure of the disk (read-only, full, permissions) is a ``StoreError`` of one line.

The ``SessionStore`` protocol is the seam other stores plug into: ``MemoryStore`` here, and
``RedisStore`` (``dvrules.store_redis``) for several processes or machines; ``open_store``
picks one from a URL (``DVRULES_STORE``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from platformdirs import user_data_dir
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from dvrules.errors import StoreError as StoreError  # re-exported: callers import it from here

DEFAULT_TTL_SECONDS = 30 * 24 * 3600
TMP_PREFIX = ".tmp-"
SECRET_FILE = ".secret"
LEGACY_MARKER = ".legacy"
SEEN_DIR = ".seen"


class DamagedSessionError(StoreError):
    """A session file that cannot be read; it is left as it is until its owner erases it."""


class SessionStore(Protocol):
    def load(self, session_id: str) -> dict[str, Any] | None: ...
    def save(self, session_id: str, record: dict[str, Any]) -> None: ...
    def delete(self, session_id: str) -> bool: ...
    def locked(self, session_id: str) -> contextlib.AbstractContextManager[None]: ...
    def purge_expired(self) -> int: ...
    def count(self) -> int: ...


@runtime_checkable
class SeenRequests(Protocol):
    """A memory of requests already handled, shared by every process that uses the store:
    a platform's retry or a replayed request is then refused by whichever process gets it."""

    def first_time(self, keys: list[str], ttl_seconds: float) -> bool:
        """``True`` (and remember every key) if no key was seen in the last ``ttl_seconds``."""
        ...


def seen_requests(store: object) -> SeenRequests:
    """The store's shared memory of requests seen, or this process's for a store without one."""
    return store if isinstance(store, SeenRequests) else LocalSeen()


class LocalSeen:
    """Requests seen by this process only (bounded; oldest forgotten first)."""

    def __init__(self, size: int = 200_000):
        self.size = size
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> when it stops counting
        self._lock = threading.Lock()

    def first_time(self, keys: list[str], ttl_seconds: float) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen and (
                len(self._seen) >= self.size or next(iter(self._seen.values())) < now
            ):
                self._seen.popitem(last=False)
            if any(self._seen.get(k, 0.0) >= now for k in keys):
                return False
            for k in keys:
                self._seen.pop(k, None)
                self._seen[k] = now + ttl_seconds
            return True


class FileSeen:
    """Requests seen by any process on this machine: one empty file per key (a keyed hash),
    created with ``O_EXCL``, its age the time it was seen; old files are swept now and then.
    Copies of one request carry the same keys in the same order, so the first key decides
    which copy goes on."""

    SWEEP_EVERY = 300.0

    def __init__(self, directory: Path, secret: bytes):
        self.directory, self._secret = directory, secret
        self._next_sweep = 0.0
        self._longest = 0.0
        with _disk("create", directory):
            directory.mkdir(exist_ok=True, mode=0o700)

    def first_time(self, keys: list[str], ttl_seconds: float) -> bool:
        now = time.time()
        self._longest = max(self._longest, ttl_seconds)
        with _disk("write to", self.directory):
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self.SWEEP_EVERY
                self._sweep(now - self._longest)
            for key in keys:
                name = hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()[:40]
                path = self.directory / name
                try:
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                except FileExistsError:
                    try:
                        seen = path.stat().st_mtime
                    except FileNotFoundError:
                        seen = 0.0
                    if now - seen <= ttl_seconds:
                        # Stop at once: a repeat must not mark keys that the request it
                        # repeats (perhaps still on its way through another worker) has
                        # yet to mark, or both would be refused.
                        return False
                    os.utime(path)
        return True

    def _sweep(self, before: float) -> None:
        for path in self.directory.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < before:
                    path.unlink()


_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the disk is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "a disk input/output error",
}


def disk_error(exc: OSError, doing: str, where: Path) -> StoreError:
    """One line saying what could not be done, where, and why (no answers, no session id)."""
    reason = _REASONS.get(exc.errno or 0) or exc.strerror or exc.__class__.__name__
    return StoreError(f"cannot {doing} the session store at {where}: {reason}")


@contextlib.contextmanager
def _disk(doing: str, where: Path) -> Iterator[None]:
    try:
        yield
    except StoreError:
        raise
    except OSError as exc:
        raise disk_error(exc, doing, where) from exc


def _fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces the file atomically on every write."""

    def __init__(self, path: str):
        self.path = Path(path)

    def read(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            text = "\0"  # not text: damaged
        if not text.strip():
            return None
        damaged = DamagedSessionError(
            f"session file {self.path.name} is damaged and cannot be read; it was left as it is"
        )
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise damaged from exc
        # Valid JSON of the wrong shape is damage too (TinyDB would fail on it with a TypeError).
        if not isinstance(data, dict) or not all(
            isinstance(table, dict)
            and all(
                isinstance(doc, dict) and str(doc_id).isdigit() for doc_id, doc in table.items()
            )
            for table in data.values()
        ):
            raise damaged
        return data

    def write(self, data: dict[str, Any]) -> None:
        directory = self.path.parent
        named = directory / f"{TMP_PREFIX}{self.path.stem}.{secrets.token_hex(6)}"
        fd, unnamed = _open_temp(directory, named)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(data, separators=(",", ":")))  # C encoder, one write
                fh.flush()
                os.fsync(fh.fileno())
                if unnamed:  # named only now: a crash before this leaves nothing behind
                    _name_temp(fh.fileno(), named)
            os.replace(named, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(named)
            raise
        _fsync_dir(directory)

    def close(self) -> None:
        return None


def _name_temp(fd: int, named: Path) -> None:
    """Give an ``O_TMPFILE`` file a name (linkat through /proc: a dir fd makes Python use
    ``linkat`` with ``AT_SYMLINK_FOLLOW`` rather than ``link``)."""
    dir_fd = os.open(named.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.link(f"/proc/self/fd/{fd}", named.name, dst_dir_fd=dir_fd, follow_symlinks=True)
    finally:
        os.close(dir_fd)


_TMPFILE_WORKS: dict[Path, bool] = {}


def _open_temp(directory: Path, named: Path) -> tuple[int, bool]:
    """A file to write into: unnamed (``O_TMPFILE``) where the system allows, else ``named``."""
    if (
        _TMPFILE_WORKS.get(directory, True)
        and hasattr(os, "O_TMPFILE")
        and os.path.isdir("/proc/self/fd")
    ):
        try:
            return os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o600), True
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
            _TMPFILE_WORKS[directory] = False
    return os.open(named, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), False


def default_store_dir() -> Path:
    return Path(os.environ.get("DVRULES_DB") or Path(user_data_dir("dvrules")) / "sessions")


class TinyDBStore:
    """Sessions in ``directory``, one TinyDB file each; expired sessions are erased on sight."""

    TABLE = "session"

    def __init__(self, directory: Path | str | None = None, ttl_seconds: float | None = None):
        self.directory = Path(directory) if directory is not None else default_store_dir()
        self.ttl_seconds = ttl_seconds_from(ttl_seconds)
        self._local = threading.local()  # session ids whose lock this thread holds
        self._seen: FileSeen | None = None
        with _disk("create", self.directory):
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _disk("open", self.directory):
            self._secret = self._open_secret()
            self._legacy = (self.directory / LEGACY_MARKER).exists()
        self.clean_temporary_files()

    def _open_secret(self) -> bytes:
        """The store's key for file names, created with the store (mode 0600).

        Created under a temporary name and linked into place, so two processes opening a new
        store at once agree on one secret.
        """
        path = self.directory / SECRET_FILE
        with contextlib.suppress(FileNotFoundError):
            return self._read_secret(path)
        older = any(self.directory.glob("*.json"))  # sessions named by the unkeyed hash
        tmp = self.directory / f"{TMP_PREFIX}secret.{secrets.token_hex(6)}"
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            if older:
                (self.directory / LEGACY_MARKER).touch(mode=0o600)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.directory)
        return self._read_secret(path)

    @staticmethod
    def _read_secret(path: Path) -> bytes:
        text = path.read_text(encoding="ascii", errors="replace").strip()
        if len(text) < 32:
            raise StoreError(
                f"the session store's key {path} is damaged; erasing the store's "
                "directory erases every session with it"
            )
        return text.encode("ascii")

    def _digest(self, session_id: str) -> str:
        return hmac.new(self._secret, session_id.encode("utf-8"), hashlib.sha256).hexdigest()[:40]

    def _path(self, session_id: str) -> Path:
        return self.directory / f"{self._digest(session_id)}.json"

    def _legacy_path(self, session_id: str) -> Path:
        """Where a store without a key kept this session (an unkeyed hash of its id)."""
        digest = hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:40]
        return self.directory / f"{digest}.json"

    def _held(self) -> set[str]:
        held = getattr(self._local, "ids", None)
        if held is None:
            held = self._local.ids = set()
        return held

    @contextlib.contextmanager
    def locked(self, session_id: str) -> Iterator[None]:
        """Hold the session's lock across a read-modify-write (also across processes).

        Re-entrant within a thread, so ``load``, ``save`` and ``delete`` may be called under it.
        """
        with self._locked(session_id):
            yield

    @contextlib.contextmanager
    def _locked(self, session_id: str) -> Iterator[bool]:
        """Yields ``True`` for the outermost holder (who may erase the lock file last)."""
        held = self._held()
        if session_id in held:
            yield False
            return
        with contextlib.ExitStack() as stack:
            with _disk("lock a session in", self.directory):
                stack.enter_context(_lock_file(self._path(session_id).with_suffix(".lock")))
            held.add(session_id)
            try:
                yield True
            finally:
                held.discard(session_id)

    def _expired(self, record: dict[str, Any]) -> bool:
        return bool(time.time() - record.get("updated", 0) > self.ttl_seconds)

    def _read(self, session_id: str) -> dict[str, Any] | None:
        path = self._path(session_id)
        if not path.exists():
            if not self._legacy or not self._legacy_path(session_id).exists():
                return None
            with self._locked(session_id):  # move it to its keyed name, once
                legacy = self._legacy_path(session_id)
                if legacy.exists() and not path.exists():
                    os.replace(legacy, path)
                    legacy.with_suffix(".lock").unlink(missing_ok=True)
                    _fsync_dir(self.directory)
        db = TinyDB(str(path), storage=AtomicJSONStorage)
        docs = db.table(self.TABLE).all()
        return dict(docs[0]) if docs else None

    def load(self, session_id: str) -> dict[str, Any] | None:
        with _disk("read", self.directory):
            record = self._read(session_id)
            if record is None or not self._expired(record):
                return record
            with self._locked(session_id) as outermost:
                record = self._read(session_id)  # another process may have saved it meanwhile
                if record is None or not self._expired(record):
                    return record
                self._erase(session_id, lock_file=outermost)
            return None

    def save(self, session_id: str, record: dict[str, Any]) -> None:
        record = {**record, "updated": time.time()}
        with _disk("write to", self.directory), self._locked(session_id):
            db = TinyDB(str(self._path(session_id)), storage=AtomicJSONStorage)
            # One upsert is one atomic file replacement: the old version or the new, never neither.
            db.table(self.TABLE).upsert(Document(record, doc_id=1))

    def delete(self, session_id: str) -> bool:
        """Erase the session now, damaged or not, with any temporary file of its writes."""
        with _disk("erase a session in", self.directory), self._locked(session_id) as outermost:
            return self._erase(session_id, lock_file=outermost)

    def _erase(self, session_id: str, lock_file: bool) -> bool:
        """Remove the session file; the lock file only when nothing else happens under the lock.

        A lock file is unlinked only as the last act of its outermost holder: a process that
        was waiting on it then finds it gone and locks the new one (see ``_lock_file``).
        """
        path = self._path(session_id)
        existed = path.exists()
        path.unlink(missing_ok=True)
        if self._legacy:
            legacy = self._legacy_path(session_id)
            existed = existed or legacy.exists()
            legacy.unlink(missing_ok=True)
            legacy.with_suffix(".lock").unlink(missing_ok=True)
        for tmp in self.directory.glob(f"{TMP_PREFIX}{path.stem}.*"):
            tmp.unlink(missing_ok=True)  # we hold the lock: no write of ours is in progress
        if lock_file:
            path.with_suffix(".lock").unlink(missing_ok=True)
        _fsync_dir(self.directory)
        return existed

    def clean_temporary_files(self) -> int:
        """Erase temporary files left by writes that crashed; returns how many.

        A write runs under its session's lock, so a temporary file whose lock is free (or
        missing) belongs to no write in progress.
        """
        removed = 0
        with _disk("clean", self.directory):
            for tmp in self.directory.glob(f"{TMP_PREFIX}*"):
                stem = tmp.name[len(TMP_PREFIX) :].split(".", 1)[0]
                if stem == "secret":
                    continue  # a store being created by another process
                lock_path = self.directory / f"{stem}.lock"
                try:
                    lock = open(lock_path)
                except FileNotFoundError:
                    lock = None
                try:
                    if lock is not None:
                        try:
                            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        except BlockingIOError:
                            continue  # a write is in progress
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                        removed += 1
                finally:
                    if lock is not None:
                        lock.close()
            if removed:
                _fsync_dir(self.directory)
        return removed

    def _files(self) -> Iterator[Path]:
        """Session files, not the temporary files of writes in progress."""
        return (p for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def purge_expired(self) -> int:
        """Erase every session not touched within the time to live, and temporary files
        left by crashed writes; returns how many sessions."""
        self.clean_temporary_files()
        removed = 0
        with _disk("purge", self.directory):
            for path in self._files():
                if not self._file_expired(path):
                    continue
                with _lock_file(path.with_suffix(".lock")):
                    if not self._file_expired(path):  # saved again meanwhile
                        continue
                    path.unlink(missing_ok=True)
                    path.with_suffix(".lock").unlink(missing_ok=True)
                    removed += 1
            if removed:
                _fsync_dir(self.directory)
        return removed

    def _file_expired(self, path: Path) -> bool:
        try:
            updated = json.loads(path.read_text())[self.TABLE]["1"].get("updated", 0)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return False  # gone, or damaged: damaged files are left as they are
        return bool(time.time() - updated > self.ttl_seconds)

    def count(self) -> int:
        return sum(1 for _ in self._files())

    def first_time(self, keys: list[str], ttl_seconds: float) -> bool:
        """Requests seen by any process using this directory (see ``SeenRequests``)."""
        if self._seen is None:
            self._seen = FileSeen(self.directory / SEEN_DIR, self._secret)
        return self._seen.first_time(keys, ttl_seconds)


class MemoryStore:
    """Sessions in this process's memory: for tests, examples and apps that keep their own
    records. Nothing touches the disk and everything is gone when the process ends; the
    same rules as the file store otherwise (copies in and out, expiry, per-session locks)."""

    def __init__(self, ttl_seconds: float | None = None):
        self.ttl_seconds = ttl_seconds_from(ttl_seconds)
        self._records: dict[str, str] = {}  # kept as JSON text: a caller never shares a dict
        self._locks: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()
        self._seen = LocalSeen()

    @contextlib.contextmanager
    def locked(self, session_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(session_id, threading.RLock())
        with lock:
            yield

    def load(self, session_id: str) -> dict[str, Any] | None:
        with self._guard:
            text = self._records.get(session_id)
            if text is None:
                return None
            record: dict[str, Any] = json.loads(text)
            if time.time() - record.get("updated", 0) > self.ttl_seconds:
                del self._records[session_id]
                return None
            return record

    def save(self, session_id: str, record: dict[str, Any]) -> None:
        text = json.dumps({**record, "updated": time.time()})
        with self._guard:
            self._records[session_id] = text

    def delete(self, session_id: str) -> bool:
        with self._guard:
            return self._records.pop(session_id, None) is not None

    def purge_expired(self) -> int:
        now = time.time()
        with self._guard:
            old = [
                sid
                for sid, text in self._records.items()
                if now - json.loads(text).get("updated", 0) > self.ttl_seconds
            ]
            for sid in old:
                del self._records[sid]
        return len(old)

    def count(self) -> int:
        return len(self._records)

    def first_time(self, keys: list[str], ttl_seconds: float) -> bool:
        """Requests seen by this process (see ``SeenRequests``)."""
        return self._seen.first_time(keys, ttl_seconds)


def ttl_seconds_from(ttl_seconds: float | None = None) -> float:
    """The time to live: ``ttl_seconds`` if given, else ``DVRULES_SESSION_TTL_DAYS`` days, else
    30 days; a positive finite number, or a ``StoreError`` saying what is allowed."""
    if ttl_seconds is not None:
        if (
            isinstance(ttl_seconds, bool)
            or not isinstance(ttl_seconds, (int, float))
            or not math.isfinite(ttl_seconds)
            or ttl_seconds <= 0
        ):
            raise StoreError(f"ttl_seconds: {ttl_seconds!r} is not a positive number of seconds")
        return float(ttl_seconds)
    env = os.environ.get("DVRULES_SESSION_TTL_DAYS", "").strip()
    if not env:
        return DEFAULT_TTL_SECONDS
    try:
        days = float(env)
    except ValueError:
        days = math.nan
    if not math.isfinite(days) or days <= 0 or not math.isfinite(days * 86400):
        raise StoreError(
            f"DVRULES_SESSION_TTL_DAYS: {env[:20]!r} is not a positive number of "
            "days (for example 30, the default, or 0.5)"
        )
    return days * 86400


@contextlib.contextmanager
def _lock_file(lock_path: Path) -> Iterator[None]:
    """An exclusive flock on ``lock_path`` that survives the file being erased and recreated.

    If the file was unlinked while this process waited, the lock it got is on a file nobody
    else will open again, so it tries again with the file now at that path.
    """
    while True:
        lock = open(lock_path, "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = os.stat(lock_path).st_ino == os.fstat(lock.fileno()).st_ino
            except FileNotFoundError:
                current = False
        except BaseException:
            lock.close()
            raise
        if current:
            break
        lock.close()
    try:
        yield
    finally:
        lock.close()  # closing releases the flock


def open_store(url: str | os.PathLike[str] | None = None) -> SessionStore:
    """The session store ``url`` names: ``None`` reads ``DVRULES_STORE``, and when that is
    unset gives the file store in its default place (``DVRULES_DB`` or the user data folder);
    a directory path (or ``file://PATH``) is a file store there; ``memory://`` keeps sessions
    in this process only; ``redis://`` (or ``rediss://``, TLS) is a Redis server shared by
    every process that names it (``dvrules.store_redis``)."""
    if url is None:
        url = os.environ.get("DVRULES_STORE", "").strip() or None
        if url is None:
            return TinyDBStore()
    text = os.fspath(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return TinyDBStore(text)
    scheme = scheme.lower()
    if scheme == "file":
        return TinyDBStore(rest)
    if scheme == "memory":
        return MemoryStore()
    # the rest of a URL may hold a password: only its scheme is ever repeated
    if scheme in ("redis", "rediss"):
        from dvrules.store_redis import RedisStore  # imported only when used (it is not small)

        return RedisStore(text)
    raise StoreError(
        f"DVRULES_STORE: {scheme[:20]}:// is not a kind of store dvrules knows; "
        "use a directory path, file://PATH, memory:// or redis://HOST:PORT/DB"
    )


def is_redis_url(url: str | None) -> bool:
    """Whether ``url`` (e.g. ``DVRULES_STORE``) names a Redis server."""
    return (url or "").strip().lower().startswith(("redis://", "rediss://"))
