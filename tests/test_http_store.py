"""The HTTP API over particular stores: uvicorn in a thread on a free 127.0.0.1 port serving
``create_app(store=...)``, driven with httpx. One locked load and at most one save per turn;
concurrent turns on one session lose nothing; a store out of reach is a 503 saying to try
again, logged without the session id; malformed bodies of any shape never give a 5xx."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvrules import DVRules, MemoryStore, StoreError, TinyDBStore
from dvrules.http import SESSION_HEADER, create_app

TOKEN = "a-token-for-tests-" + "5e1f" * 6


class Served:
    """``app`` served by uvicorn in a thread until the block ends."""

    def __init__(self, app: Any):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)


class CountingStore(MemoryStore):
    """The in-memory store, counting loads and saves."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = self.saves = 0

    def load(self, session_id: str) -> dict[str, Any] | None:
        self.loads += 1
        return super().load(session_id)

    def save(self, session_id: str, record: dict[str, Any]) -> None:
        self.saves += 1
        super().save(session_id, record)


class UnreachableStore(MemoryStore):
    """A store whose disk has gone: every read and write fails as the file store says."""

    def load(self, session_id: str) -> dict[str, Any] | None:
        raise StoreError("cannot read the session store at /srv/sessions: the disk is full")

    def save(self, session_id: str, record: dict[str, Any]) -> None:
        raise StoreError("cannot write to the session store at /srv/sessions: the disk is full")


def test_each_turn_loads_once_and_saves_at_most_once(rules: DVRules) -> None:
    store = CountingStore()
    case = {SESSION_HEADER: "count-1"}
    with Served(create_app(rules, store, TOKEN)) as api:
        turns: list[tuple[str, str, dict[str, Any] | None]] = [
            ("post", "/v1/interview/start", {"flow": "referral"}),
            ("post", "/v1/interview/answer", {"question": "immediate_danger", "answer": False}),
            ("post", "/v1/interview/skip", {"question": "safe_to_talk"}),
            ("post", "/v1/interview/back", {}),
            ("get", "/v1/interview", None),
            ("get", "/v1/interview/result", None),
        ]
        for method, path, body in turns:
            store.loads = store.saves = 0
            response = api.request(method.upper(), path, json=body, headers=case)
            assert response.status_code == 200, (path, response.text)
            assert store.loads == 1, path
            assert store.saves <= 1, path
        store.loads = store.saves = 0
        refused = api.post(
            "/v1/interview/answer",
            json={"question": "immediate_danger", "answer": "perhaps"},
            headers=case,
        )
        assert refused.status_code == 422 and store.saves == 0  # nothing half-saved
        assert api.delete("/v1/interview", headers=case).status_code == 204
        assert store.load("count-1") is None


def test_concurrent_answers_to_one_session_are_all_kept(rules: DVRules, tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "sessions")
    case = {SESSION_HEADER: "busy-1"}
    yes_no = [
        q
        for q in rules.kb.flow("minimum-standards").questions
        if rules.kb.questions[q].type == "yes_no"
    ][:8]
    with Served(create_app(rules, store, TOKEN)) as api:
        api.post("/v1/interview/start", json={"flow": "minimum-standards"}, headers=case)

        def answer(qid: str) -> int:
            body = {"question": qid, "answer": True}
            return api.post("/v1/interview/answer", json=body, headers=case).status_code

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(answer, yes_no)) == [200] * len(yes_no)
        result = api.get("/v1/interview", headers=case).json()
        assert result["progress"]["answered"] == len(yes_no)


def test_a_store_out_of_reach_is_503_try_again_and_logged_without_the_case(
    rules: DVRules, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dvrules.http")
    case = {SESSION_HEADER: "zq-unreachable-88"}
    with Served(create_app(rules, UnreachableStore(), TOKEN)) as api:
        response = api.post("/v1/interview/start", json={"flow": "referral"}, headers=case)
        erase = api.delete("/v1/interview", headers=case)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["error"] == "store_unavailable"
    assert "try again" in response.json()["detail"]
    assert "/srv/sessions" not in response.text  # the server's paths stay in its log
    assert erase.status_code in (204, 503)
    logged = caplog.text
    assert "the disk is full" in logged and "POST /v1/interview/start 503" in logged
    assert "zq-unreachable-88" not in logged and TOKEN not in logged


@pytest.fixture(scope="module")
def fuzz_api(rules: DVRules) -> Iterator[httpx.Client]:
    with Served(create_app(rules, MemoryStore(), TOKEN)) as api:
        yield api


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=200),
        JSON.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(
            st.sampled_from(
                [
                    "advocates_fte",
                    "contact_centre",
                    "forum_budget_allocated",
                    "plans_integrating_dv",
                ]
            ),
            JSON,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_malformed_bodies_never_give_a_5xx(fuzz_api: httpx.Client, body: bytes) -> None:
    for path, headers in (
        ("/v1/flows/cdrp/assess", {}),
        ("/v1/interview/answer", {SESSION_HEADER: "fuzz-1"}),
        ("/v1/interview/start", {SESSION_HEADER: "fuzz-1"}),
    ):
        response = fuzz_api.post(path, content=body, headers=headers)
        assert response.status_code < 500, (path, body, response.text)
        if response.status_code >= 400:
            error = response.json()
            assert error["error"] and error["detail"] and "\n" not in error["detail"]


class BrokenStore(MemoryStore):
    """A store with a bug: it raises what no one meant to raise, with case data in it."""

    def load(self, session_id: str) -> dict[str, Any] | None:
        raise RuntimeError(f"bug while loading {session_id}")


def test_an_unexpected_failure_is_a_json_500_with_no_traceback_or_case_in_the_log(
    rules: DVRules, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    case = {SESSION_HEADER: "zq-broken-31"}
    with Served(create_app(rules, BrokenStore(), TOKEN)) as api:
        response = api.post("/v1/interview/start", json={"flow": "referral"}, headers=case)
        assert api.get("/healthz").status_code == 200  # the server carries on
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal",
        "detail": "something went wrong on the server; try again",
    }
    assert "unexpected RuntimeError" in caplog.text
    assert "zq-broken-31" not in caplog.text and "Traceback" not in caplog.text
    assert not any(r.exc_info for r in caplog.records)
