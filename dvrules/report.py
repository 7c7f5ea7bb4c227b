"""Results as readable text or Markdown: headline first, then gaps and next steps, each cited.

Channels that need their own markup (the bots) build on the same result models; this module
serves the terminal and ``assess --format text|markdown`` (e.g. an audit pack).
"""

from __future__ import annotations

from typing import Any

from dvrules.results import AssessmentResult, ReferralResult, Result


def cite_text(source: dict[str, Any]) -> str:
    text = f"{source['document']}, {source['section']}"
    return f"{text}, footnote {source['footnote']}" if source.get("footnote") else text


def headline(result: Result) -> str:
    if isinstance(result, ReferralResult):
        risk = result.risk
        criteria = ", ".join(risk.marac_criteria) or "none met"
        score = "not known" if risk.dash_yes_count is None else str(risk.dash_yes_count)
        return f"Risk: {risk.level} (checklist yes answers: {score}; MARAC criteria: {criteria})"
    s = result.summary
    unknown = sum(1 for r in result.requirements if r.status == "unknown")
    # only what is known to be met counts, so say how provisional a figure is
    pending = f"; {unknown} not yet known" if unknown else ""
    if "level_attained" in s:
        return f"Level attained: {s['level_attained']} of {len(result.levels or [])}{pending}"
    if "score" in s:
        return f"BVPI 225 score: {s['score']} ({s['yes']} of {s['total']} fully achieved{pending})"
    return f"Standards met: {s['met']} of {s['total']}{pending}"


def act_now(result: Result) -> list[tuple[str, str, str]]:
    """Referrals to make immediately, as (id, title, citation): a channel shows these the
    moment they apply, without waiting for the end of the interview."""
    if not isinstance(result, ReferralResult):
        return []
    return [(r.id, r.title, cite_text(r.source)) for r in result.referrals
            if r.urgency == "immediate"]


STATUS_MARK = {"met": "[met]", "not_met": "[not met]", "unknown": "[unknown]"}


def render(result: Result, markdown: bool = False) -> str:
    """The whole result as text (or Markdown), in the order a reader acts on it."""
    h1, h2, bullet = ("# ", "## ", "- ") if markdown else ("", "", "  - ")
    out = [f"{h1}{result.flow}: {headline(result)}", ""]
    if isinstance(result, ReferralResult):
        out += _referral(result, h2, bullet)
    else:
        out += _assessment(result, h2, bullet)
    out.append(f"Knowledge version {result.knowledge_version}.")
    return "\n".join(out).rstrip() + "\n"


def _because(lines: list[str], bullet: str) -> list[str]:
    return [f"    because: {line}" for line in lines]


def _assessment(result: AssessmentResult, h2: str, bullet: str) -> list[str]:
    out: list[str] = []
    if result.levels:
        out.append(f"{h2}Levels")
        for lv in result.levels:
            mark = "attained" if lv.attained else "not attained"
            out.append(f"{bullet}Level {lv.level}: {lv.met} of {lv.total} met ({lv.percent}%), {mark}")
        out.append("")
    out.append(f"{h2}Requirements")
    for r in result.requirements:
        level = f"L{r.level} " if r.level else ""
        out.append(f"{bullet}{STATUS_MARK[r.status]} {level}{r.title} ({cite_text(r.source)})")
        out += _because(r.because, bullet)
    out.append("")
    if result.monitoring:
        out.append(f"{h2}Monitored alongside (not in the score)")
        for r in result.monitoring:
            out.append(f"{bullet}{STATUS_MARK[r.status]} {r.title} ({cite_text(r.source)})")
        out.append("")
    if result.next_steps:
        out.append(f"{h2}Next steps")
        for step in result.next_steps:
            out.append(f"{bullet}{step.text} ({cite_text(step.source)})")
            out += _because(step.because, bullet)
        out.append("")
    return out


def _referral(result: ReferralResult, h2: str, bullet: str) -> list[str]:
    out: list[str] = []
    if result.risk.notice:
        out += [result.risk.notice.text + f" ({cite_text(result.risk.notice.source)})", ""]
    if result.risk.because:
        out.append(f"{h2}Why this risk level")
        out += [f"{bullet}{line}" for line in result.risk.because]
        out.append("")
    if result.actions:
        out.append(f"{h2}Do now")
        for a in result.actions:
            out.append(f"{bullet}{a.title} ({cite_text(a.source)})")
        out.append("")
    if result.referrals:
        out.append(f"{h2}Refer")
        for r in result.referrals:
            out.append(f"{bullet}[{r.urgency}] {r.title} ({cite_text(r.source)})")
            out += _because(r.why, bullet)
            for c in r.contacts:
                phone = f": {c.phone}" if c.phone else ""
                reviewed = f" (checked {c.last_reviewed})" if c.last_reviewed else ""
                out.append(f"    contact: {c.name}{phone}{reviewed}")
            if r.consent:
                out.append(f"    consent: {r.consent}")
        out.append("")
    if result.warnings:
        out.append(f"{h2}Take care")
        for w in result.warnings:
            out.append(f"{bullet}{w.title}: {w.because} ({cite_text(w.source)})")
        out.append("")
    if result.gaps:
        out.append(f"{h2}Still missing")
        for g in result.gaps:
            out.append(f"{bullet}{g.title}: {g.next_step} ({cite_text(g.source)})")
        out.append("")
    return out
