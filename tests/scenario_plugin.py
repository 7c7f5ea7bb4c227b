"""pytest plugin: every ``scenarios/*.yaml`` file is a test file, every scenario a test.

A file that does not fit the scenario format (an unknown key, a duplicate key, an id the
knowledge does not have) fails to collect with one line per problem naming file:line; a failing
scenario reports file:line, its name and each difference between expected and got.
Used by tests/conftest.py; for another folder, ``pytest -p tests.scenario_plugin PATH``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dvrules import default_rules
from dvrules.scenarios import Case, ScenarioError, differences, load_file


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and file_path.parent.name == "scenarios":
        return ScenarioYamlFile.from_parent(parent, path=file_path)
    return None


class ScenarioYamlFile(pytest.File):
    def collect(self) -> Iterator[ScenarioItem]:
        try:
            cases = load_file(self.path, default_rules().kb)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        for case in cases:
            yield ScenarioItem.from_parent(self, name=case.name, case=case)


class ScenarioMismatch(Exception):
    """The rules' answer differs from the scenario's expectation."""


class ScenarioItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        diffs = differences(self.case)
        if diffs:
            raise ScenarioMismatch("\n".join(f"  {d}" for d in diffs))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioMismatch):
            return f"{self.case.where}: {self.case.name}\n{excinfo.value}"
        return f"{self.case.where}: {self.case.name}\n{super().repr_failure(excinfo)}"

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"{self.case.where}: {self.case.name}"
