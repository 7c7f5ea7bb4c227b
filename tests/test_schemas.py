"""JSON Schemas of the answers files and the result (issue 13, point 2): generated from the
pydantic models, committed under docs/schema/, and kept in step with the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

import dvrules.cli as cli
from dvrules import DVRules
from dvrules.schemas import all_schemas, answers_model, dumps

from .conftest import extreme_answers

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "docs" / "schema"
REGENERATE = "regenerate with: .venv/bin/dvrules schema --write docs/schema"


def test_the_committed_schemas_match_the_code(rules: DVRules) -> None:
    made = all_schemas(rules)
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in COMMITTED.glob("*.json")}
    assert sorted(on_disk) == sorted(made), REGENERATE
    for name, schema in made.items():
        assert on_disk[name] == dumps(schema), f"{name} is out of date; {REGENERATE}"


def test_dvrules_schema_prints_a_flows_answers_schema_and_the_result() -> None:
    flow = CliRunner().invoke(cli.app, ["schema", "cdrp"])
    assert flow.exit_code == 0
    schema = json.loads(flow.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert "advocacy_service_independent" in schema["properties"]
    assert flow.stdout == (COMMITTED / "cdrp.answers.schema.json").read_text()
    result = CliRunner().invoke(cli.app, ["schema", "--result"])
    assert result.exit_code == 0
    assert result.stdout == (COMMITTED / "result.schema.json").read_text()
    assert {"AssessmentResult", "ReferralResult"} <= set(json.loads(result.stdout)["$defs"])
    for bad in (["schema"], ["schema", "cdrp", "--result"], ["schema", "nope"]):
        refused = CliRunner().invoke(cli.app, bad)
        assert refused.exit_code == 2 and refused.stderr.count("\n") == 1


@pytest.mark.parametrize("flow", ["cdrp", "bvpi225", "minimum-standards", "referral"])
def test_the_answers_schema_accepts_what_assess_accepts_and_refuses_what_it_refuses(
    rules: DVRules, flow: str
) -> None:
    model = answers_model(rules, flow)
    for best in (True, False):
        answers = extreme_answers(rules, flow, best)
        rules.assess(flow, answers)
        model.model_validate(answers)
    first = rules.kb.flow(flow).questions[0]
    model.model_validate({first: None})  # don't know
    with pytest.raises(ValidationError):
        model.model_validate({"not_a_question": True})
    with pytest.raises(ValidationError):
        model.model_validate({first: "maybe"})
