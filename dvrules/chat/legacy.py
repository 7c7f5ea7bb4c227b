"""The first bots' conversation (typed text or a button press in, a ``Turn`` out), kept only
until bots/telegram.py and bots/slack.py are ported to ``dvrules.chat.Conversation``; delete
this module and ``legacy_render`` then.

The bots translate a platform event into ``Conversation.text`` or ``Conversation.button``
with a session id derived from the platform's ids (``session_id``: an HMAC, never the raw
id), and render the returned ``Turn``. Everything else lives here once: reading commands
(back, skip, why N, summary, result, cancel, forget, help), building and validating button
payloads (a forged or stale one is refused politely and changes nothing), and calling the
dvrules session API.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass

from dvrules.answers import AnswerError
from dvrules.api import DVRules, QuestionView
from dvrules.interview import Session, SessionError, current_flow
from dvrules.store import SessionStore

from dvrules.chat import legacy_render as render
from dvrules.chat.ids import FAILED, PRIVATE_ONLY, REFUSED, log_id, session_id  # noqa: F401
from dvrules.chat.messages import Button, OutMessage, Turn, b, par

log = logging.getLogger("dvrules.bots")

MAX_PAYLOAD_BYTES = 64  # Telegram's callback_data limit; Slack allows more

# ---------------------------------------------------------------------- commands

COMMANDS = ("start", "menu", "help", "back", "skip", "why", "summary", "result", "cancel",
            "forget")
_COMMAND = re.compile(r"^/?(?P<name>[a-z]+)(?:@[A-Za-z0-9_]{1,64})?(?:\s+(?P<arg>.*))?$",
                      re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Command:
    name: str
    arg: str = ""


def parse_command(text: str) -> Command | None:
    """A command if the text is one (``/why 3``, ``why 3``, ``/start@mybot``, ``Back``)."""
    m = _COMMAND.match(text.strip())
    if not m or m.group("name").lower() not in COMMANDS:
        return None
    return Command(m.group("name").lower(), (m.group("arg") or "").strip())


# ---------------------------------------------------------------------- button payloads

_FLOW = r"[a-z][a-z0-9_-]{0,30}"
_PAYLOADS = {
    "answer": re.compile(rf"^a\|(?P<flow>{_FLOW})\|(?P<tag>[0-9a-f]{{8}})\|"
                         r"(?P<value>y|n|k|c\d{1,3}|m[0-9a-f]{1,16})$"),
    "toggle": re.compile(rf"^t\|(?P<flow>{_FLOW})\|(?P<tag>[0-9a-f]{{8}})\|(?P<mask>[0-9a-f]{{1,16}})$"),
    "flow": re.compile(rf"^f\|(?P<flow>{_FLOW})$"),
    "nav": re.compile(r"^n\|(?P<command>back|skip|help|result|summary|start|forget)$"),
    "forget": re.compile(r"^fg\|(?P<answer>y|n)$"),
}


def parse_payload(payload: object) -> tuple[str, dict[str, str]] | None:
    """The kind and fields of a button payload, or None if it is not one we could have sent."""
    if not isinstance(payload, str) or len(payload.encode()) > MAX_PAYLOAD_BYTES:
        return None
    for kind, pattern in _PAYLOADS.items():
        m = pattern.match(payload)
        if m:
            return kind, m.groupdict()
    return None


def _payload(*fields: str) -> str:
    text = "|".join(fields)
    if len(text.encode()) > MAX_PAYLOAD_BYTES or parse_payload(text) is None:
        raise ValueError(f"cannot make a button payload from {fields!r}")
    return text


def question_tag(q: QuestionView) -> str:
    """Names a question and its options, so a button from another question or an older
    version of the knowledge is recognised as stale."""
    key = q.id + "|" + ",".join(c.id for c in q.choices)
    return hashlib.sha256(key.encode()).hexdigest()[:8]


# ---------------------------------------------------------------------- the conversation


class Conversation:
    """The guided interview as a chat: one instance serves every chat of a bot."""

    PURGE_EVERY_SECONDS = 3600

    def __init__(self, rules: DVRules, store: SessionStore, flows: list[str] | None = None):
        self.rules, self.kb, self.store = rules, rules.kb, store
        self.flows = flows or list(rules.kb.flows)
        self._last_purge = 0.0

    # -------------------------------------------------------------- entry points

    def text(self, sid: str, text: str) -> Turn:
        """Someone typed ``text``: a command or an answer to the current question."""
        self._purge()
        cmd = parse_command(text)
        if cmd is not None:
            return self._command(sid, cmd)
        flow = self._current(sid)
        if flow is None:
            return Turn([self._start(sid, None)])
        session = Session(self.rules, flow, sid, self.store)
        q = session.next_question()
        if q is None:
            return Turn([OutMessage([par(
                "This assessment is finished. Type result to see it again, back to change "
                "your last answer, or start to choose another.")])])
        try:
            session.answer_text(q.id, text)
        except AnswerError:
            return Turn([self._question(session, q, note=self._cannot_read(q))])
        return self._after_answer(session)

    def button(self, sid: str, payload: object) -> Turn:
        """Someone pressed a button carrying ``payload`` (validated here; never trusted)."""
        self._purge()
        parsed = parse_payload(payload)
        if parsed is None:
            log.info("refused a malformed button payload (session %s)", log_id(sid))
            return Turn([OutMessage([par("Sorry, I didn't recognise that button, so nothing "
                                         "was changed. Type start to carry on.")])])
        kind, f = parsed
        if kind == "nav":
            # Moving on (back, skip, start) retires the old buttons; looking (help, result,
            # summary, forget's question) leaves the question answerable.
            moves = f["command"] in ("back", "skip", "start")
            return Turn(self._command(sid, Command(f["command"])).messages, close_origin=moves)
        if kind == "forget":
            if f["answer"] == "y":
                return Turn(self._forget(sid).messages, close_origin=True)
            return Turn([OutMessage([par("Kept. Nothing was erased.")])], close_origin=True)
        if kind == "flow":
            if f["flow"] not in self.flows:
                return self._stale(sid)
            session = Session(self.rules, f["flow"], sid, self.store)
            return Turn(self._continue(session).messages, close_origin=True)
        # answer or toggle: only for the question being asked now, in the flow being worked on
        flow = self._current(sid)
        if flow is None or flow != f["flow"]:
            return self._stale(sid)
        session = Session(self.rules, flow, sid, self.store)
        q = session.next_question()
        if q is None or question_tag(q) != f["tag"]:
            return self._stale(sid, session)
        if kind == "toggle":
            mask = int(f["mask"], 16)
            if q.type != "multi_choice" or mask >> len(q.choices):
                return self._stale(sid, session)
            return Turn(replace_origin=self._question(session, q, selected=mask))
        value = self._button_value(q, f["value"])
        if value is _INVALID:
            return self._stale(sid, session)
        try:
            session.answer(q.id, value)
        except AnswerError:
            return self._stale(sid, session)
        turn = self._after_answer(session)
        turn.close_origin = True
        return turn

    # -------------------------------------------------------------- commands

    def _command(self, sid: str, cmd: Command) -> Turn:
        name = cmd.name
        if name in ("start", "menu"):
            return Turn([self._start(sid, self._current(sid))])
        if name == "help":
            return Turn([render.help_message(self.kb, self.flows)])
        if name == "forget":
            if cmd.arg.lower() in ("now", "yes"):
                return self._forget(sid)
            return Turn([OutMessage(
                [par(b("Erase everything this chat has stored?")),
                 par("Your answers to every assessment will be erased now and cannot be "
                     "brought back. (Messages already in this chat stay in the app: delete "
                     "them there if you need to.)")],
                [[Button("Yes, erase now", _payload("fg", "y")),
                  Button("No, keep", _payload("fg", "n"))]])])
        flow = self._current(sid)
        if flow is None:
            return Turn([self._start(sid, None, note="You are not in an assessment at the moment.")])
        session = Session(self.rules, flow, sid, self.store)
        if name == "cancel":
            session.leave()
            return Turn([OutMessage([par(
                "Stopped. Your answers are kept for now (they expire if unused) so you can "
                "carry on later with start; type forget to erase them now. " + render.EMERGENCY)])])
        if name == "back":
            try:
                q = session.undo()
            except SessionError:
                return Turn([self._question_or_result(session, note="There is no earlier "
                                                      "question to go back to.")])
            # Ask it again with its progress, as if it came next.
            nxt = session.next_question()
            return Turn([self._question(session, nxt if nxt is not None and nxt.id == q.id else q,
                                        note="Going back. Your earlier answer was removed.")])
        if name == "skip":
            q = session.next_question()
            if q is None:
                return Turn([self._finished_note()])
            session.skip(q.id)
            return self._after_answer(session)
        if name == "summary":
            return Turn([render.progress_message(self.kb, session.progress())])
        if name == "result":
            complete = session.next_question() is None
            return Turn([render.result_message(self.kb, session.result(), complete=complete)])
        # why
        items = render.result_items(session.result())
        arg = cmd.arg.strip().lstrip("#")
        item = None
        if arg.isdigit() and 1 <= int(arg) <= len(items):
            item = items[int(arg) - 1]
        else:
            item = next((it for it in items if it.id == arg), None)
        if item is None:
            span = f"1 to {len(items)}" if items else "none yet"
            return Turn([OutMessage([par(
                f"Type why and the number of an item in the result (items are numbered "
                f"{span}); type result to see them.")])])
        return Turn([render.why_message(self.kb, item)])

    # -------------------------------------------------------------- pieces

    def _current(self, sid: str) -> str | None:
        flow = current_flow(self.store, sid)
        return flow if flow in self.flows else None

    def _start(self, sid: str, current: str | None, note: str | None = None) -> OutMessage:
        msg = render.start_message(self.kb, self.flows, current, lambda f: _payload("f", f))
        if note:
            msg.paragraphs.insert(0, par(note))
        return msg

    def _forget(self, sid: str) -> Turn:
        self.store.delete(sid)
        self.rules.forget_recent()  # as Session.forget: no answers left in the memo
        log.info("session erased on request (session %s)", log_id(sid))
        return Turn([OutMessage([par("Erased. Nothing from this chat is stored any more. "
                                     "Type start to begin again. " + render.EMERGENCY)])])

    def _stale(self, sid: str, session: Session | None = None) -> Turn:
        note = ("That button is from an earlier message, so nothing was changed.")
        if session is None:
            flow = self._current(sid)
            if flow is None:
                return Turn([self._start(sid, None, note=note)], close_origin=True)
            session = Session(self.rules, flow, sid, self.store)
        return Turn([self._question_or_result(session, note=note + " Here is where you are:")],
                    close_origin=True)

    def _continue(self, session: Session) -> Turn:
        intro = self.kb.flow(session.flow).intro
        return Turn([self._question_or_result(session, note=intro)])

    def _after_answer(self, session: Session) -> Turn:
        q = session.next_question()
        if q is not None:
            return Turn([self._question(session, q)])
        return Turn([OutMessage([par(b("That's all the questions I need."))]),
                     render.result_message(self.kb, session.result(), complete=True)])

    def _question_or_result(self, session: Session, note: str | None = None) -> OutMessage:
        q = session.next_question()
        if q is None:
            msg = self._finished_note()
            if note:
                msg.paragraphs.insert(0, par(note))
            return msg
        return self._question(session, q, note=note)

    def _finished_note(self) -> OutMessage:
        return OutMessage([par("This assessment is finished: there is nothing left to ask. "
                               "Type result to see it, back to change your last answer, or "
                               "start to choose another.")],
                          [[Button("Result", _payload("n", "result")),
                            Button("Back", _payload("n", "back"))]])

    def _question(self, session: Session, q: QuestionView, *, selected: int = 0,
                  note: str | None = None) -> OutMessage:
        flow, tag = session.flow, question_tag(q)
        rows: list[list[Button]] = []
        if q.type == "yes_no":
            rows.append([Button("Yes", _payload("a", flow, tag, "y")),
                         Button("No", _payload("a", flow, tag, "n"))])
        elif q.type == "choice":
            rows += [[Button(render.short_label(f"{n}. {c.label}"), _payload("a", flow, tag, f"c{n - 1}"))]
                     for n, c in enumerate(q.choices, 1)]
        elif q.type == "multi_choice":
            for n, c in enumerate(q.choices, 1):
                on = selected >> (n - 1) & 1
                mark = "[x]" if on else "[ ]"
                rows.append([Button(render.short_label(f"{mark} {n}. {c.label}"),
                                    _payload("t", flow, tag, f"{selected ^ (1 << (n - 1)):x}"))])
            chosen = bin(selected).count("1")
            rows.append([Button(f"Done ({chosen} chosen)", _payload("a", flow, tag, f"m{selected:x}")),
                         Button("None of these", _payload("a", flow, tag, "m0"))])
        rows.append([Button("Don't know", _payload("a", flow, tag, "k")),
                     Button("Back", _payload("n", "back")),
                     Button("Help", _payload("n", "help"))])
        return render.question_message(self.kb, q, buttons=rows, selected=selected, note=note)

    @staticmethod
    def _button_value(q: QuestionView, value: str) -> object:
        if value == "k":
            return None
        if q.type == "yes_no" and value in ("y", "n"):
            return value == "y"
        if q.type == "choice" and value.startswith("c"):
            n = int(value[1:])
            return q.choices[n].id if n < len(q.choices) else _INVALID
        if q.type == "multi_choice" and value.startswith("m"):
            mask = int(value[1:], 16)
            if mask >> len(q.choices):
                return _INVALID
            return [c.id for n, c in enumerate(q.choices) if mask >> n & 1]
        return _INVALID

    @staticmethod
    def _cannot_read(q: QuestionView) -> str:
        if q.type == "choice":
            return "I couldn't read that as one of the options: tap one, or type its number."
        if q.type == "multi_choice":
            return ("I couldn't read that as options: tap them, or type their numbers "
                    "separated by commas (or none).")
        return f"I couldn't read that as an answer: please enter {q.allowed}, or don't know."

    def _purge(self) -> None:
        """Erase expired sessions now and then (the store also erases them on sight)."""
        now = time.monotonic()
        if now - self._last_purge >= self.PURGE_EVERY_SECONDS:
            self._last_purge = now
            removed = self.store.purge_expired()
            if removed:
                log.info("erased %d expired session(s)", removed)


_INVALID = object()
