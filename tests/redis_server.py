"""A real ``redis-server`` for the tests, started on a free 127.0.0.1 port and killed at the end.

``redis_server`` is started once per test run (no snapshots, no append-only file: nothing is
written to disk); ``redis_url`` gives each test an empty database on it. A test that stops a
server mid-run starts its own with ``RedisServer`` (``persistent=True`` keeps an append-only
file, so what was saved before a crash is there after the restart).

Where ``redis-server`` is missing the Redis tests are skipped with the reason, except in CI
(``CI`` set), where they fail: CI installs it (``.ci/run``), and a CI run that quietly skipped
them would say nothing about the Redis store.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def redis_server_binary() -> str:
    """The path of ``redis-server``; skips the test where it is missing (fails in CI)."""
    found = shutil.which("redis-server")
    if found is None:
        why = "redis-server is not installed (Debian: apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must run the Redis tests", pytrace=False)
        pytest.skip(why)
    return found


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, in ``directory``."""

    def __init__(
        self,
        directory: Path,
        *,
        persistent: bool = False,
        port: int | None = None,
        password: str | None = None,
    ):
        self.binary = redis_server_binary()
        self.directory, self.persistent, self.password = directory, persistent, password
        self.port = port or _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persistent else "no",
            "--appendfsync",
            "always",
            "--daemonize",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
            *(["--requirepass", self.password] if self.password else []),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError("redis-server did not start within 10 seconds")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def kill(self) -> None:
        """Stop the server at once (SIGKILL): what a crash or a lost machine looks like."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis URL whose database is empty at the start of the test."""
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as s:
        s.sendall(b"FLUSHALL\r\n")
        assert s.recv(16).startswith(b"+OK")
    return redis_server.url
