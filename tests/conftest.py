"""Shared fixtures: the shipped knowledge, compiled once per test run."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvrules import DVRules, default_rules

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
