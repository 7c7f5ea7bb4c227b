"""A plain-Python evaluator of the same compiled conditions, used to cross-check durable_rules.

It walks the flow's outcomes in dependency order with Kleene logic. Tests compare it with the
rules engine on thousands of random answer sets; the benchmarks use it as a baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dvrules.conditions import evaluate
from dvrules.engine import Evaluation, evaluable
from dvrules.knowledge import KnowledgeBase


def reference_evaluate(
    kb: KnowledgeBase, flow: str, facts: Mapping[str, Any], params: Mapping[str, float]
) -> Evaluation:
    decided: dict[str, bool] = {}
    for key, cond in evaluable(kb, flow):
        result = evaluate(cond, facts, params, decided.get)
        if result is not None:
            decided[key] = result
    return Evaluation(decided)
