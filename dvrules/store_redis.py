"""Sessions in Redis, shared by every process and machine that opens the same ``redis://`` URL.

The same rules as the file store (``dvrules.store``), kept by the server:

- **Keys never hold a case code.** A session is stored under a keyed hash (HMAC-SHA256) of its
  id. The key lives in Redis itself (``dvrules:key``, created once with ``SET NX``), so every
  process sharing the server agrees on it with nothing to configure, and it lives and dies
  with the sessions it names. Every lock taken checks, in the same round trip, that the key
  is still the one this process hashed with: after a flush or a restart without persistence
  each process picks up the new key instead of writing under the old one.
- **One writer per session.** A per-session lock is a single-instance Redis lock: ``SET NX PX``
  with a random token and an expiry (a crashed holder frees it within ``lock_seconds``), and
  released only by its holder (token checked in a Lua script). A save under the lock checks the
  token in the same script, so a turn that outlived its lock saves nothing instead of
  overwriting another writer. Taking the lock also reads the record (a turn loads it next), so
  a turn is three round trips: lock and read, save, release.
- **Atomic writes, expiry by TTL.** A record is one JSON string written with one ``SET ... PX``
  (the old version or the new, never half), which also restarts its time to live
  (``DVRULES_SESSION_TTL_DAYS``, checked as for the file store).
- **An outage is one line.** Every server failure is a ``StoreError`` naming the server
  (never its password) and the reason; nothing is half-saved.

Also here: ``first_time``, the shared memory of requests already seen (Slack retries and
replays, Telegram webhook re-deliveries), as ``SET NX PX`` on keyed hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from dvrules.errors import StoreError
from dvrules.store import DamagedSessionError, ttl_seconds_from

if TYPE_CHECKING:
    from redis.commands.core import Script

PREFIX = "dvrules:"
LOCK_SECONDS = 30.0  # a turn (with its platform calls) holds a session's lock far less
WAIT_SECONDS = LOCK_SECONDS + 5  # long enough for a crashed holder's lock to expire

# Take the lock if it is free, or if it is already ours (a retried command after a timeout
# whose first attempt did take it), and read the session in the same round trip (a turn loads
# it next); refuse (-1) if the hashing key is not the one we hold.
_ACQUIRE = """
if redis.call('GET', KEYS[1]) ~= ARGV[3] then return {-1} end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2])
   and redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return {0}
end
return {1, redis.call('GET', KEYS[3])}
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_SAVE_LOCKED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""
_DELETE_LOCKED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
return redis.call('DEL', KEYS[2])
"""
# Erase a record last saved before ARGV[1] (seconds since the epoch), atomically, so a save
# that lands meanwhile is never erased. A record that cannot be read is left as it is.
_ERASE_IF_OLD = """
local text = redis.call('GET', KEYS[1])
if not text then return 0 end
local ok, record = pcall(cjson.decode, text)
if ok and type(record) == 'table' and type(record['updated']) == 'number'
   and record['updated'] < tonumber(ARGV[1]) then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_FIRST_TIME = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return 0 end
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, '1', 'PX', ARGV[1])
end
return 1
"""


def where(url: str) -> str:
    """The server a URL names, for messages: scheme, host, port and database, no password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    try:
        port = parts.port or 6379
    except ValueError:
        port = 6379
    db = parts.path.strip("/") or "0"
    return f"{parts.scheme}://{host}:{port}/{db[:8]}"


def _reason(exc: redis.RedisError) -> str:
    """Why a command failed, in words, without anything of the command (no values)."""
    if isinstance(exc, redis.AuthenticationError):
        return "the server refused the password"
    if isinstance(exc, redis.TimeoutError):
        return "the server did not answer in time"
    if isinstance(exc, redis.ConnectionError):
        return "the server cannot be reached"
    text = str(exc)
    for code, words in (
        ("OOM", "the server is out of memory"),
        ("READONLY", "the server is read-only (a replica)"),
        ("NOAUTH", "the server wants a password"),
        ("WRONGPASS", "the server refused the password"),
        ("NOPERM", "the server's user may not run this command"),
        ("MISCONF", "the server cannot write its snapshot to disk"),
    ):
        if text.startswith(code):
            return words
    return f"the server refused a command ({exc.__class__.__name__})"


def connect(url: str, timeout_seconds: float = 2.0) -> redis.Redis:
    """A client for ``url``. A short blip (a restart, a fail-over) is ridden out by a few
    quick retries; a longer outage fails within seconds, with a message, not a hung chat."""
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.02), 2),
            health_check_interval=30,
        )
    except ValueError:
        raise StoreError(
            f"DVRULES_STORE: {where(url)} is not a Redis URL dvrules can read "
            "(redis://[:password@]host:port/db or rediss://...)"
        ) from None


@contextlib.contextmanager
def server_errors(cannot: str) -> Iterator[None]:
    """Any Redis failure inside becomes a ``StoreError``: ``cannot`` and the reason."""
    try:
        yield
    except StoreError:
        raise
    except redis.RedisError as exc:
        raise StoreError(f"{cannot}: {_reason(exc)}") from exc


class RedisStore:
    """Sessions in Redis: the ``SessionStore`` interface, shared across processes."""

    def __init__(
        self,
        url: str,
        ttl_seconds: float | None = None,
        *,
        prefix: str = PREFIX,
        lock_seconds: float = LOCK_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
        timeout_seconds: float = 2.0,
    ):
        self.ttl_seconds = ttl_seconds_from(ttl_seconds)
        self.where = where(url)
        self.prefix = prefix
        self.lock_ms = max(1, int(lock_seconds * 1000))
        self.wait_seconds = wait_seconds
        self.client = connect(url, timeout_seconds)
        self._acquire = self._script(_ACQUIRE)
        self._release = self._script(_RELEASE)
        self._save_locked = self._script(_SAVE_LOCKED)
        self._delete_locked = self._script(_DELETE_LOCKED)
        self._erase_if_old = self._script(_ERASE_IF_OLD)
        self._first_time = self._script(_FIRST_TIME)
        self._local = threading.local()  # session id -> lock token, for this thread
        self._key_lock = threading.Lock()
        self._unsure: dict[str, str] = {}  # session id -> token of a lock that may be held
        with self._server("open"):
            self._secret = self._open_secret()

    def _script(self, text: str) -> Script:
        return self.client.register_script(text)

    def _server(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return server_errors(f"cannot {doing} the session store at {self.where}")

    # ------------------------------------------------------------------ keys

    def _open_secret(self) -> bytes:
        """The hashing key every process shares: created once (``SET NX``), then read."""
        name = self.prefix + "key"
        self.client.set(name, secrets.token_hex(32), nx=True)
        value = self.client.get(name)
        if not isinstance(value, bytes) or len(value) < 32:
            raise StoreError(
                f"the session store's key at {self.where} is missing or damaged "
                f"({self.prefix}key); erasing it makes every stored session unreachable"
            )
        return value

    def _digest(self, session_id: str) -> str:
        return hmac.new(self._secret, session_id.encode("utf-8"), hashlib.sha256).hexdigest()[:40]

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}s:{self._digest(session_id)}"

    def _lock_key(self, session_id: str) -> str:
        return f"{self.prefix}l:{self._digest(session_id)}"

    # ------------------------------------------------------------------ locks

    def _tokens(self) -> dict[str, str]:
        tokens: dict[str, str] | None = getattr(self._local, "tokens", None)
        if tokens is None:
            tokens = self._local.tokens = {}
        return tokens

    def _read_ahead(self) -> dict[str, bytes | None]:
        """The record read with the lock, by session id, until the first ``load`` takes it
        (or a save or erase makes it old)."""
        ahead: dict[str, bytes | None] | None = getattr(self._local, "ahead", None)
        if ahead is None:
            ahead = self._local.ahead = {}
        return ahead

    @contextlib.contextmanager
    def locked(self, session_id: str) -> Iterator[None]:
        """Hold the session's lock across a read-modify-write, in every process that shares the
        server. Re-entrant within a thread, so ``load``, ``save`` and ``delete`` may be called
        under it."""
        tokens = self._tokens()
        if session_id in tokens:
            yield
            return
        with self._key_lock:  # a token whose lock may have been taken after a timeout
            token = self._unsure.pop(session_id, None) or secrets.token_hex(16)
        try:
            with self._server("lock a session in"):
                self._lock(session_id, token)
        except StoreError:
            # A command that timed out may still run when the server wakes up and take the
            # lock under this token: the next turn reuses it ("already ours") instead of
            # waiting for the lock to expire.
            with self._key_lock:
                self._unsure[session_id] = token
                while len(self._unsure) > 10_000:
                    self._unsure.pop(next(iter(self._unsure)))
            raise
        tokens[session_id] = token
        try:
            yield
        finally:
            del tokens[session_id]
            self._read_ahead().pop(session_id, None)
            # A failed release leaves a lock that expires by itself: no error over it.
            with contextlib.suppress(redis.RedisError):
                self._release(keys=[self._lock_key(session_id)], args=[token])

    def _lock(self, session_id: str, token: str) -> None:
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.002
        while True:
            reply = self._acquire(
                keys=[self.prefix + "key", self._lock_key(session_id), self._key(session_id)],
                args=[token, self.lock_ms, self._secret],
            )
            got = reply[0]
            if got == 1:
                self._read_ahead()[session_id] = reply[1] if len(reply) > 1 else None
                return
            if got == -1:  # the hashing key changed (a flush, a restart): use the new one
                with self._key_lock:
                    self._secret = self._open_secret()
                continue
            if time.monotonic() + pause > deadline:
                raise StoreError(
                    f"a session in the store at {self.where} stayed busy for "
                    f"{self.wait_seconds:g} seconds; nothing was changed, please try again"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _under_lock(self, session_id: str) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext() if session_id in self._tokens() else self.locked(session_id)

    # ------------------------------------------------------------------ records

    def _expired(self, record: dict[str, Any]) -> bool:
        updated = record.get("updated", 0)
        return not isinstance(updated, (int, float)) or time.time() - updated > self.ttl_seconds

    def load(self, session_id: str) -> dict[str, Any] | None:
        key = self._key(session_id)
        with self._server("read"):
            ahead = self._read_ahead()
            text = ahead.pop(session_id) if session_id in ahead else self.client.get(key)
            if text is None:
                return None
            try:
                record = json.loads(text)
            except (ValueError, RecursionError):
                record = None
            if not isinstance(record, dict):
                raise DamagedSessionError(
                    "a session in the store is damaged and cannot be read; it was left as it is"
                )
            if not self._expired(record):
                return record
            # Saved under a longer time to live than today's: it has expired now.
            self._erase_if_old(keys=[key], args=[repr(time.time() - self.ttl_seconds)])
            return None

    def save(self, session_id: str, record: dict[str, Any]) -> None:
        text = json.dumps({**record, "updated": time.time()}, separators=(",", ":"))
        ttl_ms = max(1, int(self.ttl_seconds * 1000))
        with self._server("write to"), self._under_lock(session_id):
            token = self._tokens()[session_id]
            self._read_ahead().pop(session_id, None)
            saved = self._save_locked(
                keys=[self._lock_key(session_id), self._key(session_id)],
                args=[token, text, ttl_ms],
            )
            if saved != 1:
                raise StoreError(
                    f"a turn in the store at {self.where} took longer than its lock "
                    f"({self.lock_ms / 1000:g} seconds); nothing was saved, please try again"
                )

    def delete(self, session_id: str) -> bool:
        """Erase the session now, damaged or not."""
        with self._server("erase a session in"), self._under_lock(session_id):
            token = self._tokens()[session_id]
            self._read_ahead().pop(session_id, None)
            removed = self._delete_locked(
                keys=[self._lock_key(session_id), self._key(session_id)], args=[token]
            )
            if removed == -1:
                raise StoreError(
                    f"erasing a session in the store at {self.where} took longer than its "
                    "lock; nothing was erased, please try again"
                )
            return bool(removed)

    def _session_keys(self) -> Iterator[bytes]:
        return self.client.scan_iter(match=self.prefix + "s:*", count=1000)

    def purge_expired(self) -> int:
        """Redis erases sessions when their time to live runs out; this erases the ones saved
        under a longer time to live than today's (the setting was lowered). Returns how many."""
        limit_ms = int(self.ttl_seconds * 1000)
        cutoff = repr(time.time() - self.ttl_seconds)
        removed = 0
        with self._server("purge"):
            for batch in _batches(self._session_keys(), 500):
                pipe = self.client.pipeline(transaction=False)
                for key in batch:
                    pipe.pttl(key)
                longer = [k for k, ms in zip(batch, pipe.execute()) if ms > limit_ms or ms == -1]
                for key in longer:
                    removed += int(self._erase_if_old(keys=[key], args=[cutoff]))
        return removed

    def count(self) -> int:
        with self._server("count the sessions in"):
            return sum(1 for _ in self._session_keys())

    # ------------------------------------------------------------------ requests seen

    def first_time(self, keys: list[str], ttl_seconds: float) -> bool:
        """``True`` if none of ``keys`` was seen in the last ``ttl_seconds`` by any process
        sharing the server (and remembers them all); ``False`` for a retry or a replay.
        The keys are stored as keyed hashes: no signature or trigger id is kept in clear."""
        if not keys:
            return True
        names = [f"{self.prefix}seen:{self._digest('seen:' + k)}" for k in keys]
        with self._server("check a request against"):
            return bool(self._first_time(keys=names, args=[max(1, int(ttl_seconds * 1000))]))

    def close(self) -> None:
        self.client.close()


def _batches(items: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
