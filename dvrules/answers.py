"""Answers: check them against their questions, read them from text, compute derived values.

Every refusal is an ``AnswerError`` whose message a person understands and which names the
answer id, so the same sentence serves the terminal, a chat and a JSON file. Values are
converted to their proper types before anything reaches the rules engine (durable_rules would
happily compare a string with a number).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, cast

from dvrules.errors import AnswerError as AnswerError  # re-exported: the API raises it
from dvrules.knowledge import KnowledgeBase
from dvrules.schema import Choice, DerivedValue, Question

Answer = bool | int | float | str | list[str] | None

YES = {"yes", "y", "true"}
NO = {"no", "n", "false"}
MAX_NUMBER = 1e9  # larger figures are typing slips; the engine also needs them bounded
MAX_VALUE = 1e12  # a derived value is bounded too (above every threshold, below float exponents)
DONT_KNOW = {"dont_know", "don't know", "dont know", "unknown", "skip", "?"}


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
    retired = kb.retired.get(qid)
    if q is None and retired is not None and flow in (None, retired.flow):
        raise AnswerError(
            qid,
            f"this answer is no longer used; answer "
            f"{' and '.join(retired.replaced_by)} instead ({retired.note})",
        )
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
        if isinstance(value, float) and not math.isfinite(value):
            raise refuse
        if abs(value) > MAX_NUMBER:  # before any float(): 10**309 has no float
            raise AnswerError(qid, f"enter {allowed(kb, q)}, at most {MAX_NUMBER:,.0f}")
        if q.type == "integer":
            if not float(value).is_integer():
                raise refuse
            value = int(value)
        if (q.min is not None and value < q.min) or (q.max is not None and value > q.max):
            raise refuse
        number: int | float = value
        return number
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
    elif all(_whole(part) is not None for part in low.split()):
        parts = low.split()
    else:
        parts = [low]
    out = []
    for part in parts:
        found = _choice(choices, part, ages=False)
        if found is None:
            raise AnswerError(
                qid,
                f"{part!r} is not an option; enter {allowed(kb, q)}, or their numbers like 1 3 4",
            )
        out.append(found)
    return check_answer(kb, qid, sorted(set(out), key=out.index))


def _number(text: str) -> float | None:
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _whole(text: str) -> int | None:
    """``text`` as a small whole number (ASCII digits: "²".isdigit() is true but no int)."""
    if 0 < len(text) <= 9 and text.isascii() and text.isdigit():
        return int(text)
    return None


def _choice(choices: list[Choice], low: str, ages: bool = True) -> str | None:
    """The option ``low`` names: its number, id, label, the words of one label, or (for an
    age band) an age within it."""
    number = _whole(low)
    if number is not None and 1 <= number <= len(choices):
        return choices[number - 1].id
    as_id = low.replace(" ", "_").replace("-", "_")
    for c in choices:
        if low == c.id.lower() or as_id == c.id.lower() or low == c.label.lower():
            return c.id
    if ages and number is not None:
        bands = [c.id for c in choices if _in_band(c.label.lower(), number)]
        if len(bands) == 1:
            return bands[0]
        return None
    words = set(re.findall(r"[a-z0-9']+", low))
    if words:
        hits = [c.id for c in choices if words <= set(re.findall(r"[a-z0-9']+", c.label.lower()))]
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
    elif v.op == "shortfall":
        have, base = cast(list[float], parts)
        assert v.target is not None and v.per  # the loader refuses a shortfall without them
        result = max(0.0, v.target * base / v.per - have)
    else:  # rate
        numerator, denominator = cast(list[float], parts)
        if denominator == 0:
            return None
        assert v.per is not None  # the loader refuses a rate without 'per'
        result = numerator / denominator * v.per
    if isinstance(result, float) and abs(result) > MAX_VALUE:
        # a rate over a tiny denominator (0.000001 posts): bounded, it still exceeds every
        # threshold (at most 1e9) and stays roundable and readable by the engine
        result = math.copysign(MAX_VALUE, result)
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


# ---------------------------------------------------------------------- answers files

MAX_FILE_BYTES = 1_000_000  # an answers file is a few kilobytes; more is a mistake or an attack
MAX_DEPTH = 2  # an object of answers, a list of choice ids: anything deeper is not answers
MAX_DIGITS = 30  # a whole number longer than this is above every bound (at most 1e9)


def read_answers_file(
    path: str | Path, what: str = "answers", max_depth: int = MAX_DEPTH
) -> dict[str, Any]:
    """A JSON object from a file (``-`` = stdin), or an ``AnswerError`` of one line naming
    ``what`` was wrong: too large, not UTF-8, not JSON, a key given twice, nested too
    deeply, a number too long, or not an object. A UTF-8 byte-order mark is accepted."""
    data = read_json_input(path, what, max_depth)
    if not isinstance(data, dict):
        raise AnswerError(what, "expected a JSON object of answer id to value")
    return data


def read_json_input(path: str | Path, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """Any JSON value from a file or stdin, with the limits of ``read_answers_file``."""
    try:
        if str(path) == "-":
            stream = getattr(sys.stdin, "buffer", None)
            raw = (
                stream.read(MAX_FILE_BYTES + 1)
                if stream is not None
                else sys.stdin.read(MAX_FILE_BYTES + 1).encode("utf-8", "surrogateescape")
            )
        else:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise AnswerError(what, f"cannot read {path}: {reason}") from None
    return parse_json_bytes(raw, what, max_depth)


def parse_json_bytes(raw: bytes, what: str = "answers", max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text with the limits of ``read_answers_file``."""
    if len(raw) > MAX_FILE_BYTES:
        raise AnswerError(
            what,
            f"the file is larger than {MAX_FILE_BYTES // 1_000_000} MB; an "
            "answers file is a few kilobytes",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnswerError(
            what, f"not UTF-8 text (a byte that is not UTF-8 at byte {exc.start + 1})"
        ) from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise AnswerError(
            what,
            f"not valid JSON ({exc.msg} at line {exc.lineno}); expected an "
            "object of answer id to value",
        ) from None
    except RecursionError:
        raise AnswerError(what, _too_deep(max_depth)) from None
    except _Refused as exc:
        raise AnswerError(exc.args[0], exc.args[1]) from None
    if _depth(data) > max_depth:
        raise AnswerError(what, _too_deep(max_depth))
    return data


class _Refused(Exception):
    """Raised inside the JSON parser's hooks; becomes an ``AnswerError``."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(key, "given more than once in the file; give each answer once")
        out[key] = value
    return out


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise _Refused(
            "answers",
            f"a whole number of {digits} digits is far too large (numbers "
            f"are at most {MAX_NUMBER:,.0f})",
        )
    return int(text)


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item if isinstance(v, (dict, list)))
    return deepest


def _too_deep(max_depth: int) -> str:
    return (
        f"lists or objects nested more than {max_depth} deep; an answer is yes/no, a "
        "number, an option id or a list of option ids"
    )
