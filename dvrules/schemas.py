"""JSON Schemas of the contracts: a flow's answers file and the result, from pydantic models.

An app in any language can validate an answers file before sending it, and read a result
knowing its shape. The answers model is built from the knowledge (one field per question,
its type, bounds and option ids); the result schema is that of ``dvrules.results.Result``.
Both are committed under ``docs/schema/`` and a test checks they match what this code makes
(``dvrules schema --write docs/schema`` regenerates them after the knowledge or results change).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

import typer
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    TypeAdapter,
    create_model,
)

from dvrules.answers import MAX_NUMBER, allowed
from dvrules.api import DVRules, default_rules
from dvrules.results import Result

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def answers_model(rules: DVRules, flow: str) -> type[BaseModel]:
    """The pydantic model of ``flow``'s answers file: every field optional (absent: not
    answered; ``null``: don't know), no other keys."""
    kb = rules.kb
    fields: dict[str, Any] = {}
    for qid in kb.flow(flow).questions:
        q = kb.questions[qid]
        # strict: "yes" is not true and "3" is not 3 (as in ``check_answer``); an integer is
        # lax so that 3.0 is 3 (JSON Schema's "integer" accepts it too); a literal is exact
        info: dict[str, Any] = {
            "default": None,
            "title": qid,
            "description": f"{q.text} ({allowed(kb, q)}; null: don't know)",
        }
        kind: Any
        if q.type == "yes_no":
            kind = StrictBool
        elif q.type in ("number", "integer"):
            kind = int if q.type == "integer" else StrictFloat
            info["ge"] = q.min if q.min is not None else -MAX_NUMBER
            info["le"] = q.max if q.max is not None else MAX_NUMBER
        else:
            ids = tuple(c.id for c in kb.choices(q))
            option = Literal[ids]  # type: ignore[valid-type]
            if q.type == "choice":
                kind = option
            else:
                kind = list[option]
                info["json_schema_extra"] = {"uniqueItems": True}
        fields[qid] = (Optional[kind], Field(**info))
    name = "".join(part.capitalize() for part in flow.replace("_", "-").split("-")) + "Answers"
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def answers_schema(rules: DVRules, flow: str) -> dict[str, Any]:
    spec = rules.kb.flow(flow)
    schema = answers_model(rules, flow).model_json_schema()
    return {
        "$schema": SCHEMA_DRAFT,
        "$id": f"dvrules:answers/{flow}",
        **schema,
        "title": f"Answers for {spec.title}",
        "description": f"The answers file of `dvrules assess {flow}`: answer id to value; "
        "leave out what is not answered, null for don't know. Knowledge "
        f"version {rules.kb.version}.",
    }


def result_schema() -> dict[str, Any]:
    schema = TypeAdapter(Result).json_schema(mode="serialization")
    return {
        "$schema": SCHEMA_DRAFT,
        "$id": "dvrules:result",
        "title": "dvrules result",
        "description": "What `dvrules assess --format json` prints and `DVRules.assess` "
        "returns (`model_dump()`): an assessment or a referral result.",
        **schema,
    }


def all_schemas(rules: DVRules | None = None) -> dict[str, dict[str, Any]]:
    """File name -> schema, for everything committed under ``docs/schema/``."""
    rules = rules or default_rules()
    out = {f"{flow}.answers.schema.json": answers_schema(rules, flow) for flow in rules.kb.flows}
    out["result.schema.json"] = result_schema()
    return out


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def schema(
    flow: str | None = typer.Argument(None, help="The flow whose answers file to describe."),
    result: bool = typer.Option(False, "--result", help="The result contract instead."),
    write: Path | None = typer.Option(
        None, "--write", help="Write every schema into this directory (docs/schema)."
    ),
) -> None:
    """Print the JSON Schema of a flow's answers file, or of the result (--result)."""
    from dvrules.cli_output import fail

    if write is not None:
        write.mkdir(parents=True, exist_ok=True)
        for name, body in all_schemas().items():
            (write / name).write_text(dumps(body), encoding="utf-8")
        typer.echo(f"wrote {len(all_schemas())} schemas to {write}")
        return
    if result == (flow is not None):
        fail("schema: give a flow (dvrules schema cdrp) or --result")
    if result:
        typer.echo(dumps(result_schema()), nl=False)
        return
    rules = default_rules()
    if flow not in rules.kb.flows:
        fail(f"flow: {flow!r} is not a flow; choose one of: {', '.join(rules.kb.flows)}")
    assert flow is not None  # a flow or --result, checked above
    typer.echo(dumps(answers_schema(rules, flow)), nl=False)


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)
