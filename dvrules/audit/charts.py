"""Charts for the audit report, drawn by matplotlib as inline SVG.

SVG keeps the report one self-contained file with no JavaScript; it prints and turns into PDF
as drawn, at any zoom. Text stays text (``svg.fonttype: none``), so screen readers and the PDF's
text layer can read the labels. Colours are paired with hatching and words so the charts still
read in black and white.
"""

from __future__ import annotations

import io
import re
from typing import Any

from dvrules.results import AssessmentResult

GREEN, RED, AMBER, GREY = "#2e7d32", "#c62828", "#f9a825", "#9e9e9e"
WIDTH_IN = 6.6  # fits A4's printable width (about 180 mm) with room to spare

_RC: dict[Any, Any] = {
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "dvrules",
}


def _svg(fig: Any, title: str, salt: str) -> str:
    import matplotlib

    buf = io.StringIO()
    settings: dict[Any, Any] = {**_RC, "svg.hashsalt": salt}
    with matplotlib.rc_context(settings):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # inline: no XML declaration or DOCTYPE
    # ids unique per chart, so two charts on one page never share a clip path
    text = re.sub(r'id="([^"]+)"', rf'id="{salt}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{salt}-\1)", text)
    text = re.sub(r'xlink:href="#([^"]+)"', rf'xlink:href="#{salt}-\1"', text)
    text = text.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" class="chart" ', 1)
    return text.replace(">", f"><title>{_attr(title)}</title>", 1)


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _figure(height: float) -> Any:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        return Figure(figsize=(WIDTH_IN, height))


def levels_chart(result: AssessmentResult) -> str:
    """CDRP: met / not met / not known yet per level, as stacked horizontal bars."""
    rows = [
        (f"Level {lv.level}", lv.met, lv.not_met, lv.unknown, lv.total)
        for lv in result.levels or []
    ]
    return _stacked(rows, "Requirements met, not met and not known yet at each level", "levels")


def standards_chart(result: AssessmentResult) -> str:
    """A flow scored as standards met (minimum standards): one stacked bar."""
    count = {
        w: sum(1 for r in result.requirements if r.status == w)
        for w in ("met", "not_met", "unknown")
    }
    rows = [
        ("Standards", count["met"], count["not_met"], count["unknown"], len(result.requirements))
    ]
    return _stacked(rows, "Standards met, not met and not known yet", "standards")


def _stacked(rows: list[tuple[str, int, int, int, int]], title: str, salt: str) -> str:
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(0.55 * len(rows) + 0.9)
        ax = fig.add_subplot()
        names = [r[0] for r in rows][::-1]
        parts = [
            ("Met", 1, GREEN, ""),
            ("Not met", 2, RED, "//"),
            ("Not known yet", 3, AMBER, ".."),
        ]
        left: list[int] = [0] * len(rows)
        for label, key, colour, hatch in parts:
            values = [int(r[key]) for r in rows][::-1]
            bars = ax.barh(
                names, values, left=left, color=colour, hatch=hatch, edgecolor="white", label=label
            )
            for bar, v in zip(bars, values):
                if v:
                    ax.text(
                        bar.get_x() + bar.get_width() / 2,
                        bar.get_y() + bar.get_height() / 2,
                        str(v),
                        ha="center",
                        va="center",
                        color="black" if key == 3 else "white",
                        fontweight="bold",
                    )
            left = [a + b for a, b in zip(left, values)]
        ax.set_xlabel("requirements")
        ax.set_xlim(0, max((r[4] for r in rows), default=1))
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, frameon=False)
    return _svg(fig, title, salt)


def score_chart(result: AssessmentResult) -> str:
    """BVPI 225: the score now, and how far it could go if every unknown were achieved."""
    import matplotlib

    s = result.summary
    with matplotlib.rc_context(_RC):
        fig = _figure(1.3)
        ax = fig.add_subplot()
        ax.barh(["score"], [s["score"]], color=GREEN, label=f"Score now: {s['score']}%")
        if s.get("score_max", s["score"]) > s["score"]:
            ax.barh(
                ["score"],
                [s["score_max"] - s["score"]],
                left=[s["score"]],
                color=AMBER,
                hatch="..",
                edgecolor="white",
                label=f"Possible if the {s['unknown']} not known yet are achieved: "
                f"up to {s['score_max']}%",
            )
        ax.set_xlim(0, 100)
        ax.set_xlabel("per cent of the 11 BVPI 225 questions fully achieved")
        ax.set_yticks([])
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.6), ncol=1, frameon=False)
    return _svg(
        fig,
        f"BVPI 225 score {s['score']} per cent, possible range up to "
        f"{s.get('score_max', s['score'])} per cent",
        "score",
    )


def change_chart(
    before: AssessmentResult, after: AssessmentResult, before_label: str, after_label: str
) -> str:
    """Change since the previous period: met per level (CDRP), or the score (BVPI 225)."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        if after.levels and before.levels:
            fig = _figure(0.7 * len(after.levels) + 0.9)
            ax = fig.add_subplot()
            names = [f"Level {lv.level}" for lv in after.levels][::-1]
            y = list(range(len(names)))
            b = [lv.met for lv in before.levels][::-1]
            a = [lv.met for lv in after.levels][::-1]
            ax.barh(
                [v + 0.2 for v in y],
                b,
                height=0.38,
                color=GREY,
                hatch="//",
                edgecolor="white",
                label=before_label,
            )
            ax.barh([v - 0.2 for v in y], a, height=0.38, color=GREEN, label=after_label)
            for yy, bv, av in zip(y, b, a):
                ax.text(bv + 0.2, yy + 0.2, str(bv), va="center")
                ax.text(av + 0.2, yy - 0.2, str(av), va="center")
            ax.set_yticks(y, names)
            ax.set_xlim(0, max(lv.total for lv in after.levels) + 1)
            ax.set_xlabel("requirements met")
            ax.xaxis.set_major_locator(_integer_ticks())
            title = "Requirements met at each level, previous period and this one"
        else:
            fig = _figure(1.4)
            ax = fig.add_subplot()
            vals = [before.summary.get("score", 0), after.summary.get("score", 0)]
            bars = ax.barh([before_label, after_label], vals, color=[GREY, GREEN])
            bars[0].set_hatch("//")
            for bar, v in zip(bars, vals):
                ax.text(v + 1, bar.get_y() + bar.get_height() / 2, f"{v}%", va="center")
            ax.set_xlim(0, 110)
            ax.set_xlabel("BVPI 225 score, per cent")
            title = f"BVPI 225 score: {vals[0]} per cent then {vals[1]} per cent"
        if after.levels:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False)
    return _svg(fig, title, "change")


def summary_chart(result: AssessmentResult) -> str:
    if result.levels:
        return levels_chart(result)
    return score_chart(result) if "score" in result.summary else standards_chart(result)
