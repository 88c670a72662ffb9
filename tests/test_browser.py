"""The built micro book in headless Chromium (Debian package ``chromium``): pages load, figures show, no console errors.

Skipped (with the reason) when Chromium is not installed; ``.ci/run`` installs it.
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
from bookbuild import built_book

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
FINDING_PAGE = "book/executed/02_recovery_by_emphasis.html"

# Injected first in <head> of a copy of the page: records script errors, console.error calls and
# failed resource loads, and after the load event writes what it saw into <body data-probe="...">.
PROBE = """<script>
window.__probe_errors = [];
window.addEventListener('error', function (e) {
  var t = e.target, src = t && (t.src || t.href);
  window.__probe_errors.push(src ? 'failed to load ' + src : 'script error: ' + e.message);
}, true);
(function () { var orig = console.error; console.error = function () {
  window.__probe_errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
  orig.apply(console, arguments); }; })();
window.addEventListener('load', function () { setTimeout(function () {
  var imgs = Array.prototype.slice.call(document.images);
  document.body.setAttribute('data-probe', JSON.stringify({
    title: document.title,
    images: imgs.length,
    loaded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    visible: imgs.filter(function (i) {
      var r = i.getBoundingClientRect(); return r.width > 50 && r.height > 50; }).length,
    errors: window.__probe_errors }));
}, 500); });
</script>"""

REQUIRED = os.environ.get("UNPACT_REQUIRE_CHROMIUM") == "1"  # set by .ci/run: there a missing chromium is a failure
pytestmark = [pytest.mark.book,
              pytest.mark.skipif(CHROMIUM is None and not REQUIRED,
                                 reason="chromium not installed (apt-get install chromium)")]


@pytest.fixture(scope="session")
def html_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_book(tmp_path_factory) / "_build" / "html"


def _chromium(args: list[str], profile_dir: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is required (UNPACT_REQUIRE_CHROMIUM=1) but not installed"
    cmd = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile_dir}", "--window-size=1280,1600",
           "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _probe(html_dir: Path, page: str, tmp_path: Path) -> tuple[dict, str]:
    """Load a probed copy of ``page`` (same folder, so relative links resolve); return the probe record and
    Chromium's log."""
    original = html_dir / page
    probed = original.with_name(f"_probe_{original.name}")
    probed.write_text(original.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    try:
        proc = _chromium(["--enable-logging=stderr", "--v=0", "--dump-dom", probed.as_uri()],
                         tmp_path / "chrome-profile")
    finally:
        probed.unlink()
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert found, f"{page}: the page never finished loading"
    return json.loads(html.unescape(found.group(1))), proc.stderr


def _local_errors(record: dict, log: str) -> list[str]:
    """Errors of the page itself; failed loads of remote resources (e.g. MathJax from a CDN, offline here) are not
    the book's."""
    errors = [e for e in record["errors"] if not re.match(r"failed to load https?://", e)]
    return errors + [line for line in log.splitlines() if "CONSOLE" in line and "Uncaught" in line]


@pytest.mark.parametrize("page", ["index.html", FINDING_PAGE])
def test_screenshot(html_dir: Path, page: str, tmp_path: Path) -> None:
    shot = html_dir.parent / "screenshots" / (page.replace("/", "_") + ".png")
    shot.parent.mkdir(exist_ok=True)
    proc = _chromium([f"--screenshot={shot}", (html_dir / page).as_uri()], tmp_path / "chrome-profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, f"{shot}: not a rendered page"


def test_index_redirects_to_the_introduction(html_dir: Path, tmp_path: Path) -> None:
    proc = _chromium(["--dump-dom", (html_dir / "index.html").as_uri()], tmp_path / "chrome-profile")
    assert "The unlearning dilemma, reproduced" in proc.stdout


def test_introduction_loads_without_console_errors(html_dir: Path, tmp_path: Path) -> None:
    record, log = _probe(html_dir, "book/intro.html", tmp_path)
    assert record["title"].startswith("The unlearning dilemma, reproduced")
    assert _local_errors(record, log) == []


def test_finding_page_shows_its_figure_without_console_errors(html_dir: Path, tmp_path: Path) -> None:
    record, log = _probe(html_dir, FINDING_PAGE, tmp_path)
    assert record["title"].startswith("Finding 2")
    assert record["images"] >= 1 and record["loaded"] == record["images"] and record["visible"] >= 1, record
    assert _local_errors(record, log) == []
