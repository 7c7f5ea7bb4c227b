"""Fail when knowledge/ changed without a new version and a CHANGELOG entry (make check).

The knowledge is compared with each base it can find: the last release tag
(``git describe --tags --match 'knowledge-v*'``) and, where there is one, the merge-base with
``origin/main`` (the branch a change is proposed against). If knowledge/ differs from a base,
the version in knowledge/manifest.yaml must be higher than the base's and
knowledge/CHANGELOG.md must have an entry for it. Whatever the bases, the manifest's digest must
match the files (``dvrules kb check``); in a fresh clone with no tags and no origin that is the
whole check. Prints one line per problem and exits 1, or one line saying what was compared.

    python scripts/check_knowledge_version.py [--repo PATH]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import yaml

from dvrules.knowledge import version_problems

KNOWLEDGE = "knowledge"
MANIFEST = f"{KNOWLEDGE}/manifest.yaml"
CHANGELOG = f"{KNOWLEDGE}/CHANGELOG.md"


def _git(repo: Path, *args: str) -> str | None:
    """A git command's output, or None when it fails (no tag, no origin, not a repository)."""
    res = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    return res.stdout.strip() if res.returncode == 0 else None


def bases(repo: Path) -> list[tuple[str, str]]:
    """(description, commit) of the last knowledge tag and the merge-base with origin/main."""
    found = []
    tag = _git(repo, "describe", "--tags", "--abbrev=0", "--match", "knowledge-v*", "HEAD")
    if tag:
        found.append((f"tag {tag}", tag))
    if _git(repo, "rev-parse", "--verify", "--quiet", "origin/main"):
        base = _git(repo, "merge-base", "HEAD", "origin/main")
        if base:
            found.append((f"origin/main (merge-base {base[:10]})", base))
    return found


def _version(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    data = yaml.safe_load(text)
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+\.\d+", version):
        return None
    return tuple(int(p) for p in version.split("."))


def _changed(repo: Path, base: str) -> bool:
    """Whether knowledge/ differs from ``base`` (committed, staged, unstaged or new files)."""
    diff = subprocess.run(
        ["git", "diff", "--quiet", base, "--", KNOWLEDGE], cwd=repo, check=False
    ).returncode
    new = _git(repo, "ls-files", "--others", "--exclude-standard", "--", KNOWLEDGE)
    return diff != 0 or bool(new)


def problems(repo: Path) -> tuple[list[str], list[str]]:
    """(problems, what was compared)."""
    found = [f"{KNOWLEDGE}/{p}" for p in version_problems(repo / KNOWLEDGE)]
    compared = ["manifest digest"]
    current = _version((repo / MANIFEST).read_text(encoding="utf-8"))
    changelog = (
        (repo / CHANGELOG).read_text(encoding="utf-8") if (repo / CHANGELOG).exists() else ""
    )
    for label, commit in bases(repo):
        compared.append(label)
        if not _changed(repo, commit):
            continue
        before = _version(_git(repo, "show", f"{commit}:{MANIFEST}")) or (0, 0, 0)
        shown = ".".join(map(str, current)) if current else "(none)"
        if current is None or current <= before:
            found.append(
                f"{MANIFEST}: knowledge/ changed since {label} but the version is still {shown} "
                f"(was {'.'.join(map(str, before))}): raise it (patch: wording or a corrected "
                "threshold; minor: new items or questions; major: an id renamed or removed, or "
                "a result field changed)"
            )
        elif f"## {shown}" not in changelog:
            found.append(f"{CHANGELOG}: no entry '## {shown}' for the new version")
    return sorted(set(found)), compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    found, compared = problems(args.repo.resolve())
    for line in found:
        print(line, file=sys.stderr)
    if found:
        return 1
    print(f"knowledge version is current (checked: {', '.join(compared)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
