"""Shared fixtures: the shipped knowledge, compiled once per test run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dvrules import DVRules, default_rules
from tests.redis_server import redis_server, redis_url  # noqa: F401 - Redis fixtures

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"


@pytest.fixture(scope="session")
def rules() -> DVRules:
    return default_rules()


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private session store; DVRULES_DB points the CLI at it too."""
    path = tmp_path / "store"
    monkeypatch.setenv("DVRULES_DB", str(path))
    return path


def extreme_answers(rules: DVRules, flow: str, best: bool) -> dict[str, Any]:
    """Every question of ``flow`` at its most (or least) favourable value, from the knowledge:
    yes, the maximum (or a large number), the last choice and every option; or the opposite."""
    out: dict[str, Any] = {}
    for qid in rules.kb.flow(flow).questions:
        q = rules.kb.questions[qid]
        ids = [c.id for c in rules.kb.choices(q)]
        if q.type == "yes_no":
            out[qid] = best
        elif q.type in ("number", "integer"):
            out[qid] = (q.max if q.max is not None else 1000) if best else (q.min or 0)
        elif q.type == "choice":
            out[qid] = ids[-1] if best else ids[0]
        else:
            out[qid] = ids if best else []
    return out
