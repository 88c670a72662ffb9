"""A Sphinx extension that warns when the book shows stale results or states a number two ways.

At ``builder-inited`` it reports, as Sphinx warnings (so ``jupyter-book build -W`` fails):

- a benchmark result ``results/benchmarks/*.json`` whose recorded code digest no longer matches
  the benchmark script and the code it measures (:func:`unpact.book.provenance.stale_benchmarks`);
- an executed notebook whose stamp no longer matches the notebook text and the package source
  (:func:`unpact.book.provenance.stale_notebooks`); ``unpact book`` re-executes those first;
- a page that states a finding's headline value and CI differently from the introduction
  (:func:`unpact.book.consistency.book_restatements`).

Benchmark files measured before commit tracking are shown as such on the Performance page, not
warned about; nor are the periodically re-measured ones (:data:`unpact.book.provenance.PERIODIC`),
which the page marks **Stale** when their code changed. Enabled in ``_config.yml`` (``sphinx: extra_extensions``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.util import logging

from unpact.book.consistency import book_restatements
from unpact.book.provenance import stale_benchmarks, stale_notebooks

LOGGER = logging.getLogger(__name__)
BENCHMARKS = Path("results") / "benchmarks"


def warn_stale_results(app: Any) -> None:
    """``builder-inited``: one warning per stale benchmark result or executed notebook of the book's source folder."""
    root = Path(app.srcdir)
    for message in stale_benchmarks(root / BENCHMARKS) + stale_notebooks(root):
        LOGGER.warning("stale result: %s", message, type="unpact", subtype="stale")
    for message in book_restatements(root):
        LOGGER.warning("numbers disagree: %s", message, type="unpact", subtype="consistency")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", warn_stale_results)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
