"""The introduction's verdict at a glance, from each finding's ``summary.json``: a figure and a status table.

Read by :mod:`unpact.book.pages` (schema there). Numbers are shown in one format, two significant
figures (:func:`sig2`); ``n`` is stated in independent questions with the pair count beside it
when the summary gives them (``n_questions``, ``n_pairs``), else as the headline's ``n``.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

from unpact.report import fmt_ci, fmt_sig

PAGE_WIDTH_IN = 6.5   # the content column at 1280 px, so the figure is shown at its natural size
PAGE_DPI = 100
VERDICT_COLOURS = {"reproduced": "#1b7837", "partly": "#b35806", "not reproduced": "#b2182b",
                   "not testable": "#777777"}


def sig2(value: Any) -> str:
    """Two significant figures (``0.94``, ``-0.0075``, ``1.0``); ``n/a`` for a missing or non-finite value."""
    return fmt_sig(value, 2)


def value_ci(point: dict[str, Any]) -> str:
    """``0.94 [0.84, 1.0]`` from a mapping with ``value``, ``ci_low``, ``ci_high`` (as ``unpact.report.fmt_ci``)."""
    return fmt_ci(point.get("value"), point.get("ci_low"), point.get("ci_high"))


def sample_size(summary: dict[str, Any]) -> str:
    """``72 questions (1,440 pairs)``, ``72 questions`` or ``n = 32`` (the headline's own count, unit unstated)."""
    questions, pairs = summary.get("n_questions"), summary.get("n_pairs")
    if isinstance(questions, int):
        return f"{questions:,} questions" + (f" ({pairs:,} pairs)" if isinstance(pairs, int) else "")
    return f"n = {summary['headline']['n']:,}"


def conditions_text(summary: dict[str, Any]) -> str:
    """Each rule condition as ``met``/``not met`` (with its value), ``; ``-separated; empty when none are recorded."""
    parts = []
    for cond in summary.get("conditions") or []:
        mark = "✓ met" if cond.get("met") else "✗ not met"
        value = f" ({sig2(cond['value'])})" if isinstance(cond.get("value"), (int, float)) else ""
        parts.append(f"{mark}: {cond.get('name', '?')}{value}")
    return "; ".join(parts)


def conditions_marks(summary: dict[str, Any]) -> str:
    """The rule's conditions as compact marks, ``(a) ✓ · (b) ✗`` (the status table; the findings list
    below it and the method chapter spell them out)."""
    return " · ".join(f"({'abcdefgh'[i]}) {'✓' if c.get('met') else '✗'}"
                      for i, c in enumerate(summary.get("conditions") or []))


def family_entries(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdict of each model family in a summary: the top level first, then ``by_family`` (each with
    ``family``, default ``organism``, and the ``finding``/``rule`` of the top level)."""
    top = {k: v for k, v in summary.items() if k != "by_family"}
    top.setdefault("family", "organism")
    others = [{"finding": summary["finding"], "rule": summary.get("rule", ""), "family": name, **entry}
              for name, entry in (summary.get("by_family") or {}).items()]
    return [top, *others]


def family_label(entry: dict[str, Any]) -> str:
    """``organism (llama)`` or ``pretrained (smollm2-135m)``: the family and the models it pools."""
    models = ", ".join(entry.get("models") or [])
    return f"{entry.get('family', 'organism')} ({models})" if models else str(entry.get("family", "organism"))


def found_sentence(summary: dict[str, Any]) -> str:
    """What was found, from the results: the verdict, the headline with its CI and n, the control, the detail."""
    h = summary["headline"]
    n = sample_size(summary)
    family = summary.get("family", "organism")
    models = ", ".join(summary.get("models") or [])
    on = f"the {family} models ({models})" if models else f"the {family}"
    text = f"**{summary['verdict'].capitalize()}** on {on}: {h['name']} = {value_ci(h)}, {n}"
    if h.get("direction"):
        text += f" ({h['direction']})"
    control = summary.get("control")
    if isinstance(control, dict):
        text += f"; control ({control.get('name', 'control')}) = {value_ci(control)}"
    text += "."
    if summary.get("conditions"):
        text += f" Conditions: {conditions_text(summary)}."
    if summary.get("detail"):
        text += f" {str(summary['detail']).rstrip('.')}."
    return text


def verdict_figure(summaries: dict[str, dict[str, Any] | None], titles: dict[str, str], path: Path) -> Path:
    """One panel per finding: the headline value with its 95% CI, the control beside it when recorded, the
    rule's threshold (``headline.threshold``) as a dashed line; a PNG of the content column's width
    (6.5 in at 100 dpi: shown unscaled at 1280 px, at more than half its size at 390 px)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(PAGE_WIDTH_IN, 2.4), layout="constrained")
    axes = fig.subplots(1, len(summaries), squeeze=False)[0]
    for ax, (name, summary) in zip(axes, summaries.items(), strict=True):
        ax.tick_params(labelsize=8)
        if summary is None:
            ax.set_title(textwrap.fill(titles[name], 26), fontsize=9, loc="left")
            ax.text(0.5, 0.5, "not run yet", ha="center", va="center", transform=ax.transAxes, color="grey")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        entries = family_entries(summary)
        colour = VERDICT_COLOURS.get(summary["verdict"], "black")
        verdicts = " / ".join(f"{e['family'][:5]}: {e['verdict']}" if len(entries) > 1 else e["verdict"]
                              for e in entries)
        ax.set_title(f"{textwrap.fill(titles[name], 26)}\n{verdicts}", fontsize=8, loc="left", color=colour)
        points: list[tuple[str, dict[str, Any], str, str]] = []
        for e in entries:
            prefix = f"{e['family'][:5]}\n" if len(entries) > 1 else ""
            main = VERDICT_COLOURS.get(e["verdict"], "black")
            points.append((f"{prefix}key" if len(entries) > 1 or "control" in e else "", e["headline"], "o", main))
            if isinstance(e.get("control"), dict):
                points.append((prefix + e["control"].get("label", "control"), e["control"], "s", "dimgrey"))
        shown = []
        for x, (_, point, marker, point_colour) in enumerate(points):
            value, low, high = (_float(point.get(k)) for k in ("value", "ci_low", "ci_high"))
            err = [[max(value - low, 0.0)], [max(high - value, 0.0)]] if math.isfinite(low + high + value) else None
            ax.errorbar([x], [value], yerr=err, fmt=marker, color=point_colour, capsize=4, ms=6)
            ax.annotate(value_ci(point), (x, value), xytext=(7, 7 - 14 * (x % 2)),  # neighbours' labels alternate
                        textcoords="offset points", fontsize=8, va="center")
            shown += [v for v in (value, low, high) if math.isfinite(v)]
        threshold = summary["headline"].get("threshold")
        if isinstance(threshold, (int, float)):
            ax.axhline(threshold, ls="--", lw=1, color="black")
            ax.annotate(f"rule {sig2(threshold)}", (1, threshold), xycoords=("axes fraction", "data"), fontsize=7,
                        ha="right", va="bottom")
            shown.append(float(threshold))
        if shown and min(shown) >= 0 and max(shown) <= 1:   # a rate: show its whole range, not a zoom on the CI
            ax.set_ylim(-0.05, 1.05)
        ax.set_xticks(range(len(points)), [p[0] for p in points], fontsize=7)
        ax.set_xlim(-0.4, len(points) - 0.6 + 1.2)
        ax.set_xlabel(textwrap.fill(summary["headline"]["name"], 30), fontsize=7.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=PAGE_DPI)
    tmp.replace(path)
    return path


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")
