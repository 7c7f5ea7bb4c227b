"""Session store operations side by side: the file store (TinyDB), Redis and memory.

For each store, with ``--sessions`` sessions already stored: the median and p99 of a ``load``,
a ``save`` and a whole turn's store work (lock, load, save, unlock), over ``--ops`` operations
on random stored sessions. Redis is a ``redis-server`` this script starts on a free 127.0.0.1
port (no persistence) and stops; ``--redis URL`` uses a running one instead (its database is
flushed). Prints a Markdown table; ``--out FILE`` also writes it there.

    .venv/bin/python -m benchmarks.store_bench --quick
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dvrules import MemoryStore, SessionStore, TinyDBStore, open_store

RECORD = {
    "flows": {
        "referral": {
            "answers": {f"q{i}": i % 3 == 0 for i in range(25)},
            "history": [f"q{i}" for i in range(25)],
            "prefilled": {},
            "completed": False,
            "revisit": None,
        }
    },
    "current": "referral",
    "chat": {"sent": [str(i) for i in range(10)], "channel": {}},
}


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        try:
            url = f"redis://127.0.0.1:{port}/0"
            for _ in range(500):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.01)
            yield url
        finally:
            proc.kill()
            proc.wait()


def timed(op: Callable[[str], object], ids: list[str], ops: int) -> list[float]:
    out = []
    for _ in range(ops):
        sid = random.choice(ids)
        t = time.perf_counter()
        op(sid)
        out.append((time.perf_counter() - t) * 1e6)
    return out


def turn(store: SessionStore) -> Callable[[str], object]:
    def run(sid: str) -> None:
        with store.locked(sid):
            record = store.load(sid) or {}
            store.save(sid, record)

    return run


def measure(name: str, store: SessionStore, sessions: int, ops: int) -> list[str]:
    ids = [f"case-{i:06d}" for i in range(sessions)]
    for sid in ids:
        store.save(sid, RECORD)
    rows = []
    for label, op in (
        ("load", store.load),
        ("save", lambda sid: store.save(sid, RECORD)),
        ("turn (lock, load, save)", turn(store)),
    ):
        times = timed(op, ids, ops)
        q = statistics.quantiles(times, n=100)
        rows.append(
            f"| {name} | {label} | {statistics.median(times):,.0f} | {q[98]:,.0f} | {len(times)} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--ops", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true", help="1,000 sessions, 500 operations")
    parser.add_argument("--redis", help="a running Redis server's URL (its database is flushed)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sessions, ops = (1_000, 500) if args.quick else (args.sessions, args.ops)
    random.seed(1)
    lines = [
        f"Session store, {sessions:,} sessions stored, {ops:,} operations each "
        "(microseconds; one process, loopback Redis)",
        "",
        "| store | operation | median µs | p99 µs | n |",
        "|---|---|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        lines += measure("files (TinyDB)", TinyDBStore(Path(tmp) / "s"), sessions, ops)
    with redis_server() if args.redis is None else _given(args.redis) as url:
        store = open_store(url)
        lines += measure("redis", store, sessions, ops)
    lines += measure("memory", MemoryStore(), sessions, ops)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


@contextmanager
def _given(url: str) -> Iterator[str]:
    import redis

    redis.Redis.from_url(url).flushdb()
    yield url


if __name__ == "__main__":
    main()
