"""The built micro book read like a reader would, in headless Chromium (Debian package ``chromium``).

Every page of the table of contents is loaded at 1280 px and at 390 px (a phone), with a probe
script injected that waits for MathJax and then records what the reader gets. The screenshots go
to ``_build/screenshots/<width>/`` of the built book (look at them). Checked on every page:

- no horizontal overflow: ``document.documentElement.scrollWidth <= innerWidth`` (wide tables and
  code scroll inside their own box);
- no raw LaTeX in the text (``\\[``, ``\\(``, ``\\mathrm``, ``\\frac``, ``$$`` outside code): math is
  rendered, offline (MathJax ships with the book);
- no figure shown at less than half its natural width, so it stays legible (at 390 px a figure
  may be smaller if it is click-to-zoom, i.e. inside a link to the full-size image);
- no visible table of more than 25 rows;
- no script error, failed load or ``console.error`` (nothing is fetched from the network);
- on the introduction at 1280 px: the verdict figure and the status table end within the first
  1000 px.

Skipped (with the reason) when Chromium is not installed; ``.ci/run`` installs it. With
``UNPACT_READER_BOOK=_build/html`` the same checks read a book already built (the quick book of
``make book``) instead of building the micro one.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from bookbuild import REPO, built_book

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
WIDTHS = (1280, 390)
HEIGHT = 1000
INTRO = "book/intro.html"
FINDING_PAGE = "book/executed/02_recovery_by_emphasis.html"

# Injected first in <head> of a copy of the page: records script errors, console.error calls and
# failed resource loads; after the load event and MathJax's typesetting, writes what a reader
# gets into <body data-probe="...">, or posts it to the frame page that holds it (FRAME).
PROBE = r"""<script>
var MAX_ROWS = 25;
window.__probe_errors = [];
window.addEventListener('error', function (e) {
  var t = e.target, src = t && (t.src || t.href);
  window.__probe_errors.push(src ? 'failed to load ' + src : 'script error: ' + e.message);
}, true);
(function () { var orig = console.error; console.error = function () {
  window.__probe_errors.push('console.error: ' + Array.prototype.join.call(arguments, ' ')); orig.apply(console, arguments); }; })();
function __probe_report() {
  var imgs = Array.prototype.slice.call(document.images);
  var prose = document.querySelector('.bd-article') || document.body;
  var copy = prose.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(function (e) { e.remove(); });
  var latex = copy.textContent.match(/\\\[|\\\(|\\mathrm|\\frac|\$\$/g) || [];
  var width = window.innerWidth;
  var wide = [];
  if (document.documentElement.scrollWidth > width) {
    document.querySelectorAll('body *').forEach(function (e) {
      var r = e.getBoundingClientRect();
      if (r.width > 0 && r.right > width + 1 && wide.length < 5) { wide.push(e.tagName.toLowerCase() + '.' + e.className + ' right=' + Math.round(r.right)); }
    });
  }
  var shrunk = imgs.filter(function (i) { return i.naturalWidth > 0 && i.clientWidth > 0 && i.clientWidth < 0.5 * i.naturalWidth; })
    .map(function (i) { return {src: i.getAttribute('src'), natural: i.naturalWidth, shown: i.clientWidth, zoom: !!i.closest('a[href]')}; });
  var long = Array.prototype.slice.call(document.querySelectorAll('.bd-article table'))
    .filter(function (t) { return t.offsetParent !== null && t.querySelectorAll('tbody tr').length > MAX_ROWS; })
    .map(function (t) { return t.querySelectorAll('tbody tr').length; });
  function bottom(e) { return e ? Math.round(e.getBoundingClientRect().bottom + window.scrollY) : null; }
  var report = JSON.stringify({
    title: document.title, innerWidth: width, scrollWidth: document.documentElement.scrollWidth, wide: wide,
    images: imgs.length, loaded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    visible: imgs.filter(function (i) { var r = i.getBoundingClientRect(); return r.width > 50 && r.height > 50; }).length,
    shrunk: shrunk, latex: latex.slice(0, 5), long_tables: long,
    verdictBottom: bottom(document.querySelector('img[src*="verdict"]')), tableBottom: bottom(document.querySelector('.bd-article table')),
    errors: window.__probe_errors });
  if (window.parent !== window) { window.parent.postMessage(report, '*'); } else { document.body.setAttribute('data-probe', report); }
}
window.addEventListener('load', function () { setTimeout(function () {
  var typeset = window.MathJax && MathJax.startup && MathJax.startup.promise;
  (typeset || Promise.resolve()).then(__probe_report, __probe_report);
}, 500); });
</script>"""

# Headless Chromium lays a page out at least 500 px wide whatever --window-size says, so the page is
# loaded in an <iframe> exactly WIDTH px wide, whose viewport is then the phone's; the probe inside
# posts its record here, and this page writes it into its own <body data-probe>.
FRAME = """<!DOCTYPE html><html><head><style>body {{ margin: 0; }} iframe {{ border: 0; display: block; }}</style></head>
<body><iframe src="{src}" style="width: {width}px; height: {height}px"></iframe>
<script>window.addEventListener('message', function (e) {{ document.body.setAttribute('data-probe', e.data); }});</script>
</body></html>"""

REQUIRED = os.environ.get("UNPACT_REQUIRE_CHROMIUM") == "1"  # set by .ci/run: there a missing chromium is a failure
pytestmark = [pytest.mark.book,
              pytest.mark.skipif(CHROMIUM is None and not REQUIRED,
                                 reason="chromium not installed (apt-get install chromium)")]


def toc_pages() -> list[str]:
    """The HTML page of every file of ``_toc.yml`` (root first, in reading order)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]] + [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    return [f"{f}.html" for f in files]


@pytest.fixture(scope="session")
def html_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The micro book built for the tests, or the built HTML folder named by ``UNPACT_READER_BOOK`` (to read
    a book built otherwise, e.g. the quick book of ``make book``: ``UNPACT_READER_BOOK=_build/html``)."""
    given = os.environ.get("UNPACT_READER_BOOK")
    if given:
        if not (Path(given) / INTRO).is_file():
            pytest.fail(f"UNPACT_READER_BOOK={given!r} holds no built book ({INTRO} is missing)")
        return Path(given).resolve()
    return built_book(tmp_path_factory) / "_build" / "html"


def _chromium(args: list[str], profile_dir: Path, width: int = 1280) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is required (UNPACT_REQUIRE_CHROMIUM=1) but not installed"
    cmd = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile_dir}", f"--window-size={width},{HEIGHT}",
           "--virtual-time-budget=15000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


def _probe(html_dir: Path, page: str, tmp_path: Path, width: int = 1280, screenshot: Path | None = None) -> tuple[dict, str]:
    """Load a probed copy of ``page`` (same folder, so relative links resolve) in a frame ``width`` px wide;
    return the probe record and Chromium's log, and save a screenshot of the first screen if asked."""
    original = html_dir / page
    # one copy per worker and width: pytest-xdist workers probe the same built book side by side
    probed = original.with_name(f"_probe_{os.getpid()}_{width}_{original.name}")
    probed.write_text(original.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    frame = tmp_path / f"frame-{width}.html"
    frame.write_text(FRAME.format(src=probed.as_uri(), width=width, height=HEIGHT), encoding="utf-8")
    shot = [f"--screenshot={screenshot}"] if screenshot else []
    try:
        proc = _chromium(["--enable-logging=stderr", "--v=0", *shot, "--dump-dom", frame.as_uri()], tmp_path / "chrome-profile",
                         max(width, 500))
    finally:
        probed.unlink(missing_ok=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert found, f"{page}: the page never finished loading"
    return json.loads(html.unescape(found.group(1))), proc.stderr


def _errors(record: dict, log: str) -> list[str]:
    """Script errors, failed loads (local or remote: the book must work offline) and uncaught exceptions."""
    return record["errors"] + [line for line in log.splitlines() if "CONSOLE" in line and "Uncaught" in line]


def reader_problems(record: dict, log: str, page: str, width: int) -> list[str]:
    """What a reader at ``width`` px would trip over on ``page`` (see the module docstring)."""
    problems = []
    if record["scrollWidth"] > record["innerWidth"]:
        problems.append(f"page wider than the window ({record['scrollWidth']} > {record['innerWidth']} px): {record['wide']}")
    if record["latex"]:
        problems.append(f"raw LaTeX in the text: {record['latex']}")
    for img in record["shrunk"]:
        if not (width < 600 and img["zoom"]):
            problems.append(f"figure {img['src']} shown at {img['shown']} px, less than half its {img['natural']} px")
    if record["long_tables"]:
        problems.append(f"table(s) of {record['long_tables']} rows shown (more than 25: summarise, or hide the output)")
    if record["loaded"] != record["images"]:
        problems.append(f"{record['images'] - record['loaded']} image(s) did not load")
    problems += _errors(record, log)
    if page == INTRO and width >= 1000:
        for what, key in (("verdict figure", "verdictBottom"), ("status table", "tableBottom")):
            if record[key] is None or record[key] > HEIGHT:
                problems.append(f"the {what} does not end within the first {HEIGHT} px (bottom at {record[key]})")
    return [f"{page} at {width} px: {p}" for p in problems]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_reads_well(html_dir: Path, width: int, tmp_path: Path) -> None:
    shots = html_dir.parent / "screenshots" / str(width)
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    for page in toc_pages():
        shot = shots / (page.replace("/", "_").removesuffix(".html") + ".png")
        record, log = _probe(html_dir, page, tmp_path, width, screenshot=shot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{shot}: no screenshot"
        problems += reader_problems(record, log, page, width)
    assert not problems, "\n".join(problems)


def test_index_redirects_to_the_introduction(html_dir: Path, tmp_path: Path) -> None:
    proc = _chromium(["--dump-dom", (html_dir / "index.html").as_uri()], tmp_path / "chrome-profile")
    assert "The unlearning dilemma, reproduced" in proc.stdout


def test_introduction_shows_the_verdict_figure_first(html_dir: Path, tmp_path: Path) -> None:
    record, _ = _probe(html_dir, INTRO, tmp_path)
    assert record["title"].startswith("The unlearning dilemma, reproduced")
    assert record["verdictBottom"] is not None and record["verdictBottom"] <= HEIGHT, record
    assert record["tableBottom"] is not None and record["verdictBottom"] < record["tableBottom"] <= HEIGHT, record


def test_finding_page_shows_its_figure(html_dir: Path, tmp_path: Path) -> None:
    record, log = _probe(html_dir, FINDING_PAGE, tmp_path)
    assert record["title"].startswith("Finding 2")
    assert record["images"] >= 1 and record["loaded"] == record["images"] and record["visible"] >= 1, record
    assert _errors(record, log) == []


def test_reader_problems_are_reported() -> None:
    """The checks themselves, on a made-up record: each problem is named (no browser needed)."""
    record = {"scrollWidth": 500, "innerWidth": 390, "wide": ["table."], "latex": ["\\mathrm"], "images": 2, "loaded": 2,
              "long_tables": [40],
              "shrunk": [{"src": "a.png", "natural": 1200, "shown": 350, "zoom": True},
                         {"src": "b.png", "natural": 1200, "shown": 350, "zoom": False}],
              "errors": ["failed to load https://cdn.example/x.js"], "verdictBottom": 1200, "tableBottom": None}
    at_390 = "\n".join(reader_problems(record, "", INTRO, 390))
    assert "page wider than the window (500 > 390 px)" in at_390 and "raw LaTeX" in at_390 and "[40] rows" in at_390
    assert "b.png shown at 350 px" in at_390 and "a.png" not in at_390   # a.png is click-to-zoom
    assert "failed to load https://cdn.example/x.js" in at_390 and "first 1000 px" not in at_390
    at_1280 = "\n".join(reader_problems(record, "", INTRO, 1280))
    assert "a.png shown at 350 px" in at_1280 and "verdict figure does not end within the first 1000 px" in at_1280
    assert "status table does not end" in at_1280
