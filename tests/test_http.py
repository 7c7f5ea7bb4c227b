"""The HTTP API as a client in another language sees it: the real ``dvrules serve`` in a
subprocess on a free 127.0.0.1 port, driven with httpx. Results equal ``DVRules.assess``;
refusals carry the command line's own messages; the token, the body limit and the interview
work; and the server's log holds no answer, session id or token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from dvrules import DVRules
from dvrules import cli as cli_module
from dvrules.answers import MAX_FILE_BYTES
from dvrules.audit.assessments import AssessmentStore
from dvrules.audit.render import chromium
from dvrules.http import SESSION_HEADER, create_app
from dvrules.schemas import answers_schema, result_schema
from dvrules.store import MemoryStore
from tests.conftest import extreme_answers

TOKEN = "tok-" + "7f3a9c1e5b2d8064" * 2
CASE = "zq-case-4417"  # a case code that must never reach the log
SECRET_WORDS = "unmistakable-pickle"  # typed into an answer; must never reach the log
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVRULES_")}
    env.update(
        DVRULES_STORE=str(tmp / "sessions"),
        DVRULES_ASSESSMENTS=str(tmp / "kept"),
        HOME=str(tmp),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Server:
    def __init__(self, url: str, log: Path, tmp: Path):
        self.url, self.log, self.tmp = url, log, tmp

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("http")
    port = _free_port()
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "dvrules"), "serve", "--port", str(port)],
            env=_env(tmp, DVRULES_API_TOKEN=TOKEN),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"dvrules serve did not start: {log.read_text()}")
        time.sleep(0.1)
    yield Server(url, log, tmp)
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


# ---------------------------------------------------------------------- contract


def test_openapi_document_is_served_without_token_and_names_every_route(server: Server) -> None:
    response = httpx.get(server.url + "/openapi.json")
    assert response.status_code == 200
    doc = json.loads(response.text)
    app = create_app(store=MemoryStore(), token="")
    routes = {
        (method.lower(), getattr(r, "path", ""))
        for r in app.routes
        for method in getattr(r, "methods", ()) or ()
        if getattr(r, "include_in_schema", False)
    }
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert routes and routes == documented
    for path in (
        "/v1/flows",
        "/v1/flows/{flow}/questions",
        "/v1/flows/{flow}/assess",
        "/v1/flows/{flow}/explain/{item_id}",
        "/v1/interview/start",
        "/v1/interview/answer",
        "/v1/interview",
        "/v1/assessments/{assessment_id}/report",
    ):
        assert path in doc["paths"]
    # the response models are the library's result models, useful to any language
    schemas = doc["components"]["schemas"]
    for name in ("AssessmentResult", "ReferralResult", "QuestionView", "Turn", "ErrorBody"):
        assert name in schemas
    assess = doc["paths"]["/v1/flows/{flow}/assess"]["post"]
    ok = json.dumps(assess["responses"]["200"])
    assert "AssessmentResult" in ok and "ReferralResult" in ok
    assert "requestBody" in assess and assess["security"] == [{"HTTPBearer": []}]
    assert "referrals" in schemas["ReferralResult"]["properties"]
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_healthz_needs_no_token(server: Server) -> None:
    response = httpx.get(server.url + "/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-of-some-length"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer"},
    ],
)
def test_every_other_route_needs_the_bearer_token(server: Server, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/v1/flows"), ("POST", "/v1/flows/cdrp/assess")):
        response = httpx.request(method, server.url + path, headers=headers, content=b"{}")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"] == "unauthorized"
    with server.client() as good:
        assert good.get("/v1/flows").status_code == 200


def test_flows_questions_and_schemas_are_the_librarys(api: httpx.Client, rules: DVRules) -> None:
    flows = api.get("/v1/flows").json()
    assert [f["id"] for f in flows] == list(rules.kb.flows)
    assert all(f["source"]["document"] for f in flows)
    questions = api.get("/v1/flows/cdrp/questions").json()
    assert questions == [json.loads(v.model_dump_json()) for v in rules.questions("cdrp")]
    assert api.get("/v1/flows/cdrp/schema").json() == answers_schema(rules, "cdrp")
    assert api.get("/v1/schema/result").json() == result_schema()
    missing = api.get("/v1/flows/no-such-flow/questions")
    assert missing.status_code == 404 and "known flows" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("flow", "best"), [("cdrp", True), ("cdrp", False), ("referral", True), ("bvpi225", True)]
)
def test_assess_equals_the_python_api(
    api: httpx.Client, rules: DVRules, flow: str, best: bool
) -> None:
    answers = extreme_answers(rules, flow, best)
    response = api.post(f"/v1/flows/{flow}/assess", json=answers)
    assert response.status_code == 200
    assert response.json() == json.loads(rules.assess(flow, answers).model_dump_json())


def test_assess_with_an_area_lists_its_local_services(api: httpx.Client, rules: DVRules) -> None:
    area = sorted(rules.kb.directories)[0]
    answers = extreme_answers(rules, "referral", True)
    response = api.post("/v1/flows/referral/assess", params={"area": area}, json=answers)
    assert response.status_code == 200
    local = DVRules(rules.kb, area=area).assess("referral", answers)
    assert response.json() == json.loads(local.model_dump_json())
    assert any(c.local for r in local.referrals for c in r.contacts)
    unknown = api.post("/v1/flows/referral/assess", params={"area": "atlantis"}, json={})
    assert unknown.status_code == 404 and "known areas" in unknown.json()["detail"]


def test_a_partial_referral_result_carries_sources_and_reasons(api: httpx.Client) -> None:
    result = api.post("/v1/flows/referral/assess", json={"immediate_danger": True}).json()
    assert result["complete"] is False
    first = result["do_now"][0]
    assert "999" in first["text"] and first["because"]
    assert all(r["source"]["document"] for r in result["referrals"])


def test_explain_equals_the_python_api(api: httpx.Client, rules: DVRules) -> None:
    answers = extreme_answers(rules, "cdrp", True)
    item = next(o.id for o in rules.kb.outcomes_of("cdrp", "requirements"))
    response = api.post(f"/v1/flows/cdrp/explain/{item}", json=answers)
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(rules.explain("cdrp", answers, item)))
    missing = api.post("/v1/flows/cdrp/explain/no.such.item", json={})
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_item"


# ---------------------------------------------------------------------- refusals


def _cli_refusal(flow: str, body: bytes) -> str:
    """What ``dvrules assess FLOW --answers -`` says about ``body`` (exit 2, one line)."""
    result = CliRunner().invoke(
        cli_module.app, ["assess", flow, "--answers", "-", "--format", "json"], input=body
    )
    assert result.exit_code == 2, result.output
    return result.stderr.strip()


BAD_BODIES: list[tuple[str, bytes]] = [
    ("a yes/no given as a word", b'{"forum_budget_allocated": "maybe"}'),
    ("a number out of range", b'{"advocates_fte": -4}'),
    ("an option that does not exist", b'{"contact_centre": "carrier_pigeon"}'),
    ("a huge integer", b'{"advocates_fte": 1' + b"0" * 400 + b"}"),
    ("a big float", b'{"advocates_fte": 1e308}'),
    ("deep nesting", b'{"advocates_fte": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("a duplicate key", b'{"advocates_fte": 1, "advocates_fte": 2}'),
    ("not JSON", b'{"advocates_fte": 1,'),
    ("not UTF-8", b'{"advocates_fte": "\xff"}'),
    ("not an object", b"[1, 2]"),
    (
        "a list of options repeated",
        b'{"plans_integrating_dv": ["local_area_agreement", "local_area_agreement"]}',
    ),
]


@pytest.mark.parametrize(("what", "body"), BAD_BODIES, ids=[w for w, _ in BAD_BODIES])
def test_bad_answers_get_the_command_lines_message_and_a_4xx(
    api: httpx.Client, what: str, body: bytes
) -> None:
    response = api.post(
        "/v1/flows/cdrp/assess", content=body, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, what
    error = response.json()
    assert error["detail"] == _cli_refusal("cdrp", body)
    assert error["error"] in ("bad_answer", "bad_json")
    if error["error"] == "bad_answer":
        assert response.status_code == 422
        assert error["detail"].startswith(error["answer_id"] + ":")


def test_an_unknown_answer_id_is_named_with_where_the_ids_are_listed(api: httpx.Client) -> None:
    body = b'{"zz_no_such_answer": true}'
    response = api.post("/v1/flows/cdrp/assess", content=body)
    assert response.status_code == 422
    cli_line = _cli_refusal("cdrp", body)
    detail = response.json()["detail"]
    same = "zz_no_such_answer: no such question in flow cdrp; the answer ids are listed by: "
    assert cli_line.startswith(same) and detail.startswith(same)
    assert detail.endswith("GET /v1/flows/cdrp/questions")


def test_a_byte_order_mark_is_accepted(api: httpx.Client, rules: DVRules) -> None:
    body = "\ufeff" + json.dumps({"advocates_fte": 2})
    response = api.post("/v1/flows/cdrp/assess", content=body.encode("utf-8"))
    assert response.status_code == 200
    assert response.json() == json.loads(
        rules.assess("cdrp", {"advocates_fte": 2}).model_dump_json()
    )


def test_bodies_over_1mb_are_refused_with_413(api: httpx.Client) -> None:
    big = b'{"advocates_fte": 1, "pad": "' + b"x" * MAX_FILE_BYTES + b'"}'
    declared = api.post("/v1/flows/cdrp/assess", content=big)
    assert declared.status_code == 413
    assert declared.json()["detail"] == _cli_refusal("cdrp", big)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked
        for _ in range(40):
            yield b" " * 50_000

    chunked = api.post("/v1/flows/cdrp/assess", content=chunks())
    assert chunked.status_code == 413 and chunked.json()["error"] == "too_large"
    small_chunked = api.post("/v1/flows/cdrp/assess", content=iter([b'{"advocates_fte"', b": 2}"]))
    assert small_chunked.status_code == 200


def test_an_oversize_body_is_refused_before_it_is_read(server: Server) -> None:
    """A request declaring 50 MB and sending none is answered at once: nothing waits for it."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/flows/cdrp/assess HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{"
        )
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")


def test_unknown_routes_and_methods_are_json_4xx(api: httpx.Client) -> None:
    missing = api.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = api.get("/v1/flows/cdrp/assess")
    assert wrong.status_code == 405 and "detail" in wrong.json()
    assert wrong.headers["allow"] == "POST"
    bad_format = api.get("/v1/assessments/cdrp-x-2026-27/report", params={"format": "docx"})
    assert bad_format.status_code == 422 and bad_format.json()["error"] == "bad_parameter"


# ---------------------------------------------------------------------- the interview


def test_an_interview_turn_by_turn_then_forgotten(api: httpx.Client, rules: DVRules) -> None:
    case = {SESSION_HEADER: CASE}
    started = api.post("/v1/interview/start", json={"flow": "referral"}, headers=case)
    assert started.status_code == 200
    turn = started.json()
    assert turn["emergency"] == "In immediate danger: call 999."
    assert turn["question"]["id"] == "immediate_danger" and turn["danger"] is None

    # a yes to immediate danger: the 999 message comes with the very next reply
    danger = api.post(
        "/v1/interview/answer",
        json={"question": "immediate_danger", "answer": True},
        headers=case,
    ).json()
    assert danger["danger"] and "Call 999 now" in danger["danger"]["text"]
    assert "55" in danger["danger"]["text"]  # how to call when you cannot speak
    assert danger["danger"]["contact"]["phone"] == "999"
    assert danger["danger"]["contact"]["source"]["document"]
    assert danger["question"]["id"] != "immediate_danger"
    assert danger["progress"]["answered"] == 1

    # a refused answer: the library's message, named by id, nothing saved
    asked = danger["question"]
    refused = api.post(
        "/v1/interview/answer",
        json={"question": asked["id"], "answer": 10**20},
        headers=case,
    )
    assert refused.status_code == 422
    assert refused.json()["answer_id"] == asked["id"]
    assert refused.json()["detail"].startswith(asked["id"] + ": ")
    huge = api.post(
        "/v1/interview/answer",
        content=b'{"question": "%s", "answer": 1%s}' % (asked["id"].encode(), b"0" * 400),
        headers=case,
    )
    assert huge.status_code == 400 and "far too large" in huge.json()["detail"]

    # a typed answer (as in a chat), a skip, then back
    typed = api.post(
        "/v1/interview/answer", json={"question": asked["id"], "text": "no"}, headers=case
    ).json()
    assert typed["progress"]["answered"] == 2
    skipped = api.post(
        "/v1/interview/skip", json={"question": typed["question"]["id"]}, headers=case
    ).json()
    assert skipped["progress"]["dont_know"] == 1
    back = api.post("/v1/interview/back", json={}, headers=case).json()
    assert back["revisiting"] == typed["question"]["id"]
    assert back["question"]["id"] == typed["question"]["id"]

    # the result so far equals the library's for the same answers
    so_far = api.get("/v1/interview/result", headers=case).json()
    answers = {"immediate_danger": True, asked["id"]: False, typed["question"]["id"]: None}
    expected = json.loads(rules.assess("referral", answers).model_dump_json())
    assert so_far["result"] == expected and so_far["finished"] is False

    # forget: erased at once; the session is gone
    erased = api.delete("/v1/interview", headers=case)
    assert erased.status_code == 204
    after = api.get("/v1/interview", headers=case)
    assert after.status_code == 409 and after.json()["error"] == "no_interview"
    assert api.delete("/v1/interview", headers=case).status_code == 204  # idempotent


def test_a_finished_interview_returns_the_result(api: httpx.Client, rules: DVRules) -> None:
    case = {SESSION_HEADER: "finish-1"}
    turn = api.post("/v1/interview/start", json={"flow": "minimum-standards"}, headers=case).json()
    answers: dict[str, Any] = {}
    while turn["question"] is not None:
        q = turn["question"]
        answers[q["id"]] = True if q["type"] == "yes_no" else None
        body = {"question": q["id"], "answer": answers[q["id"]]}
        turn = api.post("/v1/interview/answer", json=body, headers=case).json()
        assert len(answers) < 200
    assert turn["finished"] is True
    assert turn["result"] == json.loads(
        rules.assess("minimum-standards", answers).model_dump_json()
    )
    assert api.delete("/v1/interview", headers=case).status_code == 204


@pytest.mark.parametrize(
    ("headers", "body", "status", "error"),
    [
        ({SESSION_HEADER: "has space"}, {"flow": "referral"}, 400, "bad_session_id"),
        ({SESSION_HEADER: "x" * 65}, {"flow": "referral"}, 400, "bad_session_id"),
        ({}, {"flow": "referral"}, 422, "bad_parameter"),
        ({SESSION_HEADER: "ok-1"}, {"flow": "nope"}, 404, "unknown_flow"),
        ({SESSION_HEADER: "ok-1"}, {"flow": "referral", "extra": 1}, 422, "bad_request"),
        ({SESSION_HEADER: "ok-1"}, ["referral"], 400, "bad_request"),
    ],
)
def test_interview_refusals(
    api: httpx.Client, headers: dict[str, str], body: Any, status: int, error: str
) -> None:
    response = api.post("/v1/interview/start", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_answer_needs_answer_or_text_and_back_needs_an_earlier_question(
    api: httpx.Client,
) -> None:
    case = {SESSION_HEADER: "rules-2"}
    api.post("/v1/interview/start", json={"flow": "referral"}, headers=case)
    neither = api.post("/v1/interview/answer", json={"question": "immediate_danger"}, headers=case)
    assert neither.status_code == 422 and neither.json()["error"] == "bad_request"
    both = api.post(
        "/v1/interview/answer",
        json={"question": "immediate_danger", "answer": True, "text": "yes"},
        headers=case,
    )
    assert both.status_code == 422
    words = api.post(
        "/v1/interview/answer",
        json={"question": "immediate_danger", "text": SECRET_WORDS},
        headers=case,
    )
    assert words.status_code == 422 and words.json()["answer_id"] == "immediate_danger"
    back = api.post("/v1/interview/back", json={}, headers=case)
    assert back.status_code == 409 and "no earlier question" in back.json()["detail"]
    assert api.delete("/v1/interview", headers=case).status_code == 204


def test_a_damaged_session_gets_409_with_the_hint_and_can_be_erased(
    server: Server, api: httpx.Client
) -> None:
    case = {SESSION_HEADER: "damaged-1"}
    before = {p.name for p in (server.tmp / "sessions").glob("*.json")}
    assert api.post("/v1/interview/start", json={"flow": "cdrp"}, headers=case).status_code == 200
    (made,) = [p for p in (server.tmp / "sessions").glob("*.json") if p.name not in before]
    made.write_text('{"session": {"1": ', encoding="utf-8")
    damaged = api.get("/v1/interview", headers=case)
    assert damaged.status_code == 409
    assert damaged.json()["error"] == "damaged_session"
    assert "DELETE /v1/interview" in damaged.json()["detail"]
    assert api.delete("/v1/interview", headers=case).status_code == 204
    assert not made.exists()
    again = api.post("/v1/interview/start", json={"flow": "cdrp"}, headers=case)
    assert again.status_code == 200
    assert api.delete("/v1/interview", headers=case).status_code == 204


# ---------------------------------------------------------------------- reports


def test_reports_of_a_kept_assessment(server: Server, api: httpx.Client, rules: DVRules) -> None:
    kept = AssessmentStore(server.tmp / "kept").save(
        rules, "cdrp", extreme_answers(rules, "cdrp", True), area="Camden", period="2026-27"
    )
    listed = api.get("/v1/assessments").json()
    assert [k["id"] for k in listed] == [kept.id] and "answers" not in listed[0]
    html = api.get(f"/v1/assessments/{kept.id}/report")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "Camden" in html.text and "<table" in html.text
    md = api.get(f"/v1/assessments/{kept.id}/report", params={"format": "markdown"})
    assert md.status_code == 200 and md.text.startswith("#")
    missing = api.get("/v1/assessments/cdrp-nowhere-2026-27/report")
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_assessment"
    malformed = api.get("/v1/assessments/NOT%20AN%20ID/report")
    assert malformed.status_code == 422
    if chromium() is None and not os.environ.get("CI"):
        return  # PDF needs Chromium (Debian package chromium); CI has it
    pdf = api.get(f"/v1/assessments/{kept.id}/report", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


# ---------------------------------------------------------------------- starting and logs


def _serve(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "dvrules"), "serve", *args],
        env=_env(tmp, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_an_open_address_without_a_token(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--host", "0.0.0.0", "--port", str(_free_port()))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "DVRULES_API_TOKEN" in done.stderr
    short = _serve(tmp_path, "--port", str(_free_port()), DVRULES_API_TOKEN="abc")
    assert short.returncode == 2 and "too short" in short.stderr
    assert "abc" not in short.stderr.replace("at least", "")


def test_the_log_names_routes_and_holds_no_answers_session_ids_or_tokens(
    server: Server, api: httpx.Client
) -> None:
    case = {SESSION_HEADER: CASE}
    api.post("/v1/interview/start", json={"flow": "referral"}, headers=case)
    api.post(
        "/v1/interview/answer",
        json={"question": "immediate_danger", "text": SECRET_WORDS},
        headers=case,
    )
    api.post("/v1/flows/cdrp/assess", json={"zz_secret_answer_key": SECRET_WORDS})
    api.delete("/v1/interview", headers=case)
    httpx.get(server.url + "/v1/flows", headers={"Authorization": "Bearer guess-" + CASE})
    time.sleep(0.3)
    log = server.log.read_text(encoding="utf-8")
    assert "POST /v1/interview/answer 422" in log
    assert "POST /v1/flows/{flow}/assess" in log
    for secret in (TOKEN, CASE, SECRET_WORDS, "zz_secret_answer_key", "immediate_danger"):
        assert secret not in log
    assert "Traceback" not in log
