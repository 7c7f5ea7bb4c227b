"""The knowledge version check of ``make check``: a change to knowledge/ since the last release
tag or the base branch needs a higher version and a CHANGELOG entry; with neither base (a fresh
clone without tags) the manifest digest alone is checked."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dvrules.knowledge import content_digest

from .conftest import ROOT

SCRIPT = ROOT / "scripts" / "check_knowledge_version.py"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository holding the shipped knowledge, released as tag knowledge-v<version>."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "knowledge", repo / "knowledge")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "knowledge")
    return repo


def _bump(repo: Path, version: str, entry: bool = True) -> None:
    """Raise the version, set the digest and (optionally) add the changelog entry."""
    knowledge = repo / "knowledge"
    (knowledge / "manifest.yaml").write_text(
        f'version: "{version}"\ncontent_sha256: {content_digest(knowledge)}\n'
    )
    if entry:
        log = knowledge / "CHANGELOG.md"
        log.write_text(log.read_text().replace("## ", f"## {version}\n\n- reworded.\n\n## ", 1))


def _reword(repo: Path) -> None:
    glossary = repo / "knowledge" / "glossary.yaml"
    glossary.write_text(glossary.read_text().replace("Association of Chief", "Assoc. of Chief"))


def test_an_unchanged_released_knowledge_passes(repo: Path) -> None:
    _git(repo, "tag", "knowledge-v0.2.0")
    res = _check(repo)
    assert res.returncode == 0, res.stderr
    assert "tag knowledge-v0.2.0" in res.stdout


def test_a_change_since_the_tag_without_a_new_version_fails(repo: Path) -> None:
    _git(repo, "tag", "knowledge-v0.2.0")
    _reword(repo)
    _bump(repo, _version(repo), entry=False)  # digest set, version not raised
    res = _check(repo)
    assert res.returncode == 1
    assert "changed since tag knowledge-v0.2.0 but the version is still" in res.stderr


def test_a_raised_version_needs_its_changelog_entry(repo: Path) -> None:
    _git(repo, "tag", "knowledge-v0.2.0")
    _reword(repo)
    _bump(repo, "9.9.9", entry=False)
    res = _check(repo)
    assert res.returncode == 1 and "no entry '## 9.9.9'" in res.stderr
    _bump(repo, "9.9.9")
    res = _check(repo)
    assert res.returncode == 0, res.stderr


def test_a_change_against_the_base_branch_is_caught_too(repo: Path, tmp_path: Path) -> None:
    """No tag, but a branch proposed against origin/main."""
    origin = tmp_path / "origin.git"
    _git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    _git(repo, "remote", "add", "origin", str(origin))
    _git(repo, "fetch", "-q", "origin")
    _git(repo, "checkout", "-qb", "change")
    _reword(repo)
    _bump(repo, _version(repo), entry=False)
    _git(repo, "commit", "-qam", "reword")
    res = _check(repo)
    assert res.returncode == 1 and "changed since origin/main" in res.stderr


def test_without_tags_or_origin_the_digest_is_checked(repo: Path) -> None:
    assert _check(repo).returncode == 0
    _reword(repo)
    res = _check(repo)
    assert res.returncode == 1 and "content_sha256" in res.stderr


def _version(repo: Path) -> str:
    text = (repo / "knowledge" / "manifest.yaml").read_text()
    return text.split('version: "')[1].split('"')[0]
