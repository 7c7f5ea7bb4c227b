"""A cache of loaded, validated knowledge, so a warm start skips reading and checking YAML.

Loading and validating the knowledge is most of a cold start. The loaded ``KnowledgeBase`` is
pickled into the user's cache folder, under a key made of everything it was built from: the
knowledge folder's path, the SHA-256 of every knowledge file (manifest included), of dvrules'
own source (so a changed check or model is never skipped) and the pydantic and Python versions. A changed file gives a new key, so a stale copy is
never read. A cached copy is used only when its own SHA-256 checks out and it unpickles to a
knowledge base, and only from a file and folder this user owns that nobody else can write;
anything else (damaged, truncated, unreadable, from another version, writable by others) is
ignored and rebuilt from the YAML. Writes go to a temporary file renamed into place, so a
crash mid-write leaves no half file behind.

``DVRULES_KB_CACHE`` sets the folder; ``DVRULES_KB_CACHE=off`` turns the cache off.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import platformdirs
import pydantic

from dvrules.knowledge import MANIFEST, KnowledgeBase, content_digest

MAGIC = b"dvrules-kb-cache 1\n"
KEEP = 16  # cache files kept; older ones are removed when a new one is written
T = TypeVar("T")
# The cache key of each knowledge base loaded through the cache (by object id, checked
# against a weak reference so a reused id is never mistaken for it).
_KEYS: dict[int, tuple[weakref.ref[KnowledgeBase], str]] = {}
_KEYS_LOCK = threading.Lock()


def cache_dir() -> Path | None:
    """Where cached knowledge lives, or None when the cache is off."""
    setting = os.environ.get("DVRULES_KB_CACHE", "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    return Path(setting) if setting else Path(platformdirs.user_cache_dir("dvrules")) / "kb"


def cache_key(root: Path) -> str:
    """What a cached knowledge base was built from, as one hash."""
    manifest = root / MANIFEST
    parts = [
        "dvrules",
        _code_digest(),
        pydantic.VERSION,
        sys.version,
        str(root.resolve()),
        content_digest(root),
        hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else "-",
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@functools.cache
def _code_digest() -> str:
    """SHA-256 of dvrules' own source files: the loader, its checks and the models."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def load_cached(root: Path, load: Callable[[Path], KnowledgeBase]) -> KnowledgeBase:
    """The knowledge at ``root``: from the cache when a sound copy of these files is there,
    else ``load(root)``, then cached for the next start."""
    folder = cache_dir()
    if folder is None or not root.is_dir():
        return load(root)
    try:
        key = cache_key(root)
    except OSError:
        return load(root)
    path = folder / f"kb-{key}.pickle"
    kb = _read(path)
    if not isinstance(kb, KnowledgeBase):
        kb = load(root)
        _write(folder, path, kb)
    with _KEYS_LOCK:
        _KEYS[id(kb)] = (weakref.ref(kb), key)
    return kb


def compiled_cached(kb: KnowledgeBase, detail: str, build: Callable[[], T]) -> T:
    """What ``build()`` makes of a cached knowledge base (e.g. its compiled rules for one set
    of parameters, named by ``detail``), cached beside it; just ``build()`` for knowledge that
    did not come through the cache. A loaded knowledge base is read-only, so what is built
    from it depends only on its files and ``detail``."""
    folder = cache_dir()
    with _KEYS_LOCK:
        ref, key = _KEYS.get(id(kb), (None, ""))
    if folder is None or ref is None or ref() is not kb:
        return build()
    name = hashlib.sha256(f"{key}\0{detail}".encode()).hexdigest()
    path = folder / f"kb-{key[:16]}-{name}.pickle"
    found = _read(path)
    if isinstance(found, tuple) and len(found) == 2 and found[0] == detail:
        return found[1]  # type: ignore[no-any-return]
    value = build()
    _write(folder, path, (detail, value))
    return value


def _read(path: Path) -> Any:
    """What a cache file holds, or None if it is missing or not sound. Unpickling runs code, so
    only a file this user owns, in a folder this user owns, and nobody else can write is read:
    anyone else able to change it could otherwise run code as this user."""
    try:
        if not (_private(path.parent) and _private(path)):
            return None
        data = path.read_bytes()
    except OSError:
        return None
    head = len(MAGIC) + 32
    if len(data) < head or not data.startswith(MAGIC):
        return None
    payload = data[head:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC) : head]:
        return None  # damaged or truncated
    try:
        return pickle.loads(payload)
    except Exception:  # noqa: BLE001 - anything unreadable is rebuilt, never trusted
        return None


def _private(path: Path) -> bool:
    """Owned by this user, and not writable by the group or others."""
    st = path.stat()
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _write(folder: Path, path: Path, value: Any) -> None:
    """Cache ``value`` atomically; a cache that cannot be written is simply not used."""
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".kb-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(MAGIC + hashlib.sha256(payload).digest() + payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(folder, path)
    except Exception:  # noqa: BLE001 - e.g. a read-only or full disk: run without the cache
        return


def _prune(folder: Path, keep: Path) -> None:
    """Remove all but the ``KEEP`` most recently written cached versions."""
    cached = sorted(folder.glob("kb-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in cached[KEEP:]:
        if old != keep:
            old.unlink(missing_ok=True)
