"""Load, validate and index the YAML knowledge base.

Every problem is a ``KnowledgeError`` that names the file and the item, because the person
fixing it is editing YAML, not Python. Loading checks shapes (pydantic), unique ids, that every
reference resolves, that every test fits the type of what it tests, and that item references
have no cycles.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dvrules.conditions import leaves
from dvrules.schema import (
    OUTCOME_KINDS,
    SUMMARY_KEYS,
    Choice,
    ChoiceList,
    Contact,
    Definition,
    DerivedValue,
    Directory,
    Document,
    Flow,
    GlossaryEntry,
    ItemRef,
    KnowledgeFile,
    Manifest,
    Outcome,
    Parameter,
    ParamRef,
    Pathway,
    Question,
    Requirement,
    RetiredAnswer,
    Source,
    Test,
)

DIRECTORIES = "directories"
MANIFEST = "manifest.yaml"  # the version, and the digest of every other knowledge file
# what citations are checked against: the cited headings (and footnotes, page addresses, table
# phone numbers) of the documents outside the repository, written by scripts/source_sections.py
# into knowledge/sources/
SOURCE_SECTIONS = "source_sections.yaml"


from dvrules.errors import KnowledgeError as KnowledgeError  # noqa: E402 - re-exported
from dvrules.errors import UnknownFlowError  # noqa: E402


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML loader that refuses a mapping with the same key twice (PyYAML keeps the last).

    Built on libyaml's parser where PyYAML has it: parsing is most of a cold start."""


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def unique_key_loader() -> type[yaml.SafeLoader]:
    """The strict YAML loader (duplicate keys refused), for other YAML the project reads."""
    loader: type[yaml.SafeLoader] = _UniqueKeyLoader
    return loader


def read_yaml(path: Path) -> Any:
    """Parse one YAML file strictly; errors name the file."""
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path}: not valid YAML: {exc}") from exc


def _validation_message(path: Path, raw: Any, exc: ValidationError) -> str:
    """Name the file, the item (by its id when it has one) and the field."""
    lines = []
    for err in exc.errors()[:5]:
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(raw, dict):
            items = raw.get(loc[0]) or []
            item = items[loc[1]] if loc[1] < len(items) else None
            item_id = item.get("id") if isinstance(item, dict) else None
            where = f"{loc[0]} item {item_id or '#' + str(loc[1] + 1)}"
            loc = loc[2:]
        field_path = ".".join(
            str(p)
            for p in loc
            if not str(p).startswith(("Test", "All", "AnyOf", "Not", "ItemRef", "function"))
        )
        lines.append(f"{where}{': ' if where else ''}{field_path or '(item)'}: {err['msg']}")
    return f"{path}: " + "; ".join(lines)


def default_knowledge_dir() -> Path:
    """The knowledge shipped in the wheel, else the repository's ``knowledge/`` folder."""
    env = os.environ.get("DVRULES_KNOWLEDGE")
    if env:
        return Path(env)
    packaged = Path(__file__).parent / "knowledge_data"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "knowledge"


@dataclass
class KnowledgeBase:
    """Everything in ``knowledge/``, validated and indexed by id."""

    root: Path
    version: str = "0"
    documents: dict[str, Document] = field(default_factory=dict)
    flows: dict[str, Flow] = field(default_factory=dict)
    questions: dict[str, Question] = field(default_factory=dict)
    lists: dict[str, ChoiceList] = field(default_factory=dict)
    values: dict[str, DerivedValue] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    outcome_kind: dict[str, str] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    definitions: dict[str, Definition] = field(default_factory=dict)
    glossary: dict[str, GlossaryEntry] = field(default_factory=dict)
    parameters: dict[str, Parameter] = field(default_factory=dict)
    directories: dict[str, Directory] = field(default_factory=dict)
    retired: dict[str, RetiredAnswer] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # id -> file it came from

    # ------------------------------------------------------------------ queries

    def flow(self, flow_id: str) -> Flow:
        if flow_id not in self.flows:
            raise UnknownFlowError(
                f"unknown flow {flow_id!r}; known flows: {', '.join(self.flows)}"
            )
        return self.flows[flow_id]

    def outcomes_of(self, flow_id: str, kind: str | None = None) -> list[Outcome]:
        """A flow's outcomes in file order, optionally of one kind (e.g. ``requirements``)."""
        return [
            o
            for o in self.outcomes.values()
            if o.flow == flow_id and (kind is None or self.outcome_kind[o.id] == kind)
        ]

    def choices(self, question: Question) -> list[Choice]:
        if question.choices is not None:
            return question.choices
        # a dangling choices_from has no choices (the loader reports it, naming the question)
        found = self.lists.get(question.choices_from) if question.choices_from else None
        return found.items if found is not None else []

    def params(self, area: str | None = None) -> dict[str, float]:
        """Parameter values: defaults, overridden by the area's directory."""
        values = {p.id: p.value for p in self.parameters.values()}
        if area is not None:
            values.update(self.directory(area).parameters)
        return values

    def directory(self, area: str) -> Directory:
        if area not in self.directories:
            known = ", ".join(sorted(self.directories)) or "none"
            raise KnowledgeError(f"no local directory for area {area!r}; known areas: {known}")
        return self.directories[area]

    def inputs_of(self, leaf: Test | ItemRef) -> list[str]:
        """The questions a leaf depends on (through derived values and other outcomes)."""
        if isinstance(leaf, ItemRef):
            out: list[str] = []
            for sub in leaves(self.outcomes[leaf.item].when):
                out += [q for q in self.inputs_of(sub) if q not in out]
            return out
        return self.value_inputs(leaf.subject)

    def value_inputs(self, name: str) -> list[str]:
        if name in self.questions:
            return [name]
        out: list[str] = []
        for part in self.values[name].of:
            out += [q for q in self.value_inputs(part) if q not in out]
        return out

    def stats(self) -> dict[str, Any]:
        """Counts of what the knowledge holds, for ``dvrules kb stats``."""
        counts: dict[str, Any] = {"version": self.version}
        for flow in self.flows.values():
            reqs = self.outcomes_of(flow.id, "requirements")
            entry: dict[str, Any] = {"questions": len(flow.questions)}
            if reqs:
                scored = [r for r in reqs if getattr(r, "scored", True)]
                entry["requirements"] = len(scored)
                levels = sorted(
                    {r.level for r in scored if isinstance(r, Requirement) and r.level is not None}
                )
                if levels:
                    entry["by_level"] = {
                        lv: sum(1 for r in scored if isinstance(r, Requirement) and r.level == lv)
                        for lv in levels
                    }
                if len(scored) != len(reqs):
                    entry["monitoring"] = len(reqs) - len(scored)
            for kind in ("criteria", "pathways", "actions", "warnings", "gaps"):
                n = len(self.outcomes_of(flow.id, kind))
                if n:
                    entry[kind] = n
            counts[flow.id] = entry
        kinds: dict[str, int] = {}
        for d in self.definitions.values():
            kinds[d.kind] = kinds.get(d.kind, 0) + 1
        counts["definitions"] = kinds
        counts["glossary"] = len(self.glossary)
        counts["lists"] = {cl.id: len(cl.items) for cl in self.lists.values()}
        counts["contacts"] = len(self.contacts)
        counts["directories"] = {a: len(d.services) for a, d in self.directories.items()}
        return counts

    def items_with_review_dates(self) -> Iterator[tuple[str, str | None]]:
        for row in self.reviewed_items():
            yield row["id"], row["last_reviewed"]

    def citations(self) -> Iterator[tuple[str, Source]]:
        """Every (item id, citation) in the knowledge, directories included."""
        for coll in (
            self.flows,
            self.questions,
            self.lists,
            self.values,
            self.outcomes,
            self.contacts,
            self.definitions,
            self.glossary,
            self.parameters,
            self.retired,
        ):
            for item in coll.values():
                yield item.id, item.source
        for cl in self.lists.values():
            for ch in cl.items:
                if ch.source is not None:
                    yield f"{cl.id}.{ch.id}", ch.source
        for c in self.contacts.values():
            if c.source_statement_source is not None:
                yield c.id, c.source_statement_source
        for f in self.flows.values():
            if f.summary.consent_source is not None:
                yield f.id, f.summary.consent_source
        for area, d in self.directories.items():
            yield f"directory:{area}", d.source
            for s in d.services:
                yield s.id, s.source

    def reviewed_items(self) -> list[dict[str, Any]]:
        """Every contact and every outside fact, with the date it was last checked.

        An outside fact is an item citing an outside source with a page address; a contact
        is listed whether or not it has a review date, since each needs one before it is
        relied on."""
        rows: list[dict[str, Any]] = []
        for c in self.contacts.values():
            rows.append(
                {
                    "id": c.id,
                    "kind": "contact",
                    "name": c.name,
                    "phone": c.phone,
                    "url": c.source.url,
                    "date": c.source.date,
                    "last_reviewed": c.last_reviewed or c.source.last_reviewed,
                }
            )
        seen = {r["id"] for r in rows}
        for item_id, src in self.citations():
            doc = self.documents.get(src.document)
            outside = doc is not None and doc.kind in ("fact_sheet", "outside")
            if item_id in seen or not outside or (src.url is None and src.last_reviewed is None):
                continue
            seen.add(item_id)
            rows.append(
                {
                    "id": item_id,
                    "kind": "fact",
                    "document": src.document,
                    "section": src.section,
                    "url": src.url,
                    "date": src.date,
                    "last_reviewed": src.last_reviewed or (doc.last_reviewed if doc else None),
                }
            )
        for d in self.definitions.values():
            if d.id not in seen and d.last_reviewed is not None:
                rows.append(
                    {
                        "id": d.id,
                        "kind": "definition",
                        "url": d.source.url,
                        "last_reviewed": d.last_reviewed,
                    }
                )
        return rows


# ---------------------------------------------------------------------- loading

_SIMPLE = {
    "documents": "documents",
    "flows": "flows",
    "questions": "questions",
    "lists": "lists",
    "values": "values",
    "contacts": "contacts",
    "definitions": "definitions",
    "glossary": "glossary",
    "parameters": "parameters",
    "retired": "retired",
}


def load_knowledge(root: Path | str | None = None, *, cache: bool = True) -> KnowledgeBase:
    """Read every ``*.yaml`` below ``root`` and return a checked knowledge base (from the
    warm-start cache when these exact files were loaded before: ``dvrules.kb_cache``)."""
    root = Path(root) if root is not None else default_knowledge_dir()
    if cache:
        from dvrules.kb_cache import load_cached  # it imports this module

        return load_cached(root, lambda r: load_knowledge(r, cache=False))
    if not root.is_dir():
        raise KnowledgeError(f"{root}: knowledge folder not found")
    kb = KnowledgeBase(root=root)
    files = sorted(
        p
        for p in root.rglob("*.yaml")
        if DIRECTORIES not in p.relative_to(root).parts
        and p.name not in (MANIFEST, SOURCE_SECTIONS)
    )
    if not files:
        raise KnowledgeError(f"{root}: no knowledge files (*.yaml)")
    manifest = read_manifest(root)
    if manifest is not None:
        kb.version = manifest.version
    for path in files:
        _add_file(kb, path, root)
    for path in sorted((root / DIRECTORIES).glob("*.yaml")):
        _add_directory(kb, path, root)
    _check_references(kb)
    return kb


def read_manifest(root: Path) -> Manifest | None:
    """The knowledge's manifest, or None for a knowledge folder without one (version "0")."""
    path = root / MANIFEST
    if not path.exists():
        return None
    raw = read_yaml(path)
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise KnowledgeError(_validation_message(Path(MANIFEST), raw, exc)) from None


def version_problems(root: Path) -> list[str]:
    """Why the knowledge's version is not current: no manifest, files changed since the
    manifest's digest, or no CHANGELOG.md entry for the version. Empty when all is well."""
    manifest = read_manifest(root)
    if manifest is None:
        return [f"{MANIFEST}: missing (the knowledge's version and content digest)"]
    problems = []
    digest = content_digest(root)
    if manifest.content_sha256 != digest:
        problems.append(
            f"{MANIFEST}: the knowledge changed since version {manifest.version}: raise the "
            f"version (patch: wording or a corrected threshold; minor: new items or questions; "
            f"major: an id renamed or removed, or a result field changed), add its entry to "
            f"CHANGELOG.md, and set content_sha256: {digest}"
        )
    changelog = root / "CHANGELOG.md"
    if not changelog.exists() or f"## {manifest.version}" not in changelog.read_text():
        problems.append(
            f"CHANGELOG.md: no entry '## {manifest.version}' for the version in {MANIFEST}"
        )
    return problems


def content_digest(root: Path) -> str:
    """SHA-256 over every knowledge file but the manifest (relative path and bytes, in path
    order): what the manifest's ``content_sha256`` must equal for the version to be current."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*.yaml") if p.name != MANIFEST):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _add(kb: KnowledgeBase, table: dict[str, Any], item: Any, where: str, kind: str) -> None:
    if item.id in kb.origin and (item.id in table or kind not in ("questions", "values")):
        raise KnowledgeError(
            f"{where}: {kind} item {item.id}: duplicate id "
            f"(already defined in {kb.origin[item.id]})"
        )
    table[item.id] = item
    kb.origin[item.id] = where


def _add_file(kb: KnowledgeBase, path: Path, root: Path) -> None:
    where = str(path.relative_to(root))
    raw = read_yaml(path)
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise KnowledgeError(f"{where}: the file must be a mapping of item lists")
    if "version" in raw:
        raise KnowledgeError(
            f"{where}: version: the knowledge's version is kept only in "
            f"{MANIFEST} (one version for the whole knowledge)"
        )
    try:
        data = KnowledgeFile.model_validate(raw)
    except ValidationError as exc:
        raise KnowledgeError(_validation_message(Path(where), raw, exc)) from None
    for key, attr in _SIMPLE.items():
        for item in getattr(data, key):
            _add(kb, getattr(kb, attr), item, where, key)
    for kind in OUTCOME_KINDS:
        for item in getattr(data, kind):
            _add(kb, kb.outcomes, item, where, kind)
            kb.outcome_kind[item.id] = kind


def _add_directory(kb: KnowledgeBase, path: Path, root: Path) -> None:
    where = str(path.relative_to(root))
    raw = read_yaml(path)
    try:
        directory = Directory.model_validate(raw)
    except ValidationError as exc:
        raise KnowledgeError(_validation_message(Path(where), raw, exc)) from None
    if directory.area != path.stem:
        raise KnowledgeError(f"{where}: area {directory.area!r} must match the file name")
    seen: set[str] = set()
    for service in directory.services:
        if service.id in seen:
            raise KnowledgeError(f"{where}: service {service.id}: duplicate id")
        seen.add(service.id)
    kb.directories[directory.area] = directory
    kb.origin[f"directory:{directory.area}"] = where


def _check_references(kb: KnowledgeBase) -> None:
    problems: list[str] = []

    def bad(item_id: str, msg: str) -> None:
        problems.append(f"{kb.origin.get(item_id, '?')}: {item_id}: {msg}")

    def check_source(item_id: str, source: Any) -> None:
        if source is not None and source.document not in kb.documents:
            bad(item_id, f"source document {source.document!r} is not in sources.yaml")

    clash = set(kb.questions) & set(kb.values)
    for name in sorted(clash):
        bad(name, "a question and a derived value share this id")

    for coll in (
        kb.flows,
        kb.questions,
        kb.lists,
        kb.values,
        kb.outcomes,
        kb.contacts,
        kb.definitions,
        kb.glossary,
        kb.parameters,
        kb.retired,
    ):
        for item in coll.values():
            check_source(item.id, item.source)
    for c in kb.contacts.values():
        check_source(c.id, c.source_statement_source)
    for f in kb.flows.values():
        check_source(f.id, f.summary.consent_source)
    for cl in kb.lists.values():
        for ch in cl.items:
            check_source(cl.id, ch.source)
    for item_id, src in kb.citations():
        doc = kb.documents.get(src.document)
        if (
            doc is not None
            and doc.kind == "fact_sheet"
            and (src.url is None or src.last_reviewed is None)
        ):
            bad(
                item_id,
                f"a fact from {src.document} cites the page it was read at (url) "
                "and when it was last checked (last_reviewed)",
            )

    for r in kb.retired.values():
        if r.flow not in kb.flows:
            bad(r.id, f"flow {r.flow!r} is not defined")
            continue
        if r.id in kb.questions:
            bad(r.id, "a retired answer id cannot also be a question")
        for new in r.replaced_by:
            if new not in kb.flows[r.flow].questions:
                bad(r.id, f"replacement {new!r} is not a question of flow {r.flow}")

    in_flow: dict[str, set[str]] = {}
    for flow in kb.flows.values():
        seen: set[str] = set()
        for qid in flow.questions:
            if qid not in kb.questions:
                bad(flow.id, f"question {qid!r} is not defined")
            if qid in seen:
                bad(flow.id, f"question {qid!r} is listed twice")
            seen.add(qid)
            in_flow.setdefault(qid, set()).add(flow.id)
    for q in kb.questions.values():
        if q.id not in in_flow:
            bad(q.id, "question is in no flow's questions list")
        if q.choices_from is not None and q.choices_from not in kb.lists:
            bad(q.id, f"choices_from {q.choices_from!r} is not a list")
        if q.definition is not None and q.definition not in kb.definitions:
            bad(q.id, f"definition {q.definition!r} is not defined")
        if q.type in ("choice", "multi_choice"):
            ids = [c.id for c in kb.choices(q)] if q.choices_from in kb.lists or q.choices else []
            if len(ids) != len(set(ids)):
                bad(q.id, "duplicate choice ids")
        if q.prefill is not None:
            bad_prefill = _prefill_problem(kb, q.prefill)
            if bad_prefill:
                bad(q.id, bad_prefill)
        if q.ask_when is not None:
            for flow_id in in_flow.get(q.id, ()):
                _check_condition(kb, q.ask_when, flow_id, q.id, bad)

    for flow in kb.flows.values():
        if flow.summary.notice is not None and flow.summary.notice not in kb.definitions:
            bad(flow.id, f"summary notice {flow.summary.notice!r} is not a definition")
        if flow.summary.score_value is not None and flow.summary.score_value not in kb.values:
            bad(flow.id, f"summary score_value {flow.summary.score_value!r} is not a value")

    for v in kb.values.values():
        for part in v.of:
            if part not in kb.questions and part not in kb.values:
                bad(v.id, f"input {part!r} is neither a question nor a value")
        if v.op == "rate" and (len(v.of) != 2 or v.per is None):
            bad(v.id, "a rate takes two inputs and 'per'")
        if v.op == "shortfall" and (len(v.of) != 2 or not v.per or v.target is None):
            bad(v.id, "a shortfall takes two inputs, 'per' and 'target'")

    for o in kb.outcomes.values():
        if o.flow not in kb.flows:
            bad(o.id, f"flow {o.flow!r} is not defined")
            continue
        _check_condition(kb, o.when, o.flow, o.id, bad)
        if isinstance(o, Requirement) and o.applies_when is not None:
            _check_condition(kb, o.applies_when, o.flow, o.id, bad)
        for d in o.definitions:
            if d not in kb.definitions:
                bad(o.id, f"definition {d!r} is not defined")
        if isinstance(o, Pathway):
            for contact_id in o.contacts:
                if contact_id not in kb.contacts:
                    bad(o.id, f"contact {contact_id!r} is not defined")
            for rule in o.urgency_rules:
                _check_condition(kb, rule.when, o.flow, o.id, bad)

    _check_cycles(kb, bad)

    known_kinds = {s for o in kb.outcomes.values() if isinstance(o, Pathway) for s in o.services}
    for area, directory in kb.directories.items():
        where = f"directory:{area}"
        check_source(where, directory.source)
        for key in directory.parameters:
            if key not in kb.parameters:
                bad(where, f"parameter {key!r} is not defined")
        if directory.parameters and directory.parameters_source is None:
            bad(where, "parameters need a parameters_source")
        for s in directory.services:
            check_source(where, s.source)
            for kind in s.services:
                if kind not in known_kinds:
                    bad(where, f"service {s.id}: kind {kind!r} matches no pathway's services")

    if problems:
        raise KnowledgeError("knowledge is not valid:\n  " + "\n  ".join(problems))


def _prefill_problem(kb: KnowledgeBase, prefill: str) -> str | None:
    """Why a ``prefill`` string does not name a figure another flow's result has, if it does not."""
    flow_id, _, key = prefill.partition(".")
    if flow_id not in kb.flows:
        return (
            f"prefill {prefill!r}: {flow_id!r} is not a flow (write FLOW.summary_key; "
            f"flows: {', '.join(kb.flows)})"
        )
    keys = SUMMARY_KEYS[kb.flows[flow_id].summary.kind]
    if key not in keys:
        return (
            f"prefill {prefill!r}: {key!r} is not in the summary of flow {flow_id} "
            f"(its summary has: {', '.join(keys) or 'nothing to copy'})"
        )
    return None


def _check_condition(kb: KnowledgeBase, cond: Any, flow_id: str, owner: str, bad: Any) -> None:
    flow_questions = set(kb.flows[flow_id].questions)
    for leaf in leaves(cond):
        if isinstance(leaf, ItemRef):
            target = kb.outcomes.get(leaf.item)
            if target is None:
                bad(owner, f"refers to unknown item {leaf.item!r}")
            elif target.flow != flow_id:
                bad(owner, f"refers to {leaf.item!r} of another flow")
            continue
        for operand in (leaf.at_least, leaf.at_most, leaf.more_than, leaf.less_than):
            if isinstance(operand, ParamRef):
                if operand.param not in kb.parameters:
                    bad(owner, f"parameter {operand.param!r} is not defined")
                    continue
                operand = kb.parameters[operand.param].value
            if operand is not None and operand != 0 and not 0.001 <= abs(operand) <= 1e9:
                bad(
                    owner,
                    f"threshold {operand} is outside what the engine compares exactly "
                    "(0, or 0.001 to 1,000,000,000 in size)",
                )
        if leaf.answer is not None:
            q = kb.questions.get(leaf.answer)
            if q is None or leaf.answer not in flow_questions:
                bad(owner, f"tests {leaf.answer!r}, which is not a question of flow {flow_id}")
                continue
            _check_test_fits(kb, leaf, q, owner, bad)
        else:
            if leaf.value not in kb.values:
                bad(owner, f"tests value {leaf.value!r}, which is not defined")
                continue
            missing = [q for q in kb.value_inputs(leaf.value) if q not in flow_questions]
            if missing:
                bad(owner, f"value {leaf.value!r} needs {missing}, not questions of {flow_id}")
            if leaf.op not in ("at_least", "at_most", "more_than", "less_than", "is_"):
                bad(owner, f"a value is tested with a comparison, not {leaf.op.rstrip('_')}")


def _check_test_fits(kb: KnowledgeBase, leaf: Test, q: Question, owner: str, bad: Any) -> None:
    op = leaf.op
    choice_ids = {c.id for c in kb.choices(q)} if q.type in ("choice", "multi_choice") else set()
    fits = {
        "yes_no": op == "is_" and isinstance(leaf.is_, bool),
        "number": op in ("at_least", "at_most", "more_than", "less_than")
        or (op == "is_" and isinstance(leaf.is_, (int, float)) and not isinstance(leaf.is_, bool)),
        "choice": (op == "is_" and leaf.is_ in choice_ids)
        or (op == "in_" and set(leaf.in_ or []) <= choice_ids),
        "multi_choice": (op == "count_at_least")
        or (op == "includes" and leaf.includes in choice_ids),
    }
    fits["integer"] = fits["number"]
    if not fits[q.type]:
        bad(
            owner,
            f"test on {q.id!r} ({q.type}) uses {op.rstrip('_')} "
            f"{leaf.operand!r}, which does not fit the question",
        )


def _check_cycles(kb: KnowledgeBase, bad: Any) -> None:
    state: dict[str, int] = {}

    def visit(item_id: str, path: list[str]) -> None:
        if state.get(item_id) == 2:
            return
        if state.get(item_id) == 1:
            bad(item_id, "item references form a cycle: " + " -> ".join(path + [item_id]))
            return
        state[item_id] = 1
        for leaf in leaves(kb.outcomes[item_id].when):
            if isinstance(leaf, ItemRef) and leaf.item in kb.outcomes:
                visit(leaf.item, path + [item_id])
        state[item_id] = 2

    for oid in kb.outcomes:
        visit(oid, [])


def dependency_order(kb: KnowledgeBase, outcomes: list[Outcome]) -> list[Outcome]:
    """Outcomes ordered so that every item comes after the items it refers to."""
    done: dict[str, Outcome] = {}

    def visit(o: Outcome) -> None:
        if o.id in done:
            return
        for leaf in leaves(o.when):
            if isinstance(leaf, ItemRef):
                visit(kb.outcomes[leaf.item])
        done[o.id] = o

    for o in outcomes:
        visit(o)
    return list(done.values())
