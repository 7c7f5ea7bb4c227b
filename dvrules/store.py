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
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreError(f"session file {self.path.name} is damaged; it was left as it is") from exc

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
            ttl_seconds = float(env_ttl) * 86400 if env_ttl else DEFAULT_TTL_SECONDS
        self.ttl_seconds = ttl_seconds
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(f"cannot create the session store at {self.directory}: {exc}") from exc

    def _path(self, session_id: str) -> Path:
        digest = hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:40]
        return self.directory / f"{digest}.json"

    @contextlib.contextmanager
    def locked(self, session_id: str) -> Iterator[None]:
        """Hold the session's lock across a read-modify-write (also across processes)."""
        lock_path = self._path(session_id).with_suffix(".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def load(self, session_id: str) -> dict[str, Any] | None:
        path = self._path(session_id)
        if not path.exists():
            return None
        db = TinyDB(str(path), storage=AtomicJSONStorage)
        docs = db.table(self.TABLE).all()
        if not docs:
            return None
        record = dict(docs[0])
        if time.time() - record.get("updated", 0) > self.ttl_seconds:
            self.delete(session_id)
            return None
        return record

    def save(self, session_id: str, record: dict[str, Any]) -> None:
        record = {**record, "updated": time.time()}
        db = TinyDB(str(self._path(session_id)), storage=AtomicJSONStorage)
        # One upsert is one atomic file replacement: the old version or the new, never neither.
        db.table(self.TABLE).upsert(Document(record, doc_id=1))

    def delete(self, session_id: str) -> bool:
        path = self._path(session_id)
        existed = path.exists()
        for p in (path, path.with_suffix(".lock")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        return existed

    def purge_expired(self) -> int:
        """Erase every session not touched within the time to live; returns how many."""
        removed = 0
        now = time.time()
        for path in self.directory.glob("*.json"):
            try:
                updated = json.loads(path.read_text())[self.TABLE]["1"].get("updated", 0)
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if now - updated > self.ttl_seconds:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    path.with_suffix(".lock").unlink(missing_ok=True)
                removed += 1
        return removed

    def count(self) -> int:
        return sum(1 for _ in self.directory.glob("*.json"))
