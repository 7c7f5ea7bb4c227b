"""The report in a real browser and on paper: headless Chromium (Debian's ``chromium``) and
poppler's ``pdftoppm``/``pdftotext`` (Debian's ``poppler-utils``).

``.ci/run`` installs both when missing, so in CI (``CI`` set) a missing tool fails the run;
elsewhere these tests are skipped with the reason. Chromium runs with a fresh profile and
every background network feature off (the machine has no network).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

import dvrules.cli as cli
from dvrules import DVRules
from dvrules.audit.render import chromium, chromium_args

from .conftest import extreme_answers

A4_WIDTH_PX = 794  # 210 mm at 96 CSS pixels per inch


def _need(tool: str | None, what: str) -> str:
    if tool:
        return tool
    reason = f"{what} is not installed (.ci/run installs it with apt-get)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must have it")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> str:
    return _need(chromium(), "Chromium (Debian package chromium)")


@pytest.fixture(scope="module")
def poppler() -> str:
    return _need(
        shutil.which("pdftoppm") and shutil.which("pdftotext"),
        "pdftoppm/pdftotext (Debian package poppler-utils)",
    )


@pytest.fixture(autouse=True)
def kept_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DVRULES_ASSESSMENTS", str(tmp_path / "kept"))
    return tmp_path / "kept"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args))


def _save_two_years(tmp_path: Path, rules: DVRules, flow: str) -> str:
    """Last year's and this year's kept assessment; returns this year's id."""
    best = extreme_answers(rules, flow, True)
    last = dict(best)
    if flow == "cdrp":
        best.update(arrest_rate_percent=61, councillor_dv_lead=None)
        last.update(arrest_rate_percent=45, advocates_fte=1)
    else:
        best.update(directory_of_services=None, education_pack=False)
        last.update(education_pack=False, multi_agency_strategy=False)
    for period, answers in (("2025-26", last), ("2026-27", best)):
        path = tmp_path / f"{period}.json"
        path.write_text(json.dumps(answers), encoding="utf-8")
        notes = tmp_path / "notes.json"
        first = next(iter(answers))
        notes.write_text(json.dumps({first: "Minutes of the Forum, March"}), encoding="utf-8")
        saved = run(
            "assessments",
            "save",
            flow,
            "--answers",
            str(path),
            "--area",
            "Camden",
            "--period",
            period,
            "--role",
            "DV co-ordinator",
            "--evidence",
            str(notes),
        )
        assert saved.exit_code == 0, saved.stderr
    return f"{flow}-camden-2026-27"


MEASURE = """
<script>
(function () {
  var width = document.documentElement.clientWidth, over = [];
  document.querySelectorAll('body *').forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width && (r.right > width + 0.5 || r.left < -0.5)) over.push(el.tagName + '.' + el.className);
  });
  var svg = document.querySelector('figure svg.chart'), table = document.querySelector('table.rag-table');
  var out = {
    viewport: width,
    scrollWidth: document.documentElement.scrollWidth,
    overflowing: over.slice(0, 10),
    chart: svg ? {w: svg.getBoundingClientRect().width, h: svg.getBoundingClientRect().height,
                  bars: svg.querySelectorAll('path, rect').length,
                  title: (svg.querySelector('title') || {}).textContent} : null,
    tableRows: table ? table.querySelectorAll('tbody tr').length : 0,
    ragCells: document.querySelectorAll('td.rag').length,
    scripts: document.scripts.length,
    external: Array.from(document.querySelectorAll('[src],[href]')).map(function (e) {
      return e.getAttribute('src') || e.getAttribute('href'); })
  };
  var pre = document.createElement('pre'); pre.id = 'measured';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
})();
</script>
"""


def _measure(browser: str, page: str, width: int) -> dict[str, Any]:
    """Open the page at ``width`` CSS pixels in headless Chromium and measure its layout."""
    with tempfile.TemporaryDirectory(prefix="dvrules-test-") as tmp:
        src = Path(tmp) / "report.html"
        src.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
        args = chromium_args(browser, str(Path(tmp) / "profile")) + [
            f"--window-size={width},1123",
            "--virtual-time-budget=5000",
            "--dump-dom",
            src.as_uri(),
        ]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    m = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert m, f"Chromium printed no measurement (exit {done.returncode}): {done.stderr[-500:]}"
    return json.loads(
        m.group(1)
        .replace("&quot;", '"')
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
    )


@pytest.mark.parametrize("flow", ["cdrp", "bvpi225"])
def test_html_report_in_chromium_has_chart_and_table_and_fits_a4(
    tmp_path: Path, rules: DVRules, browser: str, flow: str
) -> None:
    kept = _save_two_years(tmp_path, rules, flow)
    out = tmp_path / "report.html"
    result = run("report", flow, "--assessment", kept, "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    m = _measure(browser, page, A4_WIDTH_PX)
    assert m["chart"] and m["chart"]["w"] > 300 and m["chart"]["h"] > 50 and m["chart"]["bars"] > 3
    assert m["chart"]["title"]  # the chart says what it shows
    scored = len(rules.assess(flow, {}).requirements)
    assert m["tableRows"] >= scored and m["ragCells"] >= scored
    assert m["scrollWidth"] <= m["viewport"] and m["overflowing"] == [], m
    # self-contained: no scripts and nothing fetched from anywhere
    assert m["scripts"] == 1 and m["external"] == []  # the one script is the test's own
    assert page.count("<svg") == 2  # the summary chart and the change since last period
    # a phone-width window still does not scroll sideways
    narrow = _measure(browser, page, 400)
    assert narrow["scrollWidth"] <= narrow["viewport"], narrow["overflowing"]


def test_pdf_report_prints_on_a4_with_its_text(
    tmp_path: Path, rules: DVRules, browser: str, poppler: str
) -> None:
    kept = _save_two_years(tmp_path, rules, "cdrp")
    out = tmp_path / "report.pdf"
    result = run("report", "cdrp", "--assessment", kept, "--format", "pdf", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    for expected in (
        rules.kb.flow("cdrp").title,
        "Camden",
        "2026-27",
        "Knowledge version",
        "Level attained: 0 of 3",
        "Change since 2025-26",
        "Not known yet",
        "61 per cent of incidents with a power of arrest",
        "Minutes of the Forum, March",
        "In immediate danger: call 999.",
    ):
        assert expected in flat, expected
    pages = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(out), str(pages)], check=True)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) >= 2
    for image in images:
        with Image.open(image) as im:
            w, h = im.size
            assert abs(h / w - 297 / 210) < 0.01  # A4 portrait
            # the right margin (the last 8 mm) is blank on every page: nothing overflows
            margin = im.convert("L").crop((w - round(w * 8 / 210), 0, w, h))
            assert margin.getextrema()[0] > 245, f"{image.name}: something runs into the margin"


def test_pdf_without_chromium_is_a_clear_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVRULES_CHROMIUM", "no-such-browser")
    answers = tmp_path / "a.json"
    answers.write_text("{}", encoding="utf-8")
    result = run(
        "report",
        "cdrp",
        "--answers",
        str(answers),
        "--format",
        "pdf",
        "--out",
        str(tmp_path / "r.pdf"),
    )
    assert result.exit_code == 2 and "needs Chromium" in result.stderr
    assert not (tmp_path / "r.pdf").exists()
