"""Machinery behind ``unpact run`` and ``unpact book``.

- :mod:`unpact.book.notebooks`: where the notebooks are, and the parameters their ``parameters`` cell declares.
- :mod:`unpact.book.profiles`: profile YAML files (which notebooks run, with which parameters), validated.
- :mod:`unpact.book.runner`: execute notebooks with papermill, with stamps so unchanged notebooks are skipped.
- :mod:`unpact.book.pages`: book pages generated from results files (status table, parameters, performance, API).
- :mod:`unpact.book.verdict`: the introduction's verdict figure, status cells and "what was found" sentences.
- :mod:`unpact.book.provenance`: the commit, time and code digest a result was measured with; stale checks.
- :mod:`unpact.book.consistency`: pages stating a finding's headline differently from the introduction.
- :mod:`unpact.book.build`: ``jupyter-book build`` with warnings as errors, and an internal-link check.
- Sphinx extensions (listed in ``_config.yml``): :mod:`unpact.book.sphinx_dedupe` (a duplicated theme
  script), :mod:`unpact.book.offline_math` (MathJax served from the book),
  :mod:`unpact.book.sphinx_sources` (notebook pages' source button), :mod:`unpact.book.sphinx_checks`
  (warnings for stale results), :mod:`unpact.book.sphinx_docstrings` (plain-text docstrings as
  reStructuredText), :mod:`unpact.book.sphinx_assets` (page-fit CSS, click-to-zoom figures).

The contract a book notebook ``notebooks/NAME.md`` follows:

1. MyST-markdown text for jupytext, with ``kernelspec: {name: python3, ...}`` in its front matter.
2. Exactly one code cell tagged ``parameters``, made of ``name = literal  # meaning`` lines
   (the meaning feeds the Reproduce chapter's table; keep comments free of ``=``, ``*``, ``>``),
   including ``out_dir``: the folder for its results, which ``unpact run`` sets to
   ``results/<profile>/NAME`` (relative to the repository root, the kernel's working directory).
3. Its last cell writes its key numbers as JSON and tidy CSV into ``out_dir``; the finding
   notebooks (01, 02, 03) also write ``summary.json`` for the introduction's status table (schema
   in :mod:`unpact.book.pages`).
4. Every parameter a profile sets must exist in the parameters cell (``unpact run`` rejects the
   profile otherwise, and ``tests/test_pipeline.py`` checks the built-in profiles).
5. Figures are shown inline (``plt.show()``); anything written to stderr (progress bars,
   warnings) is left out of the book.
"""
