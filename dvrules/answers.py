"""Answers: check them against their questions, read them from text, compute derived values.

Every refusal is an ``AnswerError`` whose message a person understands and which names the
answer id, so the same sentence serves the terminal, a chat and a JSON file. Values are
converted to their proper types before anything reaches the rules engine (durable_rules would
happily compare a string with a number).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dvrules.knowledge import KnowledgeBase
from dvrules.schema import DerivedValue, Question

Answer = bool | int | float | str | list[str] | None

YES = {"yes", "y", "true"}
NO = {"no", "n", "false"}
MAX_NUMBER = 1e9  # larger figures are typing slips; the engine also needs them bounded
DONT_KNOW = {"dont_know", "don't know", "dont know", "unknown", "skip", "?"}


class AnswerError(ValueError):
    """An answer that does not fit its question; the message names the id and what is allowed."""

    def __init__(self, question_id: str, message: str):
        super().__init__(f"{question_id}: {message}")
        self.question_id = question_id
        self.reason = message


def _fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:g}"


def allowed(kb: KnowledgeBase, q: Question) -> str:
    """What the question accepts, in words (used in error messages and help)."""
    if q.type == "yes_no":
        return "yes or no"
    if q.type in ("number", "integer"):
        kind = "a whole number" if q.type == "integer" else "a number"
        lo, hi = q.min, q.max
        if lo is not None and hi is not None:
            return f"{kind} from {_fmt(lo)} to {_fmt(hi)}"
        if lo is not None:
            return f"{kind} of {_fmt(lo)} or more"
        if hi is not None:
            return f"{kind} of {_fmt(hi)} or less"
        return kind
    ids = ", ".join(c.id for c in kb.choices(q))
    return f"one of: {ids}" if q.type == "choice" else f"a list of any of: {ids}"


def check_answer(kb: KnowledgeBase, qid: str, value: Any, flow: str | None = None) -> Answer:
    """Validate a JSON-style answer and return it in its canonical type.

    ``None`` means "don't know" and is always accepted.
    """
    q = kb.questions.get(qid)
    if q is None or (flow is not None and qid not in kb.flow(flow).questions):
        where = f" in flow {flow}" if flow else ""
        raise AnswerError(qid, f"no such question{where}")
    if value is None:
        return None
    refuse = AnswerError(qid, f"enter {allowed(kb, q)}")
    if q.type == "yes_no":
        if not isinstance(value, bool):
            raise AnswerError(qid, "enter yes or no (true or false in an answers file)")
        return value
    if q.type in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise refuse
        if not math.isfinite(value):
            raise refuse
        if abs(value) > MAX_NUMBER:
            raise AnswerError(qid, f"enter {allowed(kb, q)}, at most {MAX_NUMBER:,.0f}")
        if q.type == "integer":
            if not float(value).is_integer():
                raise refuse
            value = int(value)
        if (q.min is not None and value < q.min) or (q.max is not None and value > q.max):
            raise refuse
        return value
    ids = [c.id for c in kb.choices(q)]
    if q.type == "choice":
        if not isinstance(value, str) or value not in ids:
            raise refuse
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) and v in ids for v in value):
        raise refuse
    if len(set(value)) != len(value):
        raise AnswerError(qid, "each option may be chosen once")
    return [i for i in ids if i in value]  # canonical order


def parse_text(kb: KnowledgeBase, qid: str, text: str) -> Answer:
    """Read an answer typed in a chat or terminal: ``yes``, ``12``, ``13%``, an option's number,
    id or words (``readiness evidence``), several options (``1 3 4``, ``1, 3, 4``), an age for
    an age band (``25``), or ``don't know``."""
    q = kb.questions[qid]
    raw = " ".join(text.split())
    low = raw.lower()
    if low in DONT_KNOW:
        return None
    if q.type == "yes_no":
        if low in YES:
            return True
        if low in NO:
            return False
        raise AnswerError(qid, f"enter {allowed(kb, q)}")
    if q.type in ("number", "integer"):
        number = _number(low.removesuffix("%").strip())
        if number is None:
            raise AnswerError(qid, f"enter {allowed(kb, q)}")
        value: Any = int(number) if number.is_integer() else number
        return check_answer(kb, qid, value)
    choices = kb.choices(q)
    if q.type == "choice":
        picked = _choice(choices, low)
        if picked is None:
            raise AnswerError(qid, f"enter {allowed(kb, q)}")
        return picked
    if low in ("none", "none of these", ""):
        return []
    if any(sep in low for sep in ",;"):
        parts = [p.strip() for p in low.replace(";", ",").split(",") if p.strip()]
    elif all(part.isdigit() for part in low.split()):
        parts = low.split()
    else:
        parts = [low]
    out = []
    for part in parts:
        found = _choice(choices, part, ages=False)
        if found is None:
            raise AnswerError(qid, f"{part!r} is not an option; enter {allowed(kb, q)}, or "
                                   "their numbers like 1 3 4")
        out.append(found)
    return check_answer(kb, qid, sorted(set(out), key=out.index))


def _number(text: str) -> float | None:
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _choice(choices: list[Any], low: str, ages: bool = True) -> str | None:
    """The option ``low`` names: its number, id, label, the words of one label, or (for an
    age band) an age within it."""
    if low.isdigit() and 1 <= int(low) <= len(choices):
        return choices[int(low) - 1].id
    as_id = low.replace(" ", "_").replace("-", "_")
    for c in choices:
        if low == c.id.lower() or as_id == c.id.lower() or low == c.label.lower():
            return c.id
    if ages and low.isdigit():
        bands = [c.id for c in choices if _in_band(c.label.lower(), int(low))]
        if len(bands) == 1:
            return bands[0]
        return None
    words = set(re.findall(r"[a-z0-9']+", low))
    if words:
        hits = [c.id for c in choices
                if words <= set(re.findall(r"[a-z0-9']+", c.label.lower()))]
        if len(hits) == 1:
            return hits[0]
    return None


def _in_band(label: str, age: int) -> bool:
    """Whether ``age`` is in a band labelled like "Under 16", "16 or 17", "18 or over"."""
    m = re.fullmatch(r"under (\d+)", label)
    if m:
        return age < int(m.group(1))
    m = re.fullmatch(r"(\d+)(?: or over| and over| or older|\+| plus)", label)
    if m:
        return age >= int(m.group(1))
    m = re.fullmatch(r"(\d+) (?:to|-|or) (\d+)", label)
    if m:
        return int(m.group(1)) <= age <= int(m.group(2))
    return False


def check_answers(kb: KnowledgeBase, flow: str, answers: Mapping[str, Any]) -> dict[str, Answer]:
    """Validate a whole answer set (e.g. an answers file); the first problem is raised."""
    if not isinstance(answers, Mapping):
        raise AnswerError("answers", "expected a JSON object of answer id to value")
    return {qid: check_answer(kb, qid, value, flow) for qid, value in answers.items()}


def round_half_up(x: float, decimals: int) -> float:
    """Round as people do on paper (54.55 -> 54.6), not banker's rounding."""
    q = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(x)).quantize(q, rounding=ROUND_HALF_UP))


def compute_value(v: DerivedValue, facts: Mapping[str, Any]) -> Any:
    """One derived value from known facts, or ``None`` when it cannot be known yet."""
    parts = [facts.get(name) for name in v.of]
    result: Any
    if v.op == "coalesce":
        result = next((p for p in parts if p is not None), None)
    elif v.op == "count_true":
        if any(name not in facts and name not in facts.get("__answered__", ()) for name in v.of):
            return None
        result = sum(1 for p in parts if p is True)
    elif any(p is None for p in parts):
        return None
    elif v.op == "sum":
        result = sum(parts)
    else:  # rate
        numerator, denominator = parts
        if denominator == 0:
            return None
        result = numerator / denominator * v.per
    if v.decimals is not None and isinstance(result, float):
        result = round_half_up(result, v.decimals)
    return result


def _flow_values(kb: KnowledgeBase, flow: str) -> tuple[frozenset[str], list[DerivedValue]]:
    """A flow's questions, and the derived values all of whose inputs it asks, in order.

    Kept on the knowledge base; worked out again if its flow or values have been replaced.
    """
    spec = kb.flow(flow)
    questions, values = tuple(spec.questions), tuple(kb.values.values())
    cache = kb.__dict__.setdefault("_flow_values", {})
    hit = cache.get(flow)
    if hit is None or hit[0] is not spec or hit[1] != questions or hit[2] != values:
        asked = frozenset(questions)
        computable = [v for v in values if all(q in asked for q in kb.value_inputs(v.id))]
        hit = cache[flow] = (spec, questions, values, asked, computable)
    return hit[3], hit[4]


def build_facts(kb: KnowledgeBase, flow: str, answers: Mapping[str, Answer]) -> dict[str, Any]:
    """Known answers plus every derived value of the flow that can be computed.

    Values are computed in definition order, so a value may use an earlier one.
    ``__answered__`` lists the answers given, including "don't know", for ``count_true``.
    """
    asked, computable = _flow_values(kb, flow)
    facts: dict[str, Any] = {k: v for k, v in answers.items() if v is not None and k in asked}
    facts["__answered__"] = frozenset(k for k in answers if k in asked)
    for v in computable:
        result = compute_value(v, facts)
        if result is not None:
            facts[v.id] = result
    del facts["__answered__"]
    return facts
