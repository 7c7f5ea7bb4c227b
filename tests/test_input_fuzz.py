"""Bad input never hurts (issue 13, point 7): answers files and answers, fuzzed.

Property-based tests over every question of every flow and over ``dvrules assess``: whatever
the input, the result is a valid answer, an ``AnswerError`` naming what was wrong, or (the
command) exit code 2 with one line; never a traceback. The suite runs a few hundred examples
of each; ``DVRULES_FUZZ_EXAMPLES=10000`` runs as many as the issue's probe did.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import dvrules.cli as cli
from dvrules import AnswerError, DVRules, MemoryStore, Session, default_rules
from dvrules.answers import MAX_FILE_BYTES, check_answer, parse_json_bytes, parse_text

EXAMPLES = int(os.environ.get("DVRULES_FUZZ_EXAMPLES", "0")) or None
RULES = default_rules()
QUESTIONS = sorted(RULES.kb.questions)
FLOWS = sorted(RULES.kb.flows)
OPTION_IDS = sorted({c.id for q in RULES.kb.questions.values() for c in RULES.kb.choices(q)})


def examples(default: int) -> Any:
    return settings(
        max_examples=EXAMPLES or default,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.integers(min_value=-5, max_value=2000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(OPTION_IDS)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _valid(qid: str, value: Any) -> None:
    """``value`` came back from ``check_answer``: it is canonical (accepted again unchanged)."""
    assert check_answer(RULES.kb, qid, value) == value


@examples(600)
@given(qid=st.sampled_from(QUESTIONS), value=values)
def test_any_value_for_any_question_is_an_answer_or_an_answer_error(qid: str, value: Any) -> None:
    try:
        checked = check_answer(RULES.kb, qid, value)
    except AnswerError as exc:
        assert str(exc).startswith(f"{qid}: ") and "\n" not in str(exc)
        return
    _valid(qid, checked)


@examples(300)
@given(
    qid=st.sampled_from(QUESTIONS),
    text=st.text(max_size=40) | st.from_regex(r"\A-?[0-9]{1,400}(\.[0-9]{0,3})?%?\Z"),
)
def test_any_typed_text_for_any_question_is_an_answer_or_an_answer_error(
    qid: str, text: str
) -> None:
    try:
        value = parse_text(RULES.kb, qid, text)
    except AnswerError:
        return
    _valid(qid, value)


@examples(300)
@given(data=st.data())
def test_a_session_answer_is_stored_or_refused_with_an_answer_error(data: Any) -> None:
    flow = data.draw(st.sampled_from(FLOWS))
    qid = data.draw(st.sampled_from(RULES.kb.flow(flow).questions))
    value = data.draw(values)
    session = Session(RULES, flow, "fuzz-1", MemoryStore())
    try:
        session.answer(qid, value)
    except AnswerError:
        assert session.answers == {}
        return
    assert qid in session.answers


def test_a_number_too_large_for_a_float_is_an_answer_error(rules: DVRules) -> None:
    numbers = [
        q
        for q in rules.kb.flow("cdrp").questions
        if rules.kb.questions[q].type in ("number", "integer")
    ]
    session = Session(rules, "cdrp", "case-1", MemoryStore())
    for huge in (10**309, -(10**400)):
        with pytest.raises(AnswerError, match="at most 1,000,000,000"):
            session.answer(numbers[0], huge)


# ---------------------------------------------------------------------- answers files


def answers_objects(flow: str) -> Any:
    """Answer objects near the real thing: real ids with any values, and stray keys."""
    ids = RULES.kb.flow(flow).questions
    return st.dictionaries(st.sampled_from(ids) | st.text(max_size=10), values, max_size=6)


def mangle(text: str, how: str, key: str) -> bytes:
    if how == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if how == "duplicate" and text.startswith("{") and len(text) > 2:
        return ('{"' + key + '": 1, "' + key + '": 2, ' + text[1:]).encode()
    if how == "deep":
        return ('{"' + key + '": ' + "[" * 5000 + "]" * 5000 + "}").encode()
    if how == "huge":
        return ('{"' + key + '": ' + "9" * 311 + "}").encode()
    if how == "truncate":
        return text[: len(text) // 2].encode()
    if how == "latin1":
        return text.encode("utf-8") + b"\xe9"
    return text.encode()


files = st.builds(
    lambda flow, obj, how, key, raw: (
        flow,
        raw if how == "raw" else mangle(json.dumps(obj, allow_nan=True), how, key),
    ),
    st.sampled_from(FLOWS),
    st.deferred(lambda: st.sampled_from(FLOWS).flatmap(answers_objects)),
    st.sampled_from(
        ["plain", "plain", "bom", "duplicate", "deep", "huge", "truncate", "latin1", "raw"]
    ),
    st.sampled_from(QUESTIONS),
    st.binary(max_size=200),
)


@pytest.fixture(scope="module")
def shared_cli() -> Any:
    real = cli.DVRules
    cli.DVRules = lambda area=None: default_rules(area)  # type: ignore[assignment,misc]
    yield
    cli.DVRules = real  # type: ignore[misc]


@examples(200)
@given(case=files, fmt=st.sampled_from(["json", "text"]))
def test_a_malformed_answers_file_never_produces_a_traceback(
    shared_cli: Any, case: tuple[str, bytes], fmt: str
) -> None:
    flow, raw = case
    result = CliRunner().invoke(
        cli.app, ["assess", flow, "--answers", "-", "--format", fmt], input=raw
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 2)
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stdout == ""


def run_file(tmp_path: Path, raw: bytes, flow: str = "cdrp") -> Any:
    path = tmp_path / "answers.json"
    path.write_bytes(raw)
    return CliRunner().invoke(cli.app, ["assess", flow, "--answers", str(path)])


@pytest.mark.parametrize(
    "raw, says",
    [
        (
            b'{"advocates_fte": 2, "advocates_fte": 3}',
            "advocates_fte: given more than once in the file; give each answer once",
        ),
        (
            b'{"advocates_fte": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "answers: lists or objects nested more than 2 deep",
        ),
        (
            b'{"plans_integrating_dv": [["local_area_agreement"]]}',
            "answers: lists or objects nested more than 2 deep",
        ),
        (
            b'{"advocates_fte": ' + b"1" * 310 + b"}",
            "answers: a whole number of 310 digits is far too large",
        ),
        (b'{"advocates_fte": 1e400}', "advocates_fte: enter a number"),
        (b'{"advocates_fte": NaN}', "advocates_fte: enter a number"),
        (b"\xff\xfe{}", "answers: not UTF-8 text"),
        (b'{"advocates_fte": 2', "answers: not valid JSON"),
    ],
)
def test_bad_answers_files_get_one_line_and_exit_2(
    shared_cli: Any, tmp_path: Path, raw: bytes, says: str
) -> None:
    result = run_file(tmp_path, raw)
    assert result.exit_code == 2 and result.exception is not None
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith(says) and result.stderr.count("\n") == 1


def test_an_answers_file_with_a_byte_order_mark_is_read(shared_cli: Any, tmp_path: Path) -> None:
    result = run_file(tmp_path, b"\xef\xbb\xbf" + json.dumps({"advocates_fte": 2}).encode())
    assert result.exit_code == 0, result.stderr


def test_an_answers_file_over_1_mb_is_refused_without_reading_it_whole(
    shared_cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "big.json"
    with open(path, "wb") as fh:  # 200 MB, sparse: costs no disk
        fh.truncate(200 * 1_000_000)
    result = CliRunner().invoke(cli.app, ["assess", "cdrp", "--answers", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "answers: the file is larger than 1 MB; an answers file is a few kilobytes"
    )
    # just under the cap is read (and then judged on its content)
    with pytest.raises(AnswerError, match="not valid JSON"):
        parse_json_bytes(b" " * MAX_FILE_BYTES)
