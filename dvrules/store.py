"""Where sessions live between turns: a TinyDB file per session, written atomically.

One file per session keeps a turn's write cost flat however many sessions are stored (a single
TinyDB file is rewritten whole on every write). Each write goes to a temporary file that is
flushed and renamed over the old one, so a crash mid-write leaves the previous version intact;
a per-session lock file serialises read-modify-write across processes. File names are hashes
of the session id, so ids (case codes, chat ids) never appear on disk in clear.

The ``SessionStore`` protocol is the seam a server-backed store can replace later.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from platformdirs import user_data_dir
from tinydb import TinyDB
from tinydb.table import Document
from tinydb.storages import Storage

DEFAULT_TTL_SECONDS = 30 * 24 * 3600


class StoreError(RuntimeError):
    """The store cannot be read or written; nothing was changed."""


class SessionStore(Protocol):
    def load(self, session_id: str) -> dict[str, Any] | None: ...
    def save(self, session_id: str, record: dict[str, Any]) -> None: ...
    def delete(self, session_id: str) -> bool: ...
    def locked(self, session_id: str) -> contextlib.AbstractContextManager[None]: ...
    def purge_expired(self) -> int: ...
    def count(self) -> int: ...


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces the file atomically on every write."""

    def __init__(self, path: str):
        self.path = Path(path)

    def read(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        if not text.strip():
            return None
        damaged = StoreError(f"session file {self.path.name} is damaged; it was left as it is")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise damaged from exc
        # Valid JSON of the wrong shape is damage too (TinyDB would fail on it with a TypeError).
        if not isinstance(data, dict) or not all(
                isinstance(table, dict) and all(
                    isinstance(doc, dict) and str(doc_id).isdigit() for doc_id, doc in table.items())
                for table in data.values()):
            raise damaged
        return data

    def write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def close(self) -> None:
        return None


def default_store_dir() -> Path:
    return Path(os.environ.get("DVRULES_DB") or Path(user_data_dir("dvrules")) / "sessions")


class TinyDBStore:
    """Sessions in ``directory``, one TinyDB file each; expired sessions are erased on sight."""

    TABLE = "session"

    def __init__(self, directory: Path | str | None = None,
                 ttl_seconds: float | None = None):
        self.directory = Path(directory) if directory is not None else default_store_dir()
        env_ttl = os.environ.get("DVRULES_SESSION_TTL_DAYS")
        if ttl_seconds is None:
            try:
                ttl_seconds = float(env_ttl) * 86400 if env_ttl else DEFAULT_TTL_SECONDS
            except ValueError:
                raise StoreError(
                    f"DVRULES_SESSION_TTL_DAYS: {env_ttl!r} is not a number of days") from None
        self.ttl_seconds = ttl_seconds
        self._local = threading.local()  # session ids whose lock this thread holds
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(f"cannot create the session store at {self.directory}: {exc}") from exc

    def _path(self, session_id: str) -> Path:
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

        Re-entrant within a thread, so ``load`` and ``delete`` may be called under it.
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
        with _lock_file(self._path(session_id).with_suffix(".lock")):
            held.add(session_id)
            try:
                yield True
            finally:
                held.discard(session_id)

    def _expired(self, record: dict[str, Any]) -> bool:
        return time.time() - record.get("updated", 0) > self.ttl_seconds

    def _read(self, session_id: str) -> dict[str, Any] | None:
        path = self._path(session_id)
        if not path.exists():
            return None
        db = TinyDB(str(path), storage=AtomicJSONStorage)
        docs = db.table(self.TABLE).all()
        return dict(docs[0]) if docs else None

    def load(self, session_id: str) -> dict[str, Any] | None:
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
        db = TinyDB(str(self._path(session_id)), storage=AtomicJSONStorage)
        # One upsert is one atomic file replacement: the old version or the new, never neither.
        db.table(self.TABLE).upsert(Document(record, doc_id=1))

    def delete(self, session_id: str) -> bool:
        with self._locked(session_id) as outermost:
            return self._erase(session_id, lock_file=outermost)

    def _erase(self, session_id: str, lock_file: bool) -> bool:
        """Remove the session file; the lock file only when nothing else happens under the lock.

        A lock file is unlinked only as the last act of its outermost holder: a process that
        was waiting on it then finds it gone and locks the new one (see ``_lock_file``).
        """
        path = self._path(session_id)
        existed = path.exists()
        path.unlink(missing_ok=True)
        if lock_file:
            path.with_suffix(".lock").unlink(missing_ok=True)
        return existed

    def _files(self) -> Iterator[Path]:
        """Session files, not the temporary files of writes in progress."""
        return (p for p in self.directory.glob("*.json") if not p.name.startswith(".tmp-"))

    def purge_expired(self) -> int:
        """Erase every session not touched within the time to live; returns how many."""
        removed = 0
        for path in self._files():
            if not self._file_expired(path):
                continue
            with _lock_file(path.with_suffix(".lock")):
                if not self._file_expired(path):  # saved again meanwhile
                    continue
                path.unlink(missing_ok=True)
                path.with_suffix(".lock").unlink(missing_ok=True)
                removed += 1
        return removed

    def _file_expired(self, path: Path) -> bool:
        try:
            updated = json.loads(path.read_text())[self.TABLE]["1"].get("updated", 0)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return False  # gone, or damaged: damaged files are left as they are
        return time.time() - updated > self.ttl_seconds

    def count(self) -> int:
        return sum(1 for _ in self._files())


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
