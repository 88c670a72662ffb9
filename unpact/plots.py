"""Figures of the findings, one colour per method everywhere (``METHOD_COLORS``).

Every function takes a tidy summary frame from ``unpact.findings`` and returns a matplotlib
``Figure`` (built without pyplot, so nothing is shown or kept open behind the caller's back:
``show(fig)`` in a notebook, or ``fig.savefig(path)``). Points carry their 95% CI as
error bars; titles say what a higher value means. Methods keep one colour in every figure:
the GA family in blues, the NPO family in oranges, the other methods in distinct hues, the base
model in grey; an unknown method gets a stable colour from a fallback palette. Where the marker
does not already encode another variable (token source, word class, benchmark), it encodes the
method's family (``method_marker``), so families stay apart in greyscale too.

Designed for the book's page: every figure is at most ``PAGE_WIDTH_IN`` wide (shown at
``PAGE_DPI``), panels wrap into at most three columns, every panel's axes are labelled with their
unit (directly, through a shared axis, or by the figure's common label).
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from unpact.errors import UsageError

METHOD_COLORS: dict[str, str] = {
    "base": "#4d4d4d",
    "ga": "#08519c",
    "ga_gdr": "#3182bd",
    "ga_klr": "#6baed6",
    "npo": "#a63603",
    "npo_gdr": "#e6550d",
    "npo_klr": "#fdae6b",
    "simnpo": "#c51b7d",
    "idk_dpo": "#6a51a3",
    "task_vector": "#238b45",
    "rmu": "#8c6d31",
}
_FALLBACK = sns.color_palette("tab20", 20).as_hex()
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_FAMILY_MARKERS = {"base": "X", "ga": "o", "npo": "s"}
_OTHER_MARKER = "D"
_STYLE = "whitegrid"
PAGE_WIDTH_IN = 7.5  # the book's content column: figures shown in the book are at most this wide
PAGE_DPI = 110       # at 7.5 in: 825 px, shown at >= 80% of its size in the 1280 px layout
MAX_COLUMNS = 3      # panels wrap into rows of at most this many


def method_color(method: str) -> str:
    """The method's colour: ``METHOD_COLORS`` or a stable fallback (same name, same colour)."""
    return METHOD_COLORS.get(method, _FALLBACK[zlib.crc32(method.encode()) % len(_FALLBACK)])


def method_family(method: str) -> str:
    """``ga`` for GA and its regularised variants (``ga_gdr``, ``ga_klr``), ``npo``, ``base``; else ``other``."""
    head = method.split("_")[0]
    return head if head in _FAMILY_MARKERS else "other"


def method_marker(method: str) -> str:
    """The marker of the method's family: o GA family, s NPO family, X base model, D every other method."""
    return _FAMILY_MARKERS.get(method_family(method), _OTHER_MARKER)


def method_order(methods: Sequence[str]) -> list[str]:
    """Distinct methods in ``METHOD_COLORS`` order, unknown ones after, sorted."""
    present = list(dict.fromkeys(methods))
    known = [m for m in METHOD_COLORS if m in present]
    return known + sorted(m for m in present if m not in METHOD_COLORS)


def _require(frame: pd.DataFrame, what: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(f"{what}: missing column(s) {', '.join(missing)}; has: {', '.join(map(str, frame.columns))}")


def _errors(rows: pd.DataFrame, value: str, low: str, high: str) -> np.ndarray:
    """Asymmetric error bar lengths (2, n) from CI bounds; NaN bounds draw no bar."""
    v = rows[value].to_numpy(float)
    return np.vstack([v - rows[low].to_numpy(float), rows[high].to_numpy(float) - v]).clip(min=0)


SPLIT_ORDER = ("forget", "retain", "general")


def _facet_values(frame: pd.DataFrame, column: str | None) -> list[object]:
    """Panel values: splits in ``SPLIT_ORDER``, anything else sorted."""
    if column is None:
        return [None]
    values = list(dict.fromkeys(frame[column].sort_values()))
    if set(values) <= set(SPLIT_ORDER):
        return [v for v in SPLIT_ORDER if v in values]
    return values


def _grid(n_rows: int, n_cols: int, height: float = 2.4, sharex: bool = False,
          sharey: bool | Literal["row"] = True) -> tuple[Figure, np.ndarray]:
    """A ``n_rows`` x ``n_cols`` grid of panels, the page's width, ``height`` inches per row plus room for titles."""
    fig = Figure(figsize=(PAGE_WIDTH_IN, height * n_rows + 1.0), layout="constrained")
    return fig, fig.subplots(n_rows, n_cols, squeeze=False, sharex=sharex, sharey=sharey)


def _wrapped(n_panels: int, height: float = 2.4, sharey: bool = True) -> tuple[Figure, list[Axes]]:
    """``n_panels`` panels wrapped into rows of at most ``MAX_COLUMNS``; the unused cells of the last row removed."""
    n_cols = min(n_panels, MAX_COLUMNS)
    fig, grid = _grid(-(-n_panels // n_cols), n_cols, height, sharey=sharey)
    axes = list(grid.ravel())
    for ax in axes[n_panels:]:
        ax.remove()
    return fig, axes[:n_panels]


def _first_column(ax: Axes) -> bool:
    """Whether ``ax`` is in the grid's first column (where a row's shared y axis is labelled)."""
    spec = ax.get_subplotspec()
    return spec is None or spec.is_first_col()


def _method_points(
    ax: Axes,
    rows: pd.DataFrame,
    methods: list[str],
    value: str,
    low: str,
    high: str,
    offset: float = 0.0,
    marker: str | None = None,
    filled: bool = True,
) -> None:
    """One point with CI error bar per row, x = method position (+ offset), coloured by method;
    ``marker`` None = the method's family marker."""
    for _, row in rows.iterrows():
        colour = method_color(str(row["method"]))
        ax.errorbar(
            methods.index(row["method"]) + offset, row[value],
            yerr=_errors(row.to_frame().T, value, low, high), fmt=marker or method_marker(str(row["method"])),
            color=colour, ecolor=colour, markerfacecolor=colour if filled else "white", markersize=6, capsize=2,
            linewidth=1.2,
        )
    ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right", fontsize=7)
    ax.set_xlim(-0.6, len(methods) - 0.4)
    ax.set_xlabel("unlearning method", fontsize=8)


def plot_rate_by_method(
    summary: pd.DataFrame,
    what: str,
    higher_means: str,
    value: str = "rate",
    facet: str | None = "domain",
    low: str = "ci_low",
    high: str = "ci_high",
    unit: str = "share of items",
) -> Figure:
    """A rate (or mean) per method with its CI, one panel per ``facet`` value (e.g. domain).

    ``what`` names the quantity ("recovery rate"), ``higher_means`` says what a higher value
    means ("more forgotten knowledge recovered"); both go in the title. ``unit`` labels the y axis
    ("share of KeyTokens"). One point per row, marker = the method's family.
    """
    _require(summary, "rate summary", ["method", value, low, high] + ([facet] if facet else []))
    methods = method_order(summary["method"].tolist())
    panels = _facet_values(summary, facet)
    with sns.axes_style(_STYLE):
        fig, axes = _wrapped(len(panels))
        for ax, panel in zip(axes, panels):
            rows = summary if facet is None else summary[summary[facet] == panel]
            _method_points(ax, rows, methods, value, low, high)
            ax.set_title(f"{facet} = {panel}" if facet else "", fontsize=9)
            ax.set_ylabel(unit if _first_column(ax) else "", fontsize=8)
        fig.suptitle(f"{what[:1].upper()}{what[1:]} by method, 95% CI\n(higher = {higher_means})", fontsize=10)
    return fig


def plot_key_vs_control(
    recovery: pd.DataFrame,
    sources: Sequence[str] = ("base_key", "control"),
    facet_col: str = "domain",
    facet_row: str = "style",
) -> Figure:
    """Recovery rate by method for each token source side by side (key vs the random control).

    Input: ``unpact.findings.recovery_rates`` output. Panels: ``facet_row`` x ``facet_col``;
    sources are dodged, with one marker per source (filled for the first, open for the others).
    """
    _require(recovery, "recovery summary", ["method", "source", "rate", "ci_low", "ci_high", facet_col, facet_row])
    unknown = [s for s in sources if s not in set(recovery["source"])]
    if unknown:
        raise UsageError(f"recovery summary has no source(s) {', '.join(unknown)}; "
                         f"present: {', '.join(sorted(map(str, recovery['source'].unique())))}")
    data = recovery[recovery["source"].isin(list(sources))]
    methods = method_order(data["method"].tolist())
    rows_v, cols_v = _facet_values(data, facet_row), _facet_values(data, facet_col)
    width = 0.6 / max(1, len(sources))
    _check_columns(cols_v, "recovery summary", f"{facet_col} values")
    with sns.axes_style(_STYLE):
        fig, axes = _grid(len(rows_v), len(cols_v), height=2.2, sharex=True)
        for i, rv in enumerate(rows_v):
            for j, cv in enumerate(cols_v):
                ax = axes[i, j]
                panel = data[(data[facet_row] == rv) & (data[facet_col] == cv)]
                for k, source in enumerate(sources):
                    offset = (k - (len(sources) - 1) / 2) * width
                    _method_points(ax, panel[panel["source"] == source], methods, "rate", "ci_low", "ci_high",
                                   offset, _MARKERS[k % len(_MARKERS)], filled=k == 0)
                ax.set_title(f"{facet_row} {rv}, {facet_col} {cv}", fontsize=8)
                if i < len(rows_v) - 1:
                    ax.set_xlabel("")
            axes[i, 0].set_ylabel("recovery rate\n(share of items)", fontsize=8)
        _marker_legend(fig, sources, "emphasised tokens")
        fig.suptitle("Recovery under emphasis, key vs control tokens, 95% CI\n"
                     "(higher = more forgotten answers recovered)", fontsize=10)
    return fig


def _marker_legend(fig: Figure, labels: Sequence[str], title: str) -> None:
    """Legend of the dodged series: marker k (filled for the first series, hollow after), in black."""
    handles = [Line2D([], [], marker=_MARKERS[k % len(_MARKERS)], linestyle="", color="black",
                      markerfacecolor="black" if k == 0 else "white", label=label) for k, label in enumerate(labels)]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(labels), title=title, fontsize=8,
               title_fontsize=8)


def plot_contribution_change(change: pd.DataFrame, facet: str = "split") -> Figure:
    """Mean contribution change per method and unit class (e.g. key vs non-key) with CIs.

    Input: ``unpact.findings.contribution_change`` output; one panel per ``facet`` value,
    unit classes dodged with one marker each. Negative = the tokens lost support for the answer.
    """
    _require(change, "contribution summary", ["method", "unit_class", "mean_change", "ci_low", "ci_high", facet])
    methods = method_order(change["method"].tolist())
    classes = list(dict.fromkeys(change["unit_class"]))
    panels = _facet_values(change, facet)
    width = 0.6 / max(1, len(classes))
    with sns.axes_style(_STYLE):
        fig, axes = _wrapped(len(panels))
        for ax, panel in zip(axes, panels):
            rows = change[change[facet] == panel]
            for k, cls in enumerate(classes):
                offset = (k - (len(classes) - 1) / 2) * width
                _method_points(ax, rows[rows["unit_class"] == cls], methods, "mean_change", "ci_low", "ci_high",
                               offset, _MARKERS[k % len(_MARKERS)], filled=k == 0)
            ax.axhline(0.0, color="black", linewidth=0.8)
            ax.set_title(f"{facet} = {panel}", fontsize=9)
            ax.set_ylabel("mean contribution\nchange (nats)" if _first_column(ax) else "",
                          fontsize=8)
        _marker_legend(fig, classes, "prompt tokens")
        fig.suptitle("Contribution change after unlearning, 95% CI\n"
                     "(higher = more support for the gold answer; below 0 = support lost)", fontsize=10)
    return fig


def plot_tradeoff(
    x: pd.DataFrame,
    y: pd.DataFrame,
    x_label: str,
    y_label: str,
    title: str,
    x_value: str = "rate",
    y_value: str = "rate",
    on: Sequence[str] = ("method", "domain"),
) -> Figure:
    """One point per ``on`` group (method x domain) at (x, y) with CI error bars in both directions.

    ``x`` and ``y`` are summary frames with ``x_value``/``y_value`` and ``ci_low``/``ci_high``
    columns, unique by ``on``. Colour = method, marker = domain.
    """
    keys = list(on)
    for frame, name, value in ((x, "x summary", x_value), (y, "y summary", y_value)):
        _require(frame, name, [*keys, value, "ci_low", "ci_high"])
        if frame.duplicated(keys).any():
            raise UsageError(f"{name}: several rows per ({', '.join(keys)}); filter it to one "
                             "(e.g. one emphasis style and token source) before plotting")
    merged = pd.merge(x[[*keys, x_value, "ci_low", "ci_high"]], y[[*keys, y_value, "ci_low", "ci_high"]],
                      on=keys, suffixes=("_x", "_y"))
    if merged.empty:
        raise UsageError(f"x and y summaries share no ({', '.join(keys)}) group")
    xv = x_value if x_value != y_value else f"{x_value}_x"
    yv = y_value if x_value != y_value else f"{y_value}_y"
    domains = list(dict.fromkeys(merged["domain"])) if "domain" in keys else [None]
    with sns.axes_style(_STYLE):
        fig = Figure(figsize=(PAGE_WIDTH_IN, 5.2), layout="constrained")
        ax = fig.subplots()
        for _, row in merged.iterrows():
            colour = method_color(str(row["method"]))
            marker = _MARKERS[domains.index(row["domain"]) % len(_MARKERS)] if domains != [None] else "o"
            one = row.to_frame().T
            ax.errorbar(row[xv], row[yv], xerr=_errors(one, xv, "ci_low_x", "ci_high_x"),
                        yerr=_errors(one, yv, "ci_low_y", "ci_high_y"), fmt=marker, color=colour,
                        ecolor=colour, markersize=8, capsize=3, linewidth=1.2, alpha=0.9)
        method_handles = [Line2D([], [], marker="o", linestyle="", color=method_color(m), label=m)
                          for m in method_order(merged["method"].tolist())]
        domain_handles = [Line2D([], [], marker=_MARKERS[i % len(_MARKERS)], linestyle="", color="grey", label=d)
                          for i, d in enumerate(domains) if d is not None]
        ax.legend(handles=method_handles + domain_handles, loc="center left", bbox_to_anchor=(1.01, 0.5),
                  title="method / domain", fontsize=8)
        ax.set_xlabel(x_label, fontsize=9)
        ax.set_ylabel(y_label, fontsize=9)
        ax.set_title(title, fontsize=10)
    return fig


def plot_dilemma(
    recovery: pd.DataFrame,
    destructive: pd.DataFrame,
    guides: tuple[float, float] = (0.5, 0.5),
    on: Sequence[str] = ("method", "domain"),
) -> Figure:
    """The dilemma plot: recovery rate (x) vs destructive rate (y), one point per method x domain.

    ``recovery``: ``recovery_rates`` output filtered to one row per method x domain (one style
    and token source); ``destructive``: ``destructive_rates`` output. Both axes: higher is worse.
    ``guides`` draw the dashed lines that separate the labelled regions; they are visual guides
    only, not a test: right = "insufficient" (knowledge recoverable), top = "destructive"
    (utility lost), bottom left = the goal, top right = both failures.
    """
    fig = plot_tradeoff(
        recovery, destructive,
        x_label="recovery rate under emphasis, share of items (higher = knowledge still recoverable)",
        y_label="destructive rate on retain/general, share of items\n(higher = more utility lost)",
        title="The unlearning dilemma, 95% CIs (lower-left is the goal)", on=on,
    )
    ax = fig.axes[0]
    gx, gy = guides
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.axvline(gx, color="grey", linestyle="--", linewidth=0.8)
    ax.axhline(gy, color="grey", linestyle="--", linewidth=0.8)
    style: dict[str, Any] = dict(fontsize=9, color="dimgrey", style="italic")
    ax.text((gx + 1) / 2, gy / 2, "insufficient\n(knowledge recoverable)", ha="center", va="center", **style)
    ax.text(gx / 2, (gy + 1) / 2, "destructive\n(utility lost)", ha="center", va="center", **style)
    ax.text(gx / 2, gy / 2, "goal", ha="center", va="center", **style)
    ax.text((gx + 1) / 2, (gy + 1) / 2, "insufficient and\ndestructive", ha="center", va="center", **style)
    return fig


SWEEP_KNOBS = {  # knob: what its values are (the x-axis label)
    "top_k": "top_k (KeyTokens per question)",
    "alpha": "alpha (share of the largest contribution)",
    "attribution": "attribution method",
    "judge": "correctness judge",
    "stop_at": "stop at forget accuracy",
    "organism": "organism variant",
}
_SWEEP_SERIES = (("disruption", "KeyTokens disrupted (finding 1)", "tab:blue", "o"),
                 ("recovery", "recovery, key emphasis (finding 2)", "tab:orange", "s"))


def plot_sweep(sweep: pd.DataFrame) -> Figure:
    """One panel per swept knob (``unpact.findings.robustness.setting_summary`` rows with ``knob``,
    ``value``), wrapped into rows of three: KeyTokens disrupted and key-emphasis recovery with 95% CIs,
    control recovery and KeyToken precision against gold keywords, each against the knob's values."""
    _require(sweep, "sweep", ("knob", "value", "disruption", "recovery", "control_recovery", "keyword_precision"))
    knobs = [k for k in SWEEP_KNOBS if k in set(sweep["knob"])]
    knobs += sorted(set(sweep["knob"]) - set(knobs))
    with sns.axes_style(_STYLE):
        fig, axes = _wrapped(len(knobs), height=2.2)
        for ax, knob in zip(axes, knobs):
            part = sweep[sweep["knob"] == knob]
            x = list(range(len(part)))
            for col, label, colour, marker in _SWEEP_SERIES:
                ax.errorbar(x, part[col], yerr=_errors(part, col, f"{col}_ci_low", f"{col}_ci_high"),
                            marker=marker, capsize=2, label=label, color=colour)
            ax.plot(x, part["control_recovery"], "x--", color="grey", label="recovery, control emphasis")
            ax.plot(x, part["keyword_precision"], "^:", color="tab:green", label="KeyToken precision vs gold keywords")
            ax.set_xticks(x, [str(v) for v in part["value"]], fontsize=7, rotation=30 if len(part) > 3 else 0)
            ax.set_xlim(-0.5, len(part) - 0.5)
            ax.set_xlabel(SWEEP_KNOBS.get(knob, knob), fontsize=8)
            ax.set_ylim(-0.05, 1.05)
            ax.set_ylabel("share (0-1)" if _first_column(ax) else "", fontsize=8)
        fig.legend(handles=axes[0].get_legend_handles_labels()[0], loc="outside lower center", ncols=2, fontsize=8)
        fig.suptitle("Findings 1 and 2 under every swept choice, 95% CI\n"
                     "(higher disruption or recovery = the finding holds more strongly)", fontsize=10)
    return fig


def plot_training_curves(curves: pd.DataFrame) -> Figure:
    """Forget (top) and retain (bottom) accuracy against the optimizer step, one panel column per
    benchmark and one line per method (mean over architectures and seeds), from the per-step logs
    (``unlearning-log.csv`` rows with ``method``, ``domain``; rows without an evaluation are skipped)."""
    _require(curves, "training curves", ("method", "domain", "step", "forget_accuracy", "retain_accuracy"))
    evals = curves.dropna(subset=["forget_accuracy"])
    domains = list(dict.fromkeys(curves["domain"]))
    methods = list(dict.fromkeys(curves["method"]))
    _check_columns(domains, "training curves", "benchmarks")
    with sns.axes_style(_STYLE):
        fig, axes = _grid(2, len(domains), height=2.2, sharex=True)
        for j, domain in enumerate(domains):
            for method in methods:
                g = evals[(evals["domain"] == domain) & (evals["method"] == method)]
                g = g.groupby("step").mean(numeric_only=True)
                for i, col in enumerate(("forget_accuracy", "retain_accuracy")):
                    axes[i, j].plot(g.index, g[col], color=method_color(method), marker=method_marker(method),
                                    markersize=3, linewidth=1.2, label=method)
            axes[0, j].set_title(domain, fontsize=9)
            axes[1, j].set_xlabel("optimizer step", fontsize=8)
        axes[0, 0].set_ylabel("forget accuracy, share\n(lower = forgotten)", fontsize=8)
        axes[1, 0].set_ylabel("retain accuracy, share\n(higher = kept)", fontsize=8)
        _method_legend(fig, methods)
        fig.suptitle("Accuracy during unlearning (evaluated every few steps)", fontsize=10)
    return fig


def _check_columns(values: Sequence[object], what: str, name: str) -> None:
    """A UsageError when more ``values`` than ``MAX_COLUMNS`` would be panel columns side by side."""
    if len(values) > MAX_COLUMNS:
        raise UsageError(f"{what}: {len(values)} {name}, at most {MAX_COLUMNS} fit the page side by side; "
                         f"filter it (present: {', '.join(map(str, values))})")


def _method_legend(fig: Figure, methods: Sequence[str]) -> None:
    """Legend of the methods (colour and family marker) below the panels."""
    handles = [Line2D([], [], color=method_color(m), marker=method_marker(m), markersize=4, label=m)
               for m in method_order(methods)]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(5, len(handles)), fontsize=7)


def plot_depth_effects(effects: pd.DataFrame, x: str = "forget_accuracy") -> Figure:
    """Paired effects against unlearning depth: one panel row per ``effect`` (e.g. key - control, hint -
    plain), one column per benchmark, one line per method with its 95% question-clustered CI band;
    x = forget accuracy at the checkpoint, decreasing to the right (base model -> fully forgotten), or
    ``x="step"`` (optimizer steps; readable where forget accuracy reaches 0 early and later points stack).
    ``effects``: ``unpact.findings.depth.effect_curves`` rows with ``effect`` and ``forget_accuracy`` added
    (mean over architectures and seeds where there are several)."""
    return plot_depth_measures(effects, x, "nats per answer token", "Paired log-probability effects along "
                               "unlearning, 95% CI bands\n(above 0 = the first prompt gives the gold answer more "
                               "probability)", zero_line=True)


def plot_depth_measures(frame: pd.DataFrame, x: str = "forget_accuracy", unit: str = "", title: str = "",
                        zero_line: bool = False) -> Figure:
    """Measures against unlearning depth: one panel row per ``effect`` (the measure's name), one column per
    benchmark (``domain``), one line per method with its 95% CI band (``ci_low``/``ci_high``); x = forget
    accuracy at the checkpoint, decreasing to the right (base model -> fully forgotten), or ``x="step"``.
    ``unit`` goes under each row's name, ``title`` above the figure; ``zero_line`` draws y = 0."""
    _require(frame, "depth measures", ("effect", "method", "domain", x, "value", "ci_low", "ci_high"))
    names = list(dict.fromkeys(frame["effect"]))
    domains = list(dict.fromkeys(frame["domain"]))
    _check_columns(domains, "depth measures", "benchmarks")
    with sns.axes_style(_STYLE):
        fig, axes = _grid(len(names), len(domains), height=2.2, sharex=True, sharey="row")
        for i, name in enumerate(names):
            for j, domain in enumerate(domains):
                ax = axes[i, j]
                part = frame[(frame["effect"] == name) & (frame["domain"] == domain)]
                for method in method_order(part["method"]):
                    g = part[part["method"] == method].groupby("step").mean(numeric_only=True).reset_index()
                    g = g.sort_values(x, ascending=x != "forget_accuracy", kind="stable")
                    ax.plot(g[x], g["value"], marker=method_marker(method), markersize=3, color=method_color(method),
                            label=method)
                    ax.fill_between(g[x], g["ci_low"], g["ci_high"], color=method_color(method), alpha=0.15)
                if zero_line:
                    ax.axhline(0, color="black", linewidth=0.8)
                ax.set_title(domain if i == 0 else "", fontsize=9)
                ax.set_ylabel(f"{name}\n({unit})" if j == 0 and unit else (name if j == 0 else ""), fontsize=8)
                if i == len(names) - 1:
                    ax.set_xlabel("forget accuracy at the\ncheckpoint (deeper ->)" if x == "forget_accuracy"
                                  else "optimizer step", fontsize=8)
        if x == "forget_accuracy":
            axes[0, 0].invert_xaxis()
        _method_legend(fig, list(frame["method"]))
        if title:
            fig.suptitle(title, fontsize=10)
    return fig


def _checkpoint_labels(frame: pd.DataFrame) -> pd.Series:
    """``method`` alone, or ``method (op)`` / ``method (end)`` when the frame has a ``point`` column."""
    if "point" not in frame.columns:
        return frame["method"].astype(str)
    short = {"operating point": " (op)", "end of budget": " (end)"}
    return frame["method"].astype(str) + frame["point"].map(short).fillna("")


def plot_relearning(relearn: pd.DataFrame) -> Figure:
    """Relearning probe: accuracy on the held-out half of the forget set before and after a few steps
    on the other half, per method (``base`` = the model before unlearning; with a ``point`` column, each
    method at its operating point ``(op)`` and at the end of its budget ``(end)``), one panel per benchmark.
    Higher *after* on an unlearned model = the knowledge was hidden, not erased."""
    _require(relearn, "relearning", ("method", "domain", "heldout_before", "heldout_after"))
    domains = list(dict.fromkeys(relearn["domain"]))
    with sns.axes_style(_STYLE):
        fig, axes = _wrapped(len(domains))
        for ax, domain in zip(axes, domains):
            rows = relearn[relearn["domain"] == domain]
            labelled = rows.assign(label=_checkpoint_labels(rows))
            part = labelled.groupby("label", sort=False).mean(numeric_only=True)
            methods = labelled.groupby("label", sort=False)["method"].first()
            ranks = method_order(list(dict.fromkeys(methods)))
            order = sorted(part.index, key=lambda lab: (ranks.index(methods[lab]), lab))
            x = np.arange(len(order))
            ax.bar(x - 0.2, part.loc[order, "heldout_before"], 0.4, color="#bdbdbd", label="before relearning")
            ax.bar(x + 0.2, part.loc[order, "heldout_after"], 0.4, color=[method_color(methods[o]) for o in order],
                   label="after relearning (method colour)")
            ax.set_xticks(x, order, rotation=45, ha="right", fontsize=7)
            ax.set_xlabel("model (base = before unlearning)", fontsize=8)
            ax.set_title(domain, fontsize=9)
            ax.set_ylabel("held-out forget accuracy\n(share of items)" if _first_column(ax) else "",
                          fontsize=8)
        fig.legend(handles=axes[0].get_legend_handles_labels()[0], loc="outside lower center", ncols=2, fontsize=8)
        fig.suptitle("Relearning: a few steps on one half of the forget set; (op) at the operating point,\n"
                     "(end) at the end of budget (higher after = the knowledge came back: hidden, not erased)",
                     fontsize=10)
    return fig


def plot_linear_probe(probe: pd.DataFrame) -> Figure:
    """Linear probe (``unpact.unlearn.linear_probe``): accuracy of the retain-fitted ridge probe on the forget
    items against the layer, one line per model (``base`` black; methods solid at the operating point,
    dotted at the end of the budget; the notebook's table gives each model's greedy forget accuracy), chance
    dashed grey; one panel per benchmark. Probe far above chance with greedy near 0 = hidden, not erased."""
    _require(probe, "linear probe", ("method", "domain", "point", "layer", "accuracy", "chance", "greedy"))
    domains = list(dict.fromkeys(probe["domain"]))
    with sns.axes_style(_STYLE):
        fig, axes = _wrapped(len(domains))
        for ax, domain in zip(axes, domains):
            part = probe[probe["domain"] == domain]
            for (method, point), run in part.groupby(["method", "point"], sort=False):
                run = run.groupby("layer").mean(numeric_only=True).reset_index()
                color = "black" if method == "base" else method_color(str(method))
                style = ":" if point == "end of budget" else "-"
                label = f"{method}{' (end)' if point == 'end of budget' else ''}"
                ax.plot(run["layer"], run["accuracy"], style, marker=method_marker(str(method)), ms=3, color=color,
                        label=label)
            chance = part.groupby("layer")["chance"].mean()
            ax.plot(chance.index, chance.to_numpy(), "--", color="#9e9e9e", label="chance")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("layer (0 = embeddings)", fontsize=8)
            ax.set_title(domain, fontsize=9)
            ax.set_ylabel("probe accuracy on forget items\n(share; fitted on retain items)" if _first_column(ax)
                          else "", fontsize=8)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=6, fontsize=6)
        fig.suptitle("Linear probe on hidden states: is the answer still readable?", fontsize=10)
    return fig


def figure_png(fig: Figure, dpi: int = PAGE_DPI) -> bytes:
    """``fig`` as PNG bytes the way the book shows it (``dpi``, tight bounding box).

    A figure wider than the book's column (``PAGE_WIDTH_IN``) is narrowed to it first (same height;
    the layout re-flows), so the book never shows it at less than half its natural width.
    """
    import io

    width, height = fig.get_size_inches()
    if width > PAGE_WIDTH_IN:
        fig.set_size_inches(PAGE_WIDTH_IN, height)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.04)
    return buffer.getvalue()


def show(fig: Figure, dpi: int = PAGE_DPI) -> None:
    """Display ``fig`` as a PNG (``figure_png``) in a notebook whatever the matplotlib backend (Agg included),
    then close it."""
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    display(Image(data=figure_png(fig, dpi), format="png"))
    plt.close(fig)  # releases pyplot-made figures; a no-op for the others
