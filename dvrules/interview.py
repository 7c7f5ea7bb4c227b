"""The guided interview: one channel-neutral session API for the terminal, Telegram and Slack.

A session is identified by an id the caller chooses (a case code in the terminal, a hashed
chat id in a bot) and holds, per flow, only the answers given and the order they were given
in. No free text is kept. Every change is a locked read-modify-write of the stored record, so
two processes never lose each other's answers and a restarted process continues where the
last one stopped.

A chat turn uses ``open_turn`` (or ``Session.turn``): one locked load, any number of session
operations on the record in memory, and at most one save when the turn ends.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

from dvrules.answers import Answer, check_answer, parse_text
from dvrules.api import DVRules, QuestionView
from dvrules.errors import AnswerError, DVRulesError
from dvrules.results import AssessmentResult, Result
from dvrules.store import SessionStore

SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


class SessionError(DVRulesError, ValueError):
    """A session operation that cannot be done (e.g. nothing to go back to)."""


class Session:
    """A resumable interview over one flow, backed by a store (or memory when none is given)."""

    def __init__(
        self,
        rules: DVRules,
        flow: str,
        session_id: str,
        store: SessionStore | None = None,
        *,
        _record: dict[str, Any] | None = None,
    ):
        if not SESSION_ID.fullmatch(session_id):
            raise SessionError(
                "a session id is 1-64 letters, digits or . _ : -, starting with a letter "
                "or digit (no names)"
            )
        rules.kb.flow(flow)
        self.rules, self.flow, self.id, self.store = rules, flow, session_id, store
        self._memory: dict[str, Any] | None = None
        self._bound: dict[str, Any] | None = None  # the record of the turn in progress
        if _record is not None:
            self._bind(_record)
        edit = self._edit()
        with edit as state:
            self._prefill(state, edit.record["flows"])

    def _bind(self, record: dict[str, Any]) -> None:
        """Work on ``record`` in memory (a turn's record) instead of loading and saving."""
        record.setdefault("flows", {}).setdefault(self.flow, _new_flow())
        for key, value in _new_flow().items():
            record["flows"][self.flow].setdefault(key, value)
        record["current"] = self.flow
        self._bound = record

    @contextlib.contextmanager
    def turn(self) -> Iterator[Session]:
        """One locked load now and at most one save at the end: every operation inside works
        on the record in memory (a chat turn does several)."""
        if self._bound is not None:
            yield self
            return
        with _locked_record(self.store, self.id, lambda: self._memory) as holder:
            self._bind(holder.record)
            try:
                yield self
            finally:
                self._bound = None
            if holder.forgotten:
                return
            if self.store is None:
                holder.save = lambda r: setattr(self, "_memory", r)

    # ------------------------------------------------------------------ storage

    def _record(self, stored: dict[str, Any] | None = None) -> dict[str, Any]:
        """The stored record (loaded unless given), with this flow's part ready to use."""
        if stored is None:
            stored = self.store.load(self.id) if self.store is not None else self._memory
        record = json.loads(json.dumps(stored)) if stored else None  # never edit the original
        if not record:
            # The id is not stored: the store keys files by its hash, so it is never on disk.
            record = {"created": time.time(), "flows": {}}
        record.setdefault("flows", {}).setdefault(self.flow, _new_flow())
        for key, value in _new_flow().items():
            record["flows"][self.flow].setdefault(key, value)
        record["current"] = self.flow
        return record

    class _Edit:
        def __init__(self, session: Session):
            self.session = session
            self.lock: Any = None

        def __enter__(self) -> dict[str, Any]:
            s = self.session
            if s._bound is not None:  # inside a turn: the turn loads and saves
                self.record = s._bound
                return _flow_state(s._bound, s.flow)
            if s.store is not None:
                self.lock = s.store.locked(s.id)
                self.lock.__enter__()
            stored = s.store.load(s.id) if s.store is not None else s._memory
            self.before = json.dumps(stored, sort_keys=True) if stored else None
            self.record = s._record(stored)
            return _flow_state(self.record, s.flow)

        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
            s = self.session
            if s._bound is not None:
                return
            try:
                # an unchanged record is not written again: no needless fsync on every turn
                if exc_type is None and json.dumps(self.record, sort_keys=True) != self.before:
                    if s.store is not None:
                        s.store.save(s.id, self.record)
                    else:
                        s._memory = self.record
            finally:
                if self.lock is not None:
                    self.lock.__exit__(exc_type, exc, tb)

    def _edit(self) -> Session._Edit:
        return Session._Edit(self)

    def _state(self) -> dict[str, Any]:
        if self._bound is not None:
            return _flow_state(self._bound, self.flow)
        return _flow_state(self._record(), self.flow)

    @property
    def answers(self) -> dict[str, Answer]:
        return dict(self._state()["answers"])

    def _prefill(self, state: dict[str, Any], flows: dict[str, Any]) -> None:
        """Copy a figure from another flow's finished assessment in this session."""
        for qid in self.rules.kb.flow(self.flow).questions:
            q = self.rules.kb.questions[qid]
            if q.prefill is None or (qid in state["answers"] and qid not in state["prefilled"]):
                continue  # a person's own answer wins; a copied figure is refreshed
            other, _, key = q.prefill.partition(".")
            done = flows.get(other)
            if not done or not done.get("completed"):
                continue
            result = self.rules.assess(other, done["answers"], checked=True)
            if not isinstance(result, AssessmentResult):
                continue  # only a self-assessment has figures to copy
            if any(r.status == "unknown" for r in result.requirements):
                continue  # a figure resting on "don't know" answers would pass unknown off as known
            value = result.summary.get(key)
            if value is None:
                continue
            state["answers"][qid] = check_answer(self.rules.kb, qid, value)
            state["prefilled"][qid] = other

    # ------------------------------------------------------------------ the interview

    def next_question(self) -> QuestionView | None:
        """The next question worth asking, or ``None`` when the result is as complete as it gets.

        After ``back`` or ``revisit`` that is the question being looked at again (its answer
        is kept until it is changed)."""
        state = self._state()
        if state.get("revisit"):
            return self.rules.question_view(state["revisit"])
        answers = self.answers
        question = self.rules.next_question(self.flow, answers)
        if question is None and not self._state()["completed"]:
            with self._edit() as state:
                state["completed"] = True
        return question

    def answer(self, qid: str, value: Any) -> None:
        """Record a JSON-style answer (``None`` = don't know); a bad one raises ``AnswerError``."""
        checked = check_answer(self.rules.kb, qid, value, self.flow)
        with self._edit() as state:
            state["answers"][qid] = checked
            if state.get("revisit") == qid:
                state["revisit"] = None  # answered again where it was: later answers stay
                if qid not in state["history"]:
                    state["history"].append(qid)
            else:
                if qid in state["history"]:
                    state["history"].remove(qid)
                state["history"].append(qid)
            state["prefilled"].pop(qid, None)
            state["completed"] = False

    @property
    def revisiting(self) -> str | None:
        """The answered question being looked at again after ``back`` or ``revisit``."""
        return self._state().get("revisit")

    def answer_text(self, qid: str, text: str) -> None:
        """Record an answer typed by a person (``yes``, ``3``, ``don't know``)."""
        self.answer(qid, parse_text(self.rules.kb, qid, text))

    def change(self, qid: str, value: Any) -> None:
        """Change an earlier answer; answers it made moot are ignored, not deleted."""
        if qid not in self._state()["answers"]:
            raise SessionError(f"{qid}: not answered yet, so there is nothing to change")
        self.answer(qid, value)

    def skip(self, qid: str) -> None:
        """Answer "don't know"."""
        self.answer(qid, None)

    def back(self) -> QuestionView:
        """Look again at the question before the one being asked; its answer and every later
        answer are kept (a later answer a change makes moot is ignored, not deleted)."""
        with self._edit() as state:
            kept = self.rules.effective_answers(self.flow, state["answers"])
            history = [q for q in state["history"] if q in kept]
            here = state.get("revisit")
            pos = history.index(here) if here in history else len(history)
            if pos == 0:
                raise SessionError("there is no earlier question to go back to")
            qid = history[pos - 1]
            state["revisit"] = qid
            state["completed"] = False
        return self.rules.question_view(qid)

    def revisit(self, qid: str) -> QuestionView:
        """Look again at an answered question (``change ID``), even in a finished session."""
        with self._edit() as state:
            if qid not in state["answers"] or qid not in self.rules.effective_answers(
                self.flow, state["answers"]
            ):
                raise SessionError(f"{qid}: not answered, so there is nothing to change")
            state["revisit"] = qid
            state["completed"] = False
        return self.rules.question_view(qid)

    def resume(self) -> None:
        """Stop looking again at an earlier question: carry on from where the answers end."""
        with self._edit() as state:
            state["revisit"] = None

    def undo(self) -> QuestionView:
        """Remove the last answer and return its question (the first bots' ``back``)."""
        with self._edit() as state:
            if not state["history"]:
                raise SessionError("there is no earlier question to go back to")
            qid = state["history"].pop()
            state["answers"].pop(qid, None)
            state["revisit"] = None
            state["completed"] = False
        return self.rules.question_view(qid)

    def answered_in_order(self) -> list[str]:
        """The answers that count, in asking order (what ``answers`` lists)."""
        kept = self.rules.effective_answers(self.flow, self._state()["answers"])
        return [q for q in self.rules.kb.flow(self.flow).questions if q in kept]

    def result(self) -> Result:
        return self.rules.assess(self.flow, self.answers, checked=True)

    def progress(self) -> dict[str, Any]:
        """How far the interview has come, without repeating any answer."""
        answers = self.answers
        return {
            "flow": self.flow,
            "answered": len(answers),
            "dont_know": sum(1 for v in answers.values() if v is None),
            "remaining": len(self.rules.wanted_questions(self.flow, answers)),
            "prefilled": sorted(self._state()["prefilled"]),
        }

    def leave(self) -> None:
        """Stop working on this flow for now: answers are kept, ``current_flow`` gives None."""
        edit = self._edit()
        with edit:
            edit.record["current"] = None

    def forget(self) -> None:
        """Erase everything kept for this session id, now: its file and any answers the
        engine's memo of recent evaluations still holds in memory."""
        if self.store is not None:
            self.store.delete(self.id)
        self._memory = None
        if self._bound is not None:
            self._bound.clear()
            self._bound["__forgotten__"] = True
        self.rules.forget_recent()


def _flow_state(record: dict[str, Any], flow: str) -> dict[str, Any]:
    state: dict[str, Any] = record["flows"][flow]
    return state


def _new_flow() -> dict[str, Any]:
    return {"answers": {}, "history": [], "prefilled": {}, "completed": False, "revisit": None}


class _Holder:
    def __init__(self, record: dict[str, Any], before: str | None):
        self.record, self.before = record, before
        self.save: Any = None

    @property
    def forgotten(self) -> bool:
        return bool(self.record.get("__forgotten__"))


@contextlib.contextmanager
def _locked_record(
    store: SessionStore | None, session_id: str, memory: Any = lambda: None
) -> Iterator[_Holder]:
    """Lock, load once, yield the record; save it once at the end if it changed (and was
    not erased)."""
    lock = store.locked(session_id) if store is not None else contextlib.nullcontext()
    with lock:
        stored = store.load(session_id) if store is not None else memory()
        before = json.dumps(stored, sort_keys=True) if stored else None
        record = json.loads(before) if before else {"created": time.time(), "flows": {}}
        holder = _Holder(record, before)
        yield holder
        if holder.forgotten or json.dumps(record, sort_keys=True) == before:
            return
        if holder.save is not None:
            holder.save(record)
        elif store is not None:
            store.save(session_id, record)


class SessionTurn:
    """One turn over a stored session: the record loaded once under its lock."""

    def __init__(self, rules: DVRules, store: SessionStore, session_id: str, holder: _Holder):
        self.rules, self.store, self.id, self._holder = rules, store, session_id, holder
        self._sessions: dict[str, Session] = {}

    @property
    def record(self) -> dict[str, Any]:
        return self._holder.record

    @property
    def current(self) -> str | None:
        """The flow this session was last working on."""
        return None if self.forgotten else self.record.get("current")

    @property
    def forgotten(self) -> bool:
        return self._holder.forgotten

    def session(self, flow: str) -> Session:
        """The session of ``flow`` working on this turn's record (no load, no save)."""
        if flow not in self._sessions:
            self._sessions[flow] = Session(
                self.rules, flow, self.id, self.store, _record=self.record
            )
        return self._sessions[flow]

    def leave(self) -> None:
        self.record["current"] = None

    def forget(self) -> None:
        """Erase the stored session and the engine's memo now; nothing is saved after."""
        self.store.delete(self.id)
        self.rules.forget_recent()
        self.record.clear()
        self.record["__forgotten__"] = True


@contextlib.contextmanager
def open_turn(rules: DVRules, store: SessionStore, session_id: str) -> Iterator[SessionTurn]:
    """One chat turn: lock and load the session once, save at most once at the end."""
    if not SESSION_ID.fullmatch(session_id):
        raise SessionError(
            "a session id is 1-64 letters, digits or . _ : -, starting with a "
            "letter or digit (no names)"
        )
    with _locked_record(store, session_id) as holder:
        yield SessionTurn(rules, store, session_id, holder)


def current_flow(store: SessionStore, session_id: str) -> str | None:
    """The flow a stored session was last working on, so a channel can resume it."""
    record = store.load(session_id)
    return record.get("current") if record else None


__all__ = ["AnswerError", "Session", "SessionError", "SessionTurn", "current_flow", "open_turn"]
