"""Request latency of the HTTP API: the real ``dvrules serve`` on 127.0.0.1, one keep-alive
httpx client, requests one after another; the same assessment in-process alongside, so the
ratio is the cost of HTTP (parsing, validation, JSON both ways, the ASGI stack).

    python -m benchmarks.http_bench            # 5 rounds of 200 requests per kind
    python -m benchmarks.http_bench --quick    # 2 rounds of 30 (seconds)

Writes ``benchmarks/results/http.md`` (``--out`` to choose). Each figure is the median over
rounds of that round's median (and p99), with the spread (lowest-highest round) in brackets.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from dvrules import default_rules

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cdrp_answers() -> dict[str, Any]:
    rules = default_rules()
    out: dict[str, Any] = {}
    for qid in rules.kb.flow("cdrp").questions:
        q = rules.kb.questions[qid]
        ids = [c.id for c in rules.kb.choices(q)]
        out[qid] = {
            "yes_no": True,
            "number": q.max if q.max is not None else 10,
            "integer": int(q.max) if q.max is not None else 10,
            "choice": ids[-1] if ids else None,
        }.get(q.type, ids)
    return out


def _time(call: Callable[[], None], n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _p99(xs: list[float]) -> float:
    return sorted(xs)[min(len(xs) - 1, int(len(xs) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "http.md")
    args = parser.parse_args()
    rounds, n = (2, 30) if args.quick else (5, 200)

    token = secrets.token_urlsafe(32)
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="dvrules-http-bench-")
    env = {**os.environ, "DVRULES_API_TOKEN": token, "DVRULES_STORE": f"{tmp}/sessions"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dvrules"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("dvrules serve did not start")
        rules = default_rules()
        cdrp = _cdrp_answers()
        referral = {"immediate_danger": False, "safe_to_talk": True}
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
        session = {"DVRules-Session": "bench-1"}
        client.post("/v1/interview/start", json={"flow": "cdrp"}, headers=session)
        first = rules.kb.flow("cdrp").questions[0]

        def ok(response: httpx.Response) -> None:
            if response.status_code != 200:
                raise SystemExit(f"{response.status_code}: {response.text[:200]}")

        kinds: dict[str, Callable[[], None]] = {
            "assess cdrp, all answers (in-process DVRules.assess)": lambda: (
                rules.assess("cdrp", cdrp).model_dump_json(),
                None,
            )[1],
            "POST /v1/flows/cdrp/assess, all answers": lambda: ok(
                client.post("/v1/flows/cdrp/assess", json=cdrp)
            ),
            "POST /v1/flows/referral/assess, 2 answers": lambda: ok(
                client.post("/v1/flows/referral/assess", json=referral)
            ),
            "POST /v1/interview/answer (file store: one load, one save)": lambda: ok(
                client.post(
                    "/v1/interview/answer",
                    json={"question": first, "answer": True},
                    headers=session,
                )
            ),
            "GET /healthz": lambda: ok(client.get("/healthz")),
        }
        for call in kinds.values():  # warm: caches, first compile, connection
            _time(call, 5)
        rows = []
        for name, call in kinds.items():
            medians, p99s = [], []
            for _ in range(rounds):
                xs = _time(call, n)
                medians.append(statistics.median(xs))
                p99s.append(_p99(xs))
            rows.append((name, medians, p99s))
        client.delete("/v1/interview", headers=session)
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    base = statistics.median(rows[0][1])
    lines = [
        "# HTTP API latency",
        "",
        f"`python -m benchmarks.http_bench{' --quick' if args.quick else ''}`: {rounds} rounds of "
        f"{n} sequential requests each, one keep-alive client, {platform.python_version()}, "
        f"{os.cpu_count()} cores. Median over rounds (lowest-highest round).",
        "",
        "| request | median ms | p99 ms | median vs in-process assess |",
        "|---|---|---|---|",
    ]
    for name, medians, p99s in rows:
        m = statistics.median(medians)
        lines.append(
            f"| {name} | {m:.2f} ({min(medians):.2f}-{max(medians):.2f}) | "
            f"{statistics.median(p99s):.2f} ({min(p99s):.2f}-{max(p99s):.2f}) | "
            f"{m / base:.1f}x |"
        )
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
