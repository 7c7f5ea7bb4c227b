"""The HTTP API: the library's calls over JSON, for apps not written in Python.

``create_app`` builds the ASGI app (FastAPI). Each route is a thin translation: the body is read
with the answers file's limits (``dvrules.answers.parse_json_bytes``), the same library call
the command line makes does the work, and the library's own models are sent back, so a result
carries its sources and reasons exactly as ``DVRules.assess`` returns them. Every refusal is
``{"error", "detail"}`` with a 4xx code (503 when the store is out of reach); no traceback, no
answer, session id or token ever reaches a log.

Session ids travel in the ``DVRules-Session`` header, not the path: paths end up in the logs
of proxies and hosting routers, and a case code must not.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal, TypeVar

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import dvrules
from dvrules.answers import MAX_FILE_BYTES, parse_json_bytes
from dvrules.api import DVRules, QuestionView, default_rules
from dvrules.audit import render
from dvrules.audit.assessments import AssessmentError, AssessmentStore
from dvrules.audit.pack import report_document
from dvrules.chat.compose import EMERGENCY_CONTACT, Composer
from dvrules.chat.conversation import DANGER_QUESTION
from dvrules.chat.messages import EMERGENCY
from dvrules.errors import (
    AnswerError,
    DVRulesError,
    EngineError,
    KnowledgeError,
    StoreError,
    UnknownFlowError,
    UnknownItemError,
)
from dvrules.http.models import (
    AnswerRequest,
    BackRequest,
    Danger,
    ErrorBody,
    Explanation,
    FlowView,
    Health,
    InterviewProgress,
    KeptView,
    SkipRequest,
    StartRequest,
    Turn,
)
from dvrules.interview import Session, SessionError, SessionTurn, open_turn
from dvrules.results import Result, cite, contact_result
from dvrules.schemas import answers_schema, result_schema
from dvrules.store import DamagedSessionError, SessionStore, open_store

M = TypeVar("M", bound=BaseModel)
TOKEN_ENV = "DVRULES_API_TOKEN"
SESSION_HEADER = "DVRules-Session"
log = logging.getLogger("dvrules.http")

_bearer = HTTPBearer(auto_error=False, description=f"the token in {TOKEN_ENV}")
_OPEN_PATHS = frozenset({"/healthz", "/openapi.json"})  # no case data; all else needs the token


class Refused(Exception):
    """A refusal to send as ``{"error", "detail"}`` with ``status``."""

    def __init__(
        self, status: int, error: str, detail: str, answer_id: str | None = None, **headers: str
    ):
        super().__init__(detail)
        self.status, self.error, self.detail, self.answer_id = status, error, detail, answer_id
        self.headers = headers


def _body(exc: Refused) -> JSONResponse:
    body = ErrorBody(error=exc.error, detail=exc.detail, answer_id=exc.answer_id)
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=exc.status, headers=exc.headers or None
    )


def refusal(exc: BaseException) -> Refused:
    """The HTTP refusal for an error the library (or the audit pack) raised on purpose."""
    if isinstance(exc, Refused):
        return exc
    if isinstance(exc, AnswerError):
        return Refused(422, "bad_answer", str(exc), exc.question_id)
    if isinstance(exc, UnknownFlowError):
        return Refused(404, "unknown_flow", str(exc))
    if isinstance(exc, UnknownItemError):
        return Refused(404, "unknown_item", str(exc))
    if isinstance(exc, DamagedSessionError):
        return Refused(
            409,
            "damaged_session",
            "this session's saved answers are damaged and cannot be read; erase them and "
            f"start again with DELETE /v1/interview (same {SESSION_HEADER} header)",
        )
    if isinstance(exc, StoreError):
        log.warning("session store unavailable: %s", exc)  # a path and a reason, no answers
        return Refused(
            503,
            "store_unavailable",
            "the session store cannot be read or written just now; nothing was changed; try again",
            **{"Retry-After": "5"},
        )
    if isinstance(exc, SessionError):
        return Refused(409, "session", str(exc))
    if isinstance(exc, (KnowledgeError, EngineError)):
        log.error("%s: %s", exc.__class__.__name__, exc)
        return Refused(503, "unavailable", "the rules cannot be evaluated just now; try again")
    if isinstance(exc, AssessmentError):
        text = str(exc)
        if "no such kept" in text:
            return Refused(404, "unknown_assessment", text)
        if "damaged" in text:
            return Refused(409, "damaged_assessment", text)
        return Refused(422, "bad_assessment", text)
    if isinstance(exc, render.PdfError):
        return Refused(503, "pdf_unavailable", str(exc))
    if isinstance(exc, DVRulesError):
        return Refused(400, "refused", str(exc))
    raise TypeError(exc)  # not ours: Guard answers 500 and logs only its class


# ---------------------------------------------------------------------- ASGI middleware


class Guard:
    """The outermost layer, plain ASGI so nothing runs before it: check the bearer token
    (constant-time; 401 with ``WWW-Authenticate``), refuse a body over the limit (413) before
    reading it whole, answer every request with ``Cache-Control: no-store``, turn anything
    unexpected into a JSON 500 without a traceback, and log one line per request naming the
    route's template (``/v1/flows/{flow}/assess``), never a path, header or body."""

    def __init__(self, app: ASGIApp, secret: bytes, max_body: int = MAX_FILE_BYTES):
        self.app, self.secret, self.max_body = app, secret, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_guarded(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"cache-control", b"no-store")]
                message = {**message, "headers": headers}
            await send(message)

        try:
            refused = self._refuse_early(scope)
            if refused is None:
                replay = await self._read_unsized(scope, receive)
                if replay is None:
                    refused = Refused(413, "too_large", _TOO_LARGE)
            if refused is not None:
                await _body(refused)(scope, _disconnected, send_guarded)
                return
            await self.app(scope, replay or receive, send_guarded)
        except Exception as exc:  # the app's 500 handler has answered; no traceback in logs
            log.error("unexpected %s", exc.__class__.__name__)
            if not status:
                fallback = Refused(500, "internal", "something went wrong on the server; try again")
                await _body(fallback)(scope, _disconnected, send_guarded)
        finally:
            log.info(
                "%s %s %s %.1f ms",
                scope.get("method", "?"),
                getattr(scope.get("route"), "path", "(no route)"),
                status or "-",
                (time.perf_counter() - started) * 1000,
            )

    def _refuse_early(self, scope: Scope) -> Refused | None:
        """A refusal that needs only the headers: no token, or a declared size over the limit."""
        headers = dict(scope.get("headers", []))
        if self.secret and scope.get("path") not in _OPEN_PATHS:
            scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
            if not (
                scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.secret)
            ):
                return Refused(
                    401,
                    "unauthorized",
                    "give the API token: Authorization: Bearer <token>",
                    **{"WWW-Authenticate": 'Bearer realm="dvrules"'},
                )
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return Refused(413, "too_large", _TOO_LARGE)
        return None

    async def _read_unsized(self, scope: Scope, receive: Receive) -> Receive | None:
        """A body without a declared length is read here up to the limit and replayed;
        ``None`` when it goes over (the rest is never read)."""
        if any(name == b"content-length" for name, _ in scope.get("headers", [])) or scope.get(
            "method"
        ) in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return receive
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return receive
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return None
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": whole, "more_body": False}

        return replay


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}


def _size_message() -> str:
    """The answers file's own refusal of an oversize body (``parse_json_bytes`` words it)."""
    try:
        parse_json_bytes(b" " * (MAX_FILE_BYTES + 1))
    except AnswerError as exc:
        return str(exc)
    raise AssertionError("parse_json_bytes accepted a body over its limit")


_TOO_LARGE = _size_message()


# ---------------------------------------------------------------------- the app


def create_app(
    rules: DVRules | None = None, store: SessionStore | None = None, token: str | None = None
) -> FastAPI:
    """The API over ``rules`` (default: the shipped knowledge) and ``store`` (default:
    ``open_store()``, i.e. ``DVRULES_STORE``). ``token``: the bearer token every route but
    ``/healthz`` and ``/openapi.json`` needs; ``None`` reads ``DVRULES_API_TOKEN``, and an
    empty value turns auth off (``dvrules serve`` allows that on a loopback address only)."""
    rules = rules or default_rules()
    sessions = store if store is not None else open_store()
    secret = (os.environ.get(TOKEN_ENV, "") if token is None else token).strip().encode("utf-8")
    pdf_turn = threading.BoundedSemaphore(1)  # one Chromium at a time
    emergency_contact = contact_result(rules.kb, EMERGENCY_CONTACT)

    app = FastAPI(
        title="dvrules",
        version=dvrules.__version__,
        summary="UK domestic-abuse standards, risk prompts and referral pathways as cited rules.",
        description=(
            "Every result item carries its source and the answers and thresholds behind it. "
            f"{EMERGENCY} A risk level is a prompt for professional judgement, never a "
            "verdict. Send no names, addresses or dates of birth: a case is a code you choose. "
            "Errors are JSON `{error, detail}` with a 4xx code (503: try again)."
        ),
        docs_url=None,  # the interactive pages load scripts from a CDN; the document is enough
        redoc_url=None,
        responses={
            400: {"model": ErrorBody, "description": "the body is not acceptable JSON"},
            401: {"model": ErrorBody, "description": "no or wrong bearer token"},
            404: {"model": ErrorBody, "description": "no such flow, item or assessment"},
            409: {"model": ErrorBody, "description": "the session cannot do that (see detail)"},
            413: {"model": ErrorBody, "description": "the body is over 1 MB"},
            422: {"model": ErrorBody, "description": "an answer or parameter is refused"},
            503: {"model": ErrorBody, "description": "the store is out of reach: try again"},
        },
    )

    # ------------------------------------------------------------------ errors

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        return _body(exc)

    @app.exception_handler(DVRulesError)
    async def _dvrules(_: Request, exc: DVRulesError) -> JSONResponse:
        return _body(refusal(exc))

    @app.exception_handler(AssessmentError)
    async def _assessment(_: Request, exc: AssessmentError) -> JSONResponse:
        return _body(refusal(exc))

    @app.exception_handler(render.PdfError)
    async def _pdf(_: Request, exc: render.PdfError) -> JSONResponse:
        return _body(refusal(exc))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        names = {404: "not_found", 405: "method_not_allowed"}
        error = names.get(exc.status_code, "refused")
        return _body(Refused(exc.status_code, error, exc.detail, **dict(exc.headers or {})))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _body(Refused(422, "bad_parameter", _first_error(exc.errors())))

    # The token is checked in ``Guard``; this dependency only names the scheme in OpenAPI.
    guarded: dict[str, Any] = {"dependencies": [Depends(_bearer)]}

    by_area: dict[str, DVRules] = {}  # at most one per local directory the knowledge has

    def area_rules(area: str | None) -> DVRules:
        if area is None:
            return rules
        if area not in by_area:
            try:
                rules.kb.directory(area)
            except KnowledgeError as exc:
                raise Refused(404, "unknown_area", str(exc)) from None
            by_area[area] = DVRules(rules.kb, area=area)
        return by_area[area]

    # ------------------------------------------------------------------ reading bodies

    async def json_body(request: Request, what: str) -> Any:
        """The body as JSON with the answers file's limits, or a 400 (413: over the size)."""
        raw = await request.body()
        try:
            return parse_json_bytes(raw, what)
        except AnswerError as exc:
            status = 413 if len(raw) > MAX_FILE_BYTES else 400
            raise Refused(status, "bad_json", str(exc), exc.question_id) from None

    def checked(model: type[M], data: Any) -> M:
        if not isinstance(data, dict):
            raise Refused(400, "bad_request", "expected a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise Refused(422, "bad_request", _first_error(exc.errors())) from None

    # ------------------------------------------------------------------ open routes

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        """Alive and the knowledge loaded (no token needed)."""
        return Health(knowledge_version=rules.kb.version)

    # ------------------------------------------------------------------ flows and answers

    @app.get("/v1/flows", response_model=list[FlowView], tags=["flows"], **guarded)
    def flows() -> list[FlowView]:
        """Every flow: the referral checklist and the self-assessments."""
        return [
            FlowView(
                id=f.id,
                title=f.title,
                kind=f.summary.kind,
                intro=f.intro,
                questions=len(f.questions),
                source=cite(f.source),
            )
            for f in rules.kb.flows.values()
        ]

    @app.get(
        "/v1/flows/{flow}/questions", response_model=list[QuestionView], tags=["flows"], **guarded
    )
    def questions(flow: str) -> Response:
        """A flow's questions in asking order (an interview asks only those that matter)."""
        views = rules.questions(flow)
        return _json("[" + ",".join(v.model_dump_json() for v in views) + "]")

    @app.get("/v1/flows/{flow}/schema", tags=["schemas"], **guarded)
    def flow_schema(flow: str) -> dict[str, Any]:
        """The JSON Schema of the flow's answers object (as ``dvrules schema FLOW``)."""
        rules.kb.flow(flow)
        return answers_schema(rules, flow)

    @app.get("/v1/schema/result", tags=["schemas"], **guarded)
    def result_contract() -> dict[str, Any]:
        """The JSON Schema of a result (as ``dvrules schema --result``)."""
        return result_schema()

    answers_body = {
        "requestBody": {
            "required": True,
            "description": "answer id to value, as an answers file (dvrules assess --answers); "
            "null: don't know; at most 1 MB; GET /v1/flows/{flow}/schema describes it",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "additionalProperties": {
                            "anyOf": [
                                {"type": "boolean"},
                                {"type": "number"},
                                {"type": "string"},
                                {"type": "array", "items": {"type": "string"}},
                                {"type": "null"},
                            ]
                        },
                    }
                }
            },
        }
    }

    @app.post(
        "/v1/flows/{flow}/assess",
        response_model=Result,
        tags=["flows"],
        dependencies=guarded["dependencies"],
        openapi_extra=answers_body,
    )
    async def assess(
        flow: str,
        request: Request,
        area: str | None = Query(
            None, description="referral flow: list this area's local services too (--area)"
        ),
    ) -> Response:
        """The full result for a set of answers (as ``dvrules assess FLOW --answers``)."""
        rules.kb.flow(flow)
        local = area_rules(area)
        data = _answers_object(await json_body(request, "answers"))
        result = await run_in_threadpool(_assess, local, flow, data)
        return _json(result.model_dump_json())

    @app.post(
        "/v1/flows/{flow}/explain/{item_id}",
        response_model=Explanation,
        tags=["flows"],
        dependencies=guarded["dependencies"],
        openapi_extra=answers_body,
    )
    async def explain(flow: str, item_id: str, request: Request) -> Explanation:
        """Why one result item is as it is (as ``dvrules explain FLOW ITEM --answers``)."""
        rules.kb.flow(flow)
        data = _answers_object(await json_body(request, "answers"))
        _known_ids(rules, flow, data)
        info = await run_in_threadpool(rules.explain, flow, data, item_id)
        return Explanation.model_validate(info)

    # ------------------------------------------------------------------ the interview

    def body_of(model: type[BaseModel]) -> dict[str, Any]:
        return {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": model.model_json_schema()}},
            },
        }

    session_header = Header(
        alias=SESSION_HEADER,
        description="the case code you chose (1-64 letters, digits or . _ : -; no names)",
    )

    @contextlib.contextmanager
    def turn(session_id: str) -> Iterator[SessionTurn]:
        """One locked load of the session, at most one save (``open_turn``); a malformed id
        is a 400, anything refused inside the turn a 4xx from ``refusal``."""
        opened = open_turn(rules, sessions, session_id)
        try:
            t = opened.__enter__()
        except SessionError as exc:
            raise Refused(400, "bad_session_id", str(exc)) from None
        with contextlib.ExitStack() as stack:
            stack.push(opened)
            yield t

    def session_of(t: SessionTurn, flow: str | None) -> Session:
        flow = flow or t.current
        if flow is None:
            raise Refused(
                409,
                "no_interview",
                "no interview in progress for this session; start one with "
                "POST /v1/interview/start",
            )
        return t.session(flow)

    def state(s: Session, with_result: bool = False) -> Turn:
        question = s.next_question()
        finished = question is None
        progress = s.progress()
        danger = None
        if s.answers.get(DANGER_QUESTION) is True:
            danger = Danger(text=Composer(rules.kb).danger().plain(), contact=emergency_contact)
        return Turn(
            flow=s.flow,
            emergency=EMERGENCY,
            danger=danger,
            question=question,
            revisiting=s.revisiting,
            progress=InterviewProgress(
                answered=progress["answered"],
                dont_know=progress["dont_know"],
                remaining=progress["remaining"],
                prefilled=progress["prefilled"],
            ),
            finished=finished,
            result=s.result() if finished or with_result else None,
        )

    def start_turn(session_id: str, req: StartRequest) -> Turn:
        with turn(session_id) as t:
            return state(t.session(req.flow))

    def answer_turn(session_id: str, req: AnswerRequest) -> Turn:
        with turn(session_id) as t:
            s = session_of(t, req.flow)
            if req.text is not None:
                s.answer_text(req.question, req.text)
            else:
                s.answer(req.question, req.answer)
            return state(s)

    def skip_turn(session_id: str, req: SkipRequest) -> Turn:
        with turn(session_id) as t:
            s = session_of(t, req.flow)
            s.skip(req.question)
            return state(s)

    def back_turn(session_id: str, req: BackRequest) -> Turn:
        with turn(session_id) as t:
            s = session_of(t, req.flow)
            s.back()
            return state(s)

    def look(session_id: str, flow: str | None, with_result: bool) -> Turn:
        with turn(session_id) as t:
            return state(session_of(t, flow), with_result)

    def forget(session_id: str) -> None:
        try:
            with turn(session_id) as t:
                t.forget()
        except DamagedSessionError:
            sessions.delete(session_id)  # erasing needs no reading
            rules.forget_recent()

    def send(result: Turn) -> Response:
        return _json(result.model_dump_json())

    @app.post(
        "/v1/interview/start",
        response_model=Turn,
        tags=["interview"],
        dependencies=guarded["dependencies"],
        openapi_extra=body_of(StartRequest),
    )
    async def start(request: Request, session: str = session_header) -> Response:
        """Start a flow for this session, or resume it where its answers end."""
        req = checked(StartRequest, await json_body(request, "request"))
        return send(await run_in_threadpool(start_turn, session, req))

    @app.post(
        "/v1/interview/answer",
        response_model=Turn,
        tags=["interview"],
        dependencies=guarded["dependencies"],
        openapi_extra=body_of(AnswerRequest),
    )
    async def answer(request: Request, session: str = session_header) -> Response:
        """Answer a question (``answer``: a JSON value; or ``text``: typed words); the reply
        is the next question, or the result when there is none. An answer of yes to immediate
        danger gives ``danger``: show it before anything else."""
        req = checked(AnswerRequest, await json_body(request, "request"))
        if ("answer" in req.model_fields_set) == (req.text is not None):
            raise Refused(422, "bad_request", f"{req.question}: give answer or text (one of them)")
        return send(await run_in_threadpool(answer_turn, session, req))

    @app.post(
        "/v1/interview/skip",
        response_model=Turn,
        tags=["interview"],
        dependencies=guarded["dependencies"],
        openapi_extra=body_of(SkipRequest),
    )
    async def skip(request: Request, session: str = session_header) -> Response:
        """Answer "don't know"."""
        req = checked(SkipRequest, await json_body(request, "request"))
        return send(await run_in_threadpool(skip_turn, session, req))

    @app.post(
        "/v1/interview/back",
        response_model=Turn,
        tags=["interview"],
        dependencies=guarded["dependencies"],
        openapi_extra=body_of(BackRequest),
    )
    async def back(request: Request, session: str = session_header) -> Response:
        """Look again at the previous question; its answer and later ones are kept until
        changed (answer it again to change it)."""
        req = checked(BackRequest, await json_body(request, "request"))
        return send(await run_in_threadpool(back_turn, session, req))

    @app.get("/v1/interview", response_model=Turn, tags=["interview"], **guarded)
    async def current(
        session: str = session_header,
        flow: str | None = Query(None, description="default: the session's current flow"),
    ) -> Response:
        """Where the interview is: the question being asked, or the result when finished."""
        return send(await run_in_threadpool(look, session, flow, False))

    @app.get("/v1/interview/result", response_model=Turn, tags=["interview"], **guarded)
    async def result(
        session: str = session_header,
        flow: str | None = Query(None, description="default: the session's current flow"),
    ) -> Response:
        """The result so far (a referral result says when it is provisional)."""
        return send(await run_in_threadpool(look, session, flow, True))

    @app.delete("/v1/interview", status_code=204, tags=["interview"], **guarded)
    async def erase(session: str = session_header) -> Response:
        """Erase everything kept for this session, now (also a damaged one)."""
        await run_in_threadpool(forget, session)
        return Response(status_code=204)

    # ------------------------------------------------------------------ kept assessments

    @app.get("/v1/assessments", response_model=list[KeptView], tags=["reports"], **guarded)
    def assessments() -> list[KeptView]:
        """Kept self-assessments (``dvrules assessments list``), without their answers."""
        return [
            KeptView.model_validate(k.model_dump(exclude={"answers", "evidence"}))
            for k in AssessmentStore().all()
        ]

    @app.get(
        "/v1/assessments/{assessment_id}/report",
        tags=["reports"],
        responses={
            200: {
                "content": {"text/html": {}, "text/markdown": {}, "application/pdf": {}},
                "description": "the report file",
            },
            503: {"model": ErrorBody, "description": "PDF: Chromium is missing or busy"},
        },
        **guarded,
    )
    def report(assessment_id: str, format: Literal["html", "markdown", "pdf"] = "html") -> Response:
        """The board report of a kept assessment (``dvrules report FLOW --assessment ID``),
        compared with the same area's previous kept period when there is one."""
        store = AssessmentStore()
        kept = store.load(assessment_id)
        before = store.previous(kept)
        if format == "pdf" and not pdf_turn.acquire(blocking=False):
            raise Refused(
                503, "busy", "another PDF is being made; try again", **{"Retry-After": "10"}
            )
        try:
            doc = report_document(
                rules,
                kept.flow,
                kept.answers,
                format=format,
                area=kept.area,
                period=kept.period,
                role=kept.role,
                evidence=kept.evidence,
                previous=before.answers if before else None,
                previous_label=before.period if before else "",
            )
        finally:
            if format == "pdf":
                pdf_turn.release()
        return Response(
            doc.data,
            media_type=doc.mime + ("; charset=utf-8" if format != "pdf" else ""),
            headers={"Content-Disposition": f'attachment; filename="{doc.name}"'},
        )

    app.add_middleware(Guard, secret=secret)  # inside only Starlette's error page, never reached
    return app


def _first_error(errors: Any) -> str:
    """One line from pydantic's list of errors: where, and what is wrong."""
    first = list(errors)[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "header"))
    return f"{where or 'request'}: {first.get('msg', 'not valid')}"


def _json(text: str) -> Response:
    return Response(text, media_type="application/json")


def _answers_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Refused(
            400, "bad_json", "answers: expected a JSON object of answer id to value", "answers"
        )
    return data


def _known_ids(rules: DVRules, flow: str, data: dict[str, Any]) -> None:
    """An answer id the flow does not ask, refused as the command line does, pointing at
    where the ids are listed (the command line names ``dvrules questions FLOW``)."""
    asked = rules.kb.flow(flow).questions
    for qid in data:
        if qid not in asked and qid not in rules.kb.retired:
            shown = qid if qid.isprintable() else json.dumps(qid)  # a detail is one line
            raise Refused(
                422,
                "bad_answer",
                f"{shown}: no such question in flow {flow}; the answer ids are listed by: "
                f"GET /v1/flows/{flow}/questions",
                qid,
            )


def _assess(rules: DVRules, flow: str, data: dict[str, Any]) -> Result:
    _known_ids(rules, flow, data)
    return rules.assess(flow, data)
