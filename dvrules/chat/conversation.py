"""The conversation state machine every channel drives: an event in, a Reply of actions out.

One turn is ``with conversation.turn(sid, event) as reply:``: the session is locked and loaded
once, the machine runs and the composer builds the messages; the adapter then executes
``reply.actions`` on its platform and reports the ids of the messages it sent
(``reply.sent``); when the block ends the session is saved once, with those ids. The terminal
uses ``handle`` (the same turn, no ids). See docs/chat-core.md.

What lives in the session record (``record["chat"]``), never in button values: the live
question card (its message id, serial, question, folded or not), the live result message,
multi-select choices being made, ids of the messages sent (for ``forget``), which urgent
referrals were already announced, and a small dict the adapter may use (``reply.channel``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from dvrules.answers import AnswerError
from dvrules.api import DVRules, QuestionView
from dvrules.chat.commands import Command, is_unknown_command, parse_command
from dvrules.chat.compose import Composer, ResultView
from dvrules.chat.ids import log_id
from dvrules.chat.messages import EMERGENCY, Button, Message, par, short_label
from dvrules.errors import StoreError
from dvrules.interview import Session, SessionError, SessionTurn, open_turn
from dvrules.store import DamagedSessionError, SessionStore

log = logging.getLogger("dvrules.chat")

MAX_PAYLOAD_BYTES = 64  # Telegram's callback_data limit; Slack allows more
KEEP_SENT = 400  # message ids remembered per chat for forget
DANGER_QUESTION = "immediate_danger"
STALE = "That button is from an earlier message, so nothing was changed."


# ---------------------------------------------------------------------- events and actions


@dataclass(frozen=True)
class Text:
    """Something typed: an answer or a command. ``message_id``: the platform's id for it."""

    text: str
    message_id: str | None = None


@dataclass(frozen=True)
class Press:
    """A button press: its payload as received, and the id of the message it sits on."""

    payload: object
    message_id: str | None = None


Event = Union[Text, Press]


@dataclass
class Send:
    message: Message


@dataclass
class Edit:
    message_id: str
    message: Message


@dataclass
class Strip:
    """Remove the buttons of an earlier message (it stays as it is otherwise)."""

    message_id: str


@dataclass
class Delete:
    message_id: str
    sent_at: float


@dataclass
class SendDocument:
    """A file to hand over (the report of a finished self-assessment): its name, media type
    and bytes. ``protect``: Telegram sends it with ``protect_content``, as results are."""

    name: str
    mime: str
    data: bytes = field(repr=False)
    protect: bool = True


Action = Union[Send, Edit, Strip, Delete, SendDocument]


@dataclass
class Reply:
    """What to do on the platform, in order, for one event."""

    actions: list[Action] = field(default_factory=list)
    notice: str | None = None  # a short toast or callback answer (e.g. a stale button)
    forgotten: bool = False
    channel: dict[str, Any] = field(default_factory=dict)  # the adapter's own saved values
    _chat: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def messages(self) -> list[Message]:
        """Every message sent or edited, in order (what a person sees)."""
        return [a.message for a in self.actions if isinstance(a, (Send, Edit))]

    def sent(self, action: Action, message_id: object) -> None:
        """Record the platform id of a message sent for ``action`` (a Send, or an Edit the
        platform refused and that was sent anew)."""
        chat = self._chat
        if chat is None or message_id is None or not isinstance(action, (Send, Edit, SendDocument)):
            return
        mid = str(message_id)
        _remember_sent(chat, mid)  # a document too: forget deletes it where the app allows
        if isinstance(action, SendDocument):
            return
        kind = action.message.kind
        if kind == "card" and chat.get("card"):
            chat["card"]["id"] = mid
        elif kind == "result" and chat.get("result"):
            chat["result"]["id"] = mid


def _remember_sent(chat: dict[str, Any], mid: str) -> None:
    sent = chat.setdefault("sent", [])
    if not any(m == mid for m, _ in sent):
        sent.append([mid, time.time()])
    del sent[:-KEEP_SENT]


# ---------------------------------------------------------------------- button payloads

_FLOW = r"[a-z][a-z0-9_-]{0,30}"
_PAYLOADS = {
    "answer": re.compile(r"^a\|(?P<serial>\d{1,9})\|(?P<value>y|n|k|x|d|c\d{1,3})$"),
    "choices": re.compile(r"^m\|(?P<serial>\d{1,9})\|(?P<mask>[0-9a-f]{1,25})$"),
    "home": re.compile(r"^h\|(?P<command>result|forget|start)$"),
    "toggle": re.compile(r"^t\|(?P<serial>\d{1,9})\|(?P<index>\d{1,3})$"),
    "nav": re.compile(r"^n\|(?P<serial>\d{1,9})\|(?P<command>back|help|more|less|keep|result)$"),
    "flow": re.compile(rf"^f\|(?P<flow>{_FLOW})$"),
    "page": re.compile(r"^p\|(?P<serial>\d{1,9})\|(?P<page>\d{1,2})$"),
    "report": re.compile(r"^r\|(?P<serial>\d{1,9})$"),
    "why": re.compile(r"^w\|(?P<serial>\d{1,9})\|(?P<number>\d{1,3})$"),
    "forget": re.compile(r"^g\|(?P<serial>\d{1,9})\|(?P<answer>y|n)$"),
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


def _payload(*fields: object) -> str:
    text = "|".join(str(f) for f in fields)
    if len(text.encode()) > MAX_PAYLOAD_BYTES or parse_payload(text) is None:
        raise ValueError(f"cannot make a button payload from {fields!r}")
    return text


WHY_NUMBER = re.compile(r"#?([0-9]{1,4})")


def choices_payload(serial: int, indexes: list[int]) -> str:
    """The payload answering a multi-choice card (``meta["serial"]``) with the options at
    ``indexes`` at once: for a channel that collects them in a form (a Slack modal)."""
    mask = 0
    for n in indexes:
        mask |= 1 << n
    return _payload("m", serial, f"{mask:x}")


def choice_labels(q: QuestionView) -> list[str]:
    """A choice question's options, numbered from 0 as a card's ``meta["options"]`` and a
    channel's form list them (rebuilt from the knowledge, so a form needs only the numbers)."""
    return [c.label for c in q.choices]


# ---------------------------------------------------------------------- the conversation


class Conversation:
    """The guided interview as a chat: one instance serves every chat of a channel.

    ``delete_within``: the age in seconds under which sent messages can still be deleted on
    ``forget`` (Telegram: 48 hours); ``None`` lists every one recorded. ``paged=False`` sends
    a result whole, with no page buttons (the terminal). ``area`` and ``period`` are named on
    the report of a self-assessment (the partnership and e.g. 2026-27).
    """

    PURGE_EVERY_SECONDS = 3600

    def __init__(
        self,
        rules: DVRules,
        store: SessionStore,
        flows: list[str] | None = None,
        delete_within: float | None = 48 * 3600 - 60,
        paged: bool = True,
        area: str | None = None,
        period: str | None = None,
    ):
        self.rules, self.kb, self.store = rules, rules.kb, store
        self.area, self.period = area, period  # named on self-assessment reports (terminal)
        self.flows = flows or list(rules.kb.flows)
        self.compose = Composer(rules.kb, buttons=paged)  # unpaged = the terminal, no buttons
        self.delete_within = delete_within
        self.paged = paged
        self._last_purge = 0.0

    # -------------------------------------------------------------- turns

    @contextlib.contextmanager
    def turn(self, sid: str, event: Event) -> Iterator[Reply]:
        """One locked load, the machine, the adapter's sending, one save (see module doc).

        A store that cannot be read (a damaged session file, a disk fault) gets a reply
        saying so instead, with a way for the owner to erase a damaged session."""
        opened = self._turn(sid, event)
        try:
            reply = opened.__enter__()
        except StoreError as exc:
            yield self._store_trouble(sid, event, exc)
            return
        with contextlib.ExitStack() as stack:
            stack.push(opened)
            yield reply

    def _store_trouble(self, sid: str, event: Event, exc: StoreError) -> Reply:
        """The reply when the session cannot be loaded; the path and reason go to the log
        only (no answers are in a store error)."""
        reply = Reply()
        if not isinstance(exc, DamagedSessionError):
            log.warning("store unavailable (session %s): %s", log_id(sid), exc)
            reply.actions.append(
                Send(
                    Message(
                        [
                            par(
                                "Your answers cannot be read or saved just now (a problem with the server's "
                                "storage). Nothing was changed; please try again later. "
                                + EMERGENCY
                            )
                        ]
                    )
                )
            )
            return reply
        log.warning("damaged session file (session %s)", log_id(sid))
        text = (
            event.text.strip().lower()
            if isinstance(event, Text) and isinstance(event.text, str)
            else ""
        )
        payload = event.payload if isinstance(event, Press) else None
        parsed = parse_payload(payload) if payload is not None else None
        confirmed = text in ("forget now", "forget yes", "/forget now") or (
            parsed is not None and parsed[0] == "forget" and parsed[1]["answer"] == "y"
        )
        if confirmed:
            self.store.delete(sid)
            self.rules.forget_recent()
            reply.forgotten = True
            reply.actions.append(
                Send(
                    Message(
                        [
                            par(
                                "Erased. Nothing from this chat is stored any more. Type start to begin "
                                "again. " + EMERGENCY
                            )
                        ],
                        kind="forget",
                    )
                )
            )
            return reply
        if parsed is not None and parsed[0] == "forget":
            reply.notice = "Kept. Nothing was erased."
            return reply
        reply.actions.append(
            Send(
                Message(
                    [
                        par(
                            "Your saved answers are damaged and cannot be read, so I cannot carry on "
                            "with them."
                        ),
                        par(
                            (
                                "Erase them to start again: tap the button or type forget now. "
                                if self.paged
                                else "Erase them to start again: type forget now. "
                            )
                            + EMERGENCY
                        ),
                    ],
                    [
                        [
                            Button("Yes, erase now", _payload("g", 0, "y")),
                            Button("No, keep", _payload("g", 0, "n")),
                        ]
                    ],
                    kind="forget",
                )
            )
        )
        return reply

    @contextlib.contextmanager
    def _turn(self, sid: str, event: Event) -> Iterator[Reply]:
        self._purge()
        failure: BaseException | None = None
        with open_turn(self.rules, self.store, sid) as t:
            chat = t.record.setdefault("chat", {})
            reply = Reply()
            _Turn(self, t, chat, reply).run(event)
            if not reply.forgotten:
                reply._chat = chat
                reply.channel = chat.setdefault("channel", {})
                if isinstance(event, Text) and event.message_id is not None:
                    _remember_sent(chat, str(event.message_id))
            try:
                yield reply
            except Exception as exc:  # noqa: BLE001 - the answers are saved all the same
                failure = exc
        log.info("turn handled (session %s)", log_id(sid))
        if failure is not None:
            raise failure

    def home(self, sid: str) -> Message:
        """A page to start, resume, see the last result and forget (Slack's App Home): what
        is in progress, in counts only. One load, no save. A store that cannot be read gets
        the message a turn would give (for a damaged session: how to erase it)."""
        try:
            with open_turn(self.rules, self.store, sid) as t:
                flow = t.current if t.current in self.flows else None
                progress = t.session(flow).progress() if flow else None
                t.record.clear()  # reading only: nothing is saved
                t.record["__forgotten__"] = True
        except StoreError as exc:
            return self._store_trouble(sid, Text("home"), exc).messages[0]
        return self.compose.home(self.flows, flow, progress, lambda f: _payload("f", f))

    def handle(self, sid: str, event: Event) -> Reply:
        """A whole turn for a channel with no message ids (the terminal, tests)."""
        with self.turn(sid, event) as reply:
            return reply

    def text(self, sid: str, text: str) -> Reply:
        return self.handle(sid, Text(text))

    def press(self, sid: str, payload: object) -> Reply:
        return self.handle(sid, Press(payload))

    def _purge(self) -> None:
        """Erase expired sessions now and then (the store also erases them on sight)."""
        now = time.monotonic()
        if now - self._last_purge >= self.PURGE_EVERY_SECONDS:
            self._last_purge = now
            removed = self.store.purge_expired()
            if removed:
                log.info("erased %d expired session(s)", removed)


class _Turn:
    """The machine for one event over one loaded record."""

    def __init__(self, conv: Conversation, t: SessionTurn, chat: dict[str, Any], reply: Reply):
        self.conv, self.t, self.chat, self.reply = conv, t, chat, reply
        self.compose = conv.compose

    # -------------------------------------------------------------- helpers

    def send(self, message: Message) -> None:
        self.reply.actions.append(Send(message))

    def info(self, *texts: str) -> None:
        self.send(self.compose.info(*texts))

    def serial(self) -> int:
        number = int(self.chat.get("next", 0)) + 1
        self.chat["next"] = number
        return number

    def flow(self) -> str | None:
        flow = self.t.current
        return flow if flow in self.conv.flows else None

    def session(self, flow: str) -> Session:
        return self.t.session(flow)

    # -------------------------------------------------------------- dispatch

    def run(self, event: Event) -> None:
        if isinstance(event, Press):
            self.press(event)
            return
        text = event.text if isinstance(event.text, str) else ""
        cmd = parse_command(text)
        if cmd is not None:
            self.command(cmd)
            return
        if is_unknown_command(text):
            self.send(self.compose.help())
            return
        flow = self.flow()
        if flow is None:
            self.start(note="You are not in an assessment at the moment.")
            return
        s = self.session(flow)
        q = s.next_question()
        if q is None:
            self.info(
                "This assessment is finished. Type result to see it, answers to list "
                "the answers, change and a number to change one, or start to choose "
                "another."
            )
            return
        try:
            s.answer_text(q.id, text)
        except AnswerError as exc:
            # the typed text is never quoted back
            self.show_card(s, q, note=_cannot_read(q, exc, self.compose.buttons))
            return
        self.after_answer(s, q.id)

    # -------------------------------------------------------------- commands

    def command(self, cmd: Command) -> None:
        name = cmd.name
        if name == "start":
            self.start()
            return
        if name == "help":
            self.send(self.compose.help())
            return
        if name == "forget":
            if cmd.arg.lower() in ("now", "yes"):
                self.forget()
            else:
                self.ask_forget()
            return
        flow = self.flow()
        if flow is None:
            self.start(note="You are not in an assessment at the moment.")
            return
        s = self.session(flow)
        if name == "cancel":
            self.strip_card()
            self.t.leave()
            self.info(
                "Stopped. Your answers are kept for now (they expire if unused) so you "
                "can carry on later with start; type forget to erase them now. " + EMERGENCY
            )
        elif name == "back":
            self.back(s)
        elif name == "skip":
            q = s.next_question()
            if q is None:
                self.finished_note()
                return
            s.skip(q.id)
            self.after_answer(s, q.id)
        elif name == "keep":
            s.resume()
            self.next_card(s)
        elif name == "summary":
            self.send(self.compose.progress(s.progress()))
        elif name == "answers":
            order = s.answered_in_order()
            self.send(self.compose.answers(flow, order, s.answers))
        elif name == "change":
            self.change(s, cmd.arg)
        elif name == "result":
            self.send_result(s)
        elif name == "report":
            self.report(s)
        elif name == "more":
            q = s.next_question()
            if q is None:
                self.finished_note()
                return
            card = self.chat.get("card") or {}
            self.show_card(s, q, more=not card.get("more", False))
        else:  # why
            self.why(s, cmd.arg)

    def start(self, note: str | None = None) -> None:
        self.send(
            self.compose.start(self.conv.flows, self.flow(), lambda f: _payload("f", f), note=note)
        )

    def back(self, s: Session) -> None:
        try:
            s.back()
        except SessionError:
            q = s.next_question()
            if q is None:
                self.finished_note("There is no earlier question to go back to.")
            else:
                self.show_card(s, q, note="There is no earlier question to go back to.")
            return
        q = s.next_question()
        assert q is not None
        self.show_card(s, q, note="Going back.")

    def change(self, s: Session, arg: str) -> None:
        order = s.answered_in_order()
        arg = arg.strip()
        qid = None
        m = WHY_NUMBER.fullmatch(arg)
        if m and 1 <= int(m.group(1)) <= len(order):
            qid = order[int(m.group(1)) - 1]
        elif arg in order:
            qid = arg
        if qid is None:
            span = f"1 to {len(order)}" if order else "none yet"
            self.info(
                f"Type change and the number of an answer (answers are numbered {span}); "
                "type answers to list them."
            )
            return
        s.revisit(qid)
        q = s.next_question()
        assert q is not None
        self.show_card(s, q, note="Change this answer, or keep it.", send_new=True)

    def why(self, s: Session, arg: str) -> None:
        arg = arg.strip()
        if not arg:
            q = s.next_question()
            if q is not None:
                self.send(self.compose.why_question(q))
                return
        view = self.view(s)
        m = WHY_NUMBER.fullmatch(arg)
        item = None
        if m and 1 <= int(m.group(1)) <= len(view.items):
            item = view.items[int(m.group(1)) - 1]
        if item is None:
            span = f"1 to {len(view.items)}" if view.items else "none yet"
            self.info(
                f"Type why and the number of an item in the result, in figures (items "
                f"are numbered {span}); type result to see them."
            )
            return
        self.send(self.compose.why(item))

    # -------------------------------------------------------------- button presses

    def press(self, event: Press) -> None:
        parsed = parse_payload(event.payload)
        if parsed is None:
            log.info("refused a malformed button payload")
            self.reply.notice = (
                "Sorry, I didn't recognise that button, so nothing was "
                "changed. Type start to carry on."
            )
            return
        kind, f = parsed
        origin = str(event.message_id) if event.message_id is not None else None
        if kind == "flow":
            if f["flow"] not in self.conv.flows:
                self.stale(origin)
                return
            s = self.session(f["flow"])
            q = s.next_question()
            if q is None:
                self.finished_note(self.compose.kb.flow(s.flow).intro)
                return
            self.show_card(s, q, note=self.compose.kb.flow(s.flow).intro, send_new=True)
            return
        if kind == "home":
            self.command(Command(f["command"]))
            return
        if kind == "forget":
            if int(f["serial"]) != self.chat.get("forget"):
                self.stale(origin)
                return
            self.chat.pop("forget", None)
            if f["answer"] == "y":
                self.forget()
            else:
                if origin:
                    self.reply.actions.append(Strip(origin))
                self.reply.notice = "Kept. Nothing was erased."
            return
        flow = self.flow()
        if flow is None:
            self.stale(origin)
            return
        s = self.session(flow)
        if kind in ("page", "why", "report"):
            result = self.chat.get("result") or {}
            if int(f["serial"]) != result.get("serial") or result.get("flow") != flow:
                self.stale(origin)
                return
            if kind == "report":
                self.report(s)
                return
            view = self.view(s)
            target = origin or result.get("id")
            if kind == "page":
                n = int(f["page"])
                if n >= len(view.names):
                    self.stale(origin)
                    return
                msg = self.result_message(view, result["serial"], n)
            else:
                n = int(f["number"])
                if not 1 <= n <= len(view.items):
                    self.stale(origin)
                    return
                msg = self.compose.why(view.items[n - 1])
                msg.buttons = self.page_buttons(view, result["serial"], None)
                msg.kind = "result"
            self.reply.actions.append(Edit(target, msg) if target else Send(msg))
            return
        card = self.chat.get("card") or {}
        if int(f["serial"]) != card.get("serial") or card.get("flow") != flow:
            self.stale(origin)
            return
        q = s.next_question()
        if q is None or q.id != card.get("qid"):
            self.stale(origin)
            return
        if kind == "toggle":
            n = int(f["index"])
            if q.type != "multi_choice" or n >= len(q.choices):
                self.stale(origin)
                return
            chosen = self.chat.setdefault("selected", {}).setdefault(q.id, [])
            cid = q.choices[n].id
            chosen.remove(cid) if cid in chosen else chosen.append(cid)
            self.show_card(s, q)
            return
        if kind == "nav":
            command = f["command"]
            if command == "help":
                self.send(self.compose.help())
            elif command in ("more", "less"):
                self.show_card(s, q, more=command == "more")
            elif command == "back":
                self.back(s)
            elif command == "keep":
                s.resume()
                self.next_card(s)
            else:
                self.send_result(s)
            return
        if kind == "choices":
            mask = int(f["mask"], 16)
            value: object = (
                [c.id for n, c in enumerate(q.choices) if mask >> n & 1]
                if q.type == "multi_choice" and not mask >> len(q.choices)
                else _INVALID
            )
        else:
            value = self.button_value(q, f["value"])
        if value is _INVALID:
            self.stale(origin)
            return
        try:
            s.answer(q.id, value)
        except AnswerError:
            self.stale(origin)
            return
        self.after_answer(s, q.id)

    def button_value(self, q: QuestionView, value: str) -> object:
        if value == "k":
            return None
        if q.type == "yes_no" and value in ("y", "n"):
            return value == "y"
        if q.type == "choice" and value.startswith("c"):
            n = int(value[1:])
            return q.choices[n].id if n < len(q.choices) else _INVALID
        if q.type == "multi_choice" and value in ("d", "x"):
            if value == "x":
                return []
            chosen = (self.chat.get("selected") or {}).get(q.id, [])
            return [c.id for c in q.choices if c.id in chosen]
        return _INVALID

    def stale(self, origin: str | None) -> None:
        self.reply.notice = STALE
        card, result = self.chat.get("card") or {}, self.chat.get("result") or {}
        if origin and origin not in (card.get("id"), result.get("id")):
            self.reply.actions.append(Strip(origin))

    # -------------------------------------------------------------- answering

    def after_answer(self, s: Session, qid: str) -> None:
        (self.chat.get("selected") or {}).pop(qid, None)
        danger = (
            qid == DANGER_QUESTION
            and s.answers.get(qid) is True
            and not self.alerted(s.flow, DANGER_QUESTION)
        )
        if danger:
            self.mark_alerted(s.flow, DANGER_QUESTION)
            # safety first: a standalone message before any further question
            self.strip_card()
            self.send(self.compose.danger())
        self.next_card(s, send_new=danger)

    def next_card(self, s: Session, send_new: bool = False) -> None:
        q = s.next_question()
        if q is not None:
            self.show_card(s, q, send_new=send_new)
            return
        card = self.chat.get("card") or {}
        done = self.compose.finished_card(report=self.reportable(s.flow))
        if card.get("id") and not send_new:
            self.reply.actions.append(Edit(card["id"], done))
        else:
            self.send(done)
        self.chat["card"] = {
            "id": card.get("id") if not send_new else None,
            "serial": self.serial(),
            "flow": s.flow,
            "qid": None,
        }
        self.send_result(s, complete=True)

    def alerted(self, flow: str, key: str) -> bool:
        return key in (self.chat.get("alerted") or {}).get(flow, [])

    def mark_alerted(self, flow: str, key: str) -> None:
        self.chat.setdefault("alerted", {}).setdefault(flow, []).append(key)

    def strip_card(self) -> None:
        card = self.chat.get("card") or {}
        if card.get("id"):
            self.reply.actions.append(Strip(card["id"]))
            card["id"] = None

    def finished_note(self, note: str | None = None) -> None:
        flow = self.flow()
        serial = (self.chat.get("card") or {}).get("serial", 0)
        texts = ([note] if note else []) + [
            "This assessment is finished: there is nothing left to ask. Type result to see it, "
            "answers to list the answers, change and a number to change one, or start to "
            "choose another."
        ]
        self.send(
            self.compose.info(
                *texts,
                buttons=[
                    [
                        Button("Result", _payload("n", serial, "result")),
                        Button("Back", _payload("n", serial, "back")),
                    ]
                ]
                if flow
                else [],
            )
        )

    # -------------------------------------------------------------- the card

    def show_card(
        self,
        s: Session,
        q: QuestionView,
        *,
        note: str | None = None,
        more: bool | None = None,
        send_new: bool = False,
    ) -> None:
        card = self.chat.get("card") or {}
        same = card.get("qid") == q.id and card.get("flow") == s.flow
        serial = card["serial"] if same and "serial" in card else self.serial()
        more = card.get("more", False) if more is None and same else bool(more)
        if not same:
            (self.chat.get("selected") or {}).pop(q.id, None)
        previous = None
        chosen = (self.chat.get("selected") or {}).get(q.id, [])
        if s.revisiting == q.id:
            value = s.answers.get(q.id)
            previous = self.compose.show_answer(q.id, value)
            if q.type == "multi_choice" and not same and isinstance(value, list):
                chosen = self.chat.setdefault("selected", {})[q.id] = list(value)
        applies = self.compose.applies_now(s.result()) if s.flow == "referral" else []
        msg = self.compose.card(
            q,
            buttons=self.card_buttons(q, serial, chosen, more, previous is not None),
            selected=chosen,
            more=more,
            note=note,
            previous=previous,
            applies=applies,
        )
        msg.meta = {
            "flow": s.flow,
            "question": q.id,
            "type": q.type,
            "serial": serial,
            "options": choice_labels(q),
            "selected": [n for n, c in enumerate(q.choices) if c.id in chosen],
        }
        old = card.get("id")
        if old and not send_new:
            self.reply.actions.append(Edit(old, msg))
        else:
            if old:
                self.reply.actions.append(Strip(old))
            self.send(msg)
            old = None
        self.chat["card"] = {"id": old, "serial": serial, "flow": s.flow, "qid": q.id, "more": more}

    def card_buttons(
        self, q: QuestionView, serial: int, chosen: list[str], more: bool, revisiting: bool
    ) -> list[list[Button]]:
        rows: list[list[Button]] = []
        if q.type == "yes_no":
            rows.append(
                [
                    Button("Yes", _payload("a", serial, "y")),
                    Button("No", _payload("a", serial, "n")),
                ]
            )
        elif q.type == "choice":
            rows += [
                [Button(short_label(f"{n}. {c.label}"), _payload("a", serial, f"c{n - 1}"))]
                for n, c in enumerate(q.choices, 1)
            ]
        elif q.type == "multi_choice":
            for n, c in enumerate(q.choices, 1):
                mark = "[x]" if c.id in chosen else "[ ]"
                rows.append(
                    [Button(short_label(f"{mark} {n}. {c.label}"), _payload("t", serial, n - 1))]
                )
            rows.append(
                [
                    Button(f"Done ({len(chosen)} chosen)", _payload("a", serial, "d")),
                    Button("None of these", _payload("a", serial, "x")),
                ]
            )
        if revisiting:
            rows.append([Button("Keep answer", _payload("n", serial, "keep"))])
        rows.append(
            [
                Button("Don't know", _payload("a", serial, "k")),
                Button("Back", _payload("n", serial, "back")),
                Button("Help", _payload("n", serial, "help")),
                Button(
                    "Less" if more else "More", _payload("n", serial, "less" if more else "more")
                ),
            ]
        )
        return rows

    # -------------------------------------------------------------- results

    def view(self, s: Session) -> ResultView:
        complete = s.next_question() is None
        return self.compose.result_view(s.result(), complete=complete)

    def send_result(self, s: Session, complete: bool | None = None) -> None:
        if complete is None:
            complete = s.next_question() is None
        view = self.compose.result_view(s.result(), complete=complete)
        serial = self.serial()
        old = (self.chat.get("result") or {}).get("id")
        if old:
            self.reply.actions.append(Strip(old))
        self.chat["result"] = {
            "id": None,
            "serial": serial,
            "flow": s.flow,
            "report": complete and self.reportable(s.flow),
        }
        if not self.conv.paged:
            self.send(
                Message(
                    self.compose.full_result(s.result(), complete=complete),
                    kind="result",
                    protect=True,
                )
            )
            return
        self.send(self.result_message(view, serial, 0))

    def result_message(self, view: ResultView, serial: int, page: int) -> Message:
        name = view.names[page]
        return self.compose.result_page(
            view, name, self.page_buttons(view, serial, page), first=page == 0
        )

    def page_buttons(self, view: ResultView, serial: int, page: int | None) -> list[list[Button]]:
        names = view.names
        rows = [
            [
                Button(name if n != page else f"· {name}", _payload("p", serial, n))
                for n, name in enumerate(names)
                if view.pages[name] or n == 0
            ]
        ]
        # the first page previews the next one: its items get the Why buttons
        shown = (
            names[min(page, len(names) - 1) if page else min(1, len(names) - 1)]
            if page is not None
            else None
        )
        numbers = [it.number for it in view.items if shown is None or it.page == shown][:10]
        for start in range(0, len(numbers), 5):
            rows.append(
                [Button(f"Why {n}", _payload("w", serial, n)) for n in numbers[start : start + 5]]
            )
        if (self.chat.get("result") or {}).get("report"):
            rows.append([Button("Report", _payload("r", serial))])
        return rows

    # -------------------------------------------------------------- the report file

    def reportable(self, flow: str) -> bool:
        """Self-assessments get a report file; the referral flow's case answers never do."""
        return self.compose.kb.flow(flow).summary.kind != "referral"

    def report(self, s: Session) -> None:
        """The finished self-assessment's report as a file: PDF where Chromium is installed,
        else the same page as HTML (the note says which)."""
        if not self.reportable(s.flow):
            self.info(
                "A report file is only made for a self-assessment of a partnership or "
                "agency; case answers are never written to a file. Type result to see "
                "the result."
            )
            return
        if s.next_question() is not None:
            self.info(
                "The report is made once every question is answered (don't know is an "
                "answer). Type result for the result so far."
            )
            return
        from dvrules.audit import render
        from dvrules.audit.pack import report_document

        def document(kind: Literal["html", "pdf", "markdown"]) -> Any:
            return report_document(
                self.conv.rules,
                s.flow,
                s.answers,
                format=kind,
                area=self.conv.area,
                period=self.conv.period,
            )

        try:
            doc, note = (
                document("pdf"),
                (
                    "Here is the report as a PDF, ready for your board: "
                    "summary chart, gaps to work on and every requirement "
                    "with the answers behind it and its source."
                ),
            )
        except render.PdfError:
            doc, note = (
                document("html"),
                (
                    "Here is the report as a web page (HTML): a PDF cannot be made here, as "
                    "Chromium is not installed where dvrules runs. Open it in a browser and print "
                    "it, or save it as PDF from there."
                ),
            )
        self.info(note)
        self.reply.actions.append(SendDocument(doc.name, doc.mime, doc.data))

    # -------------------------------------------------------------- forget

    def ask_forget(self) -> None:
        serial = self.serial()
        self.chat["forget"] = serial
        self.send(
            Message(
                [
                    par("Erase everything this chat has stored?"),
                    par(
                        "Your answers to every assessment will be erased now and cannot be brought "
                        "back, and the messages I sent here will be deleted where the app allows."
                    ),
                ],
                [
                    [
                        Button("Yes, erase now", _payload("g", serial, "y")),
                        Button("No, keep", _payload("g", serial, "n")),
                    ]
                ],
                kind="forget",
            )
        )

    def forget(self) -> None:
        now = time.time()
        within = self.conv.delete_within
        ids = [
            (m, at) for m, at in self.chat.get("sent") or [] if within is None or now - at < within
        ]
        self.t.forget()
        self.reply.forgotten = True
        self.reply.actions += [Delete(m, at) for m, at in ids]
        log.info("session erased on request")
        self.send(
            Message(
                [
                    par(
                        "Erased. Nothing from this chat is stored any more. Type start "
                        "to begin again. " + EMERGENCY
                    )
                ],
                kind="forget",
            )
        )


def _cannot_read(q: QuestionView, exc: AnswerError, buttons: bool = True) -> str:
    tap = "tap one, or " if buttons else ""
    if q.type == "choice":
        return f"I couldn't read that as one of the options: {tap}type its number."
    if q.type == "multi_choice":
        taps = "tap them, or " if buttons else ""
        return f"I couldn't read that as options: {taps}type their numbers, like 1 3 4 (or none)."
    return f"I couldn't read that as an answer: please enter {q.allowed}, or don't know."


_INVALID = object()
