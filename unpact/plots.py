"""Figures of the findings, one colour per method everywhere (``METHOD_COLORS``).

Every function takes a tidy summary frame from ``unpact.findings`` and returns a matplotlib
``Figure`` (built without pyplot, so nothing is shown or kept open behind the caller's back:
make it a notebook cell's last expression, or ``fig.savefig(path)``). Points carry their 95% CI as
error bars; titles say what a higher value means. Methods keep one colour in every figure:
the GA family in blues, the NPO family in oranges, the other methods in distinct hues, the base
model in grey; an unknown method gets a stable colour from a fallback palette.
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

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
_STYLE = "whitegrid"
PAGE_WIDTH_IN = 7.5  # the book's content column: figures shown in the book are at most this wide
PAGE_DPI = 110       # at 7.5 in: 825 px, shown at >= 80% of its size in the 1280 px layout


def method_color(method: str) -> str:
    """The method's colour: ``METHOD_COLORS`` or a stable fallback (same name, same colour)."""
    return METHOD_COLORS.get(method, _FALLBACK[zlib.crc32(method.encode()) % len(_FALLBACK)])


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


def _grid(n_rows: int, n_cols: int, width: float = 4.2, height: float = 3.2) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width * n_cols, height * n_rows + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False, sharey=True))
    return fig, axes


def _method_points(
    ax: Axes,
    rows: pd.DataFrame,
    methods: list[str],
    value: str,
    low: str,
    high: str,
    offset: float = 0.0,
    marker: str = "o",
    filled: bool = True,
) -> None:
    """One point with CI error bar per row, x = method position (+ offset), coloured by method."""
    for _, row in rows.iterrows():
        colour = method_color(str(row["method"]))
        ax.errorbar(
            methods.index(row["method"]) + offset, row[value],
            yerr=_errors(row.to_frame().T, value, low, high), fmt=marker, color=colour, ecolor=colour,
            markerfacecolor=colour if filled else "white", markersize=7, capsize=3, linewidth=1.5,
        )
    ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right")
    ax.set_xlim(-0.6, len(methods) - 0.4)


def plot_rate_by_method(
    summary: pd.DataFrame,
    what: str,
    higher_means: str,
    value: str = "rate",
    facet: str | None = "domain",
    low: str = "ci_low",
    high: str = "ci_high",
) -> Figure:
    """A rate (or mean) per method with its CI, one panel per ``facet`` value (e.g. domain).

    ``what`` names the quantity ("recovery rate"), ``higher_means`` says what a higher value
    means ("more forgotten knowledge recovered"); both go in the title. One point per row.
    """
    _require(summary, "rate summary", ["method", value, low, high] + ([facet] if facet else []))
    methods = method_order(summary["method"].tolist())
    panels = _facet_values(summary, facet)
    with sns.axes_style(_STYLE):
        fig, axes = _grid(1, len(panels))
        for ax, panel in zip(axes[0], panels):
            rows = summary if facet is None else summary[summary[facet] == panel]
            _method_points(ax, rows, methods, value, low, high)
            ax.set_title(f"{facet} = {panel}" if facet else "")
        axes[0, 0].set_ylabel(what)
        fig.suptitle(f"{what.capitalize()} by method, 95% CI\n(higher = {higher_means})")
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
    with sns.axes_style(_STYLE):
        fig, axes = _grid(len(rows_v), len(cols_v))
        for i, rv in enumerate(rows_v):
            for j, cv in enumerate(cols_v):
                ax = axes[i, j]
                panel = data[(data[facet_row] == rv) & (data[facet_col] == cv)]
                for k, source in enumerate(sources):
                    offset = (k - (len(sources) - 1) / 2) * width
                    _method_points(ax, panel[panel["source"] == source], methods, "rate", "ci_low", "ci_high",
                                   offset, _MARKERS[k % len(_MARKERS)], filled=k == 0)
                ax.set_title(f"{facet_row} = {rv}, {facet_col} = {cv}", fontsize=9)
            axes[i, 0].set_ylabel("recovery rate")
        _marker_legend(fig, sources, "emphasised tokens")
        fig.suptitle("Recovery under emphasis, key vs control tokens, 95% CI\n"
                     "(higher = more forgotten answers recovered)")
    return fig


def _marker_legend(fig: Figure, labels: Sequence[str], title: str) -> None:
    """Legend of the dodged series: marker k (filled for the first series, hollow after), in black."""
    handles = [Line2D([], [], marker=_MARKERS[k % len(_MARKERS)], linestyle="", color="black",
                      markerfacecolor="black" if k == 0 else "white", label=label) for k, label in enumerate(labels)]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(labels), title=title)


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
        fig, axes = _grid(1, len(panels))
        for ax, panel in zip(axes[0], panels):
            rows = change[change[facet] == panel]
            for k, cls in enumerate(classes):
                offset = (k - (len(classes) - 1) / 2) * width
                _method_points(ax, rows[rows["unit_class"] == cls], methods, "mean_change", "ci_low", "ci_high",
                               offset, _MARKERS[k % len(_MARKERS)], filled=k == 0)
            ax.axhline(0.0, color="black", linewidth=0.8)
            ax.set_title(f"{facet} = {panel}")
        axes[0, 0].set_ylabel("mean contribution change (nats)")
        _marker_legend(fig, classes, "prompt tokens")
        fig.suptitle("Contribution change after unlearning, 95% CI\n"
                     "(higher = more support for the gold answer; below 0 = support lost)")
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
        fig = Figure(figsize=(7.5, 6), layout="constrained")
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
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title(title)
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
        x_label="recovery rate under emphasis (higher = knowledge still recoverable)",
        y_label="destructive rate on retain/general (higher = more utility lost)",
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


SWEEP_KNOBS = ("top_k", "alpha", "attribution", "judge", "stop_at", "organism")


def plot_sweep(sweep: pd.DataFrame) -> Figure:
    """One panel per swept knob (``unpact.findings.robustness.setting_summary`` rows with ``knob``,
    ``value``): KeyTokens disrupted and key-emphasis recovery with 95% CIs, control recovery and
    KeyToken precision against gold keywords, each against the knob's values."""
    _require(sweep, "sweep", ("knob", "value", "disruption", "recovery", "control_recovery", "keyword_precision"))
    knobs = [k for k in SWEEP_KNOBS if k in set(sweep["knob"])]
    knobs += sorted(set(sweep["knob"]) - set(knobs))
    fig = Figure(figsize=(4.5 * len(knobs), 3.4), layout="constrained")
    axes = fig.subplots(1, len(knobs), squeeze=False)
    for ax, knob in zip(axes[0], knobs):
        part = sweep[sweep["knob"] == knob]
        x = list(range(len(part)))
        for col, label, colour in (("disruption", "KeyTokens disrupted", "tab:blue"),
                                   ("recovery", "recovery (key)", "tab:orange")):
            ax.errorbar(x, part[col], yerr=_errors(part, col, f"{col}_ci_low", f"{col}_ci_high"),
                        marker="o", capsize=3, label=label, color=colour)
        ax.plot(x, part["control_recovery"], "x--", color="grey", label="recovery (control)")
        ax.plot(x, part["keyword_precision"], "s:", color="tab:green", label="gold precision")
        ax.set_xticks(x, [str(v) for v in part["value"]])
        ax.set_xlabel(knob)
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(f"sweep over {knob} (higher = see legend)")
    axes[0, 0].legend(fontsize=7)
    return fig


def plot_training_curves(curves: pd.DataFrame) -> Figure:
    """Forget (top) and retain (bottom) accuracy against the optimizer step, one panel column per
    benchmark and one line per method (mean over architectures and seeds), from the per-step logs
    (``unlearning-log.csv`` rows with ``method``, ``domain``; rows without an evaluation are skipped)."""
    _require(curves, "training curves", ("method", "domain", "step", "forget_accuracy", "retain_accuracy"))
    evals = curves.dropna(subset=["forget_accuracy"])
    domains = list(dict.fromkeys(curves["domain"]))
    methods = list(dict.fromkeys(curves["method"]))
    fig = Figure(figsize=(4.2 * len(domains), 6), layout="constrained")
    axes = fig.subplots(2, len(domains), squeeze=False, sharey=True)
    for j, domain in enumerate(domains):
        for method in methods:
            g = evals[(evals["domain"] == domain) & (evals["method"] == method)].groupby("step").mean(numeric_only=True)
            axes[0, j].plot(g.index, g["forget_accuracy"], color=method_color(method), label=method)
            axes[1, j].plot(g.index, g["retain_accuracy"], color=method_color(method), label=method)
        axes[0, j].set_title(f"{domain}: forget accuracy (lower = forgotten)")
        axes[1, j].set_title(f"{domain}: retain accuracy (higher = kept)")
        axes[1, j].set_xlabel("optimizer step")
    axes[0, 0].legend(fontsize=7, ncol=2)
    return fig


def plot_depth_effects(effects: pd.DataFrame, x: str = "forget_accuracy") -> Figure:
    """Paired effects against unlearning depth: one panel row per ``effect`` (e.g. key - control, hint -
    plain), one column per benchmark, one line per method with its 95% question-clustered CI band;
    x = forget accuracy at the checkpoint, decreasing to the right (base model -> fully forgotten), or
    ``x="step"`` (optimizer steps; readable where forget accuracy reaches 0 early and later points stack).
    ``effects``: ``unpact.findings.depth.effect_curves`` rows with ``effect`` and ``forget_accuracy`` added
    (mean over architectures and seeds where there are several)."""
    _require(effects, "depth effects", ("effect", "method", "domain", x, "value", "ci_low", "ci_high"))
    names = list(dict.fromkeys(effects["effect"]))
    domains = list(dict.fromkeys(effects["domain"]))
    fig = Figure(figsize=(4.2 * len(domains), 3.0 * len(names) + 0.4), layout="constrained")
    axes = fig.subplots(len(names), len(domains), squeeze=False, sharex=True)
    for i, name in enumerate(names):
        for j, domain in enumerate(domains):
            ax = axes[i, j]
            part = effects[(effects["effect"] == name) & (effects["domain"] == domain)]
            for method in method_order(part["method"]):
                g = part[part["method"] == method].groupby("step").mean(numeric_only=True).reset_index()
                g = g.sort_values(x, ascending=x != "forget_accuracy", kind="stable")
                ax.plot(g[x], g["value"], marker=".", color=method_color(method), label=method)
                ax.fill_between(g[x], g["ci_low"], g["ci_high"], color=method_color(method), alpha=0.15)
            ax.axhline(0, color="black", linewidth=0.8)
            ax.set_title(f"{domain}: {name}", fontsize=9)
            ax.set_ylabel("nats per answer token")
            if i == len(names) - 1:
                ax.set_xlabel("forget accuracy at the checkpoint (deeper ->)" if x == "forget_accuracy"
                              else "optimizer step")
    if x == "forget_accuracy":
        axes[0, 0].invert_xaxis()
    axes[0, 0].legend(fontsize=7, ncol=2)
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
    fig, axes = _grid(1, len(domains))
    for j, domain in enumerate(domains):
        ax = axes[0, j]
        rows = relearn[relearn["domain"] == domain]
        part = rows.assign(label=_checkpoint_labels(rows)).groupby("label", sort=False).mean(numeric_only=True)
        methods = rows.assign(label=_checkpoint_labels(rows)).groupby("label", sort=False)["method"].first()
        order = sorted(part.index, key=lambda lab: (method_order(list(methods)).index(methods[lab]), lab))
        x = np.arange(len(order))
        ax.bar(x - 0.2, part.loc[order, "heldout_before"], 0.4, color="#bdbdbd", label="before relearning")
        ax.bar(x + 0.2, part.loc[order, "heldout_after"], 0.4, color=[method_color(methods[o]) for o in order],
               label="after relearning")
        ax.set_xticks(x, order, rotation=45, fontsize=8)
        ax.set_title(f"{domain}: held-out forget accuracy", fontsize=9)
    axes[0, 0].set_ylabel("accuracy (higher after = knowledge came back)")
    axes[0, 0].legend(fontsize=7)
    return fig


def plot_linear_probe(probe: pd.DataFrame) -> Figure:
    """Linear probe (``unpact.unlearn.linear_probe``): accuracy of the retain-fitted ridge probe on the forget
    items against the layer, one line per model (``base`` black; methods solid at the operating point,
    dotted at the end of the budget; the legend gives each model's greedy forget accuracy), chance dashed
    grey; one panel per benchmark. Probe far above chance with greedy near 0 = hidden, not erased."""
    _require(probe, "linear probe", ("method", "domain", "point", "layer", "accuracy", "chance", "greedy"))
    domains = list(dict.fromkeys(probe["domain"]))
    fig, axes = _grid(1, len(domains))
    for j, domain in enumerate(domains):
        ax = axes[0, j]
        part = probe[probe["domain"] == domain]
        for (method, point), run in part.groupby(["method", "point"], sort=False):
            run = run.groupby("layer").mean(numeric_only=True).reset_index()
            color = "black" if method == "base" else method_color(str(method))
            style = ":" if point == "end of budget" else "-"
            label = f"{method}{' (end)' if point == 'end of budget' else ''}: greedy {run['greedy'].iloc[0]:.2f}"
            ax.plot(run["layer"], run["accuracy"], style, marker="o", ms=3, color=color, label=label)
        chance = part.groupby("layer")["chance"].mean()
        ax.plot(chance.index, chance.to_numpy(), "--", color="#9e9e9e", label="chance")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("layer (0 = embeddings)")
        ax.set_title(f"{domain}: probe accuracy on forget items", fontsize=9)
        ax.legend(fontsize=6)
    axes[0, 0].set_ylabel("probe accuracy (fitted on retain items)")
    return fig


def show(fig: Figure, dpi: int = PAGE_DPI) -> None:
    """Display ``fig`` as a PNG in a notebook whatever the matplotlib backend (Agg included), then close it.

    A figure wider than the book's column (``PAGE_WIDTH_IN``) is narrowed to it first (same height;
    the layout re-flows), so the book never shows it at less than half its natural width.
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    width, height = fig.get_size_inches()
    if width > PAGE_WIDTH_IN:
        fig.set_size_inches(PAGE_WIDTH_IN, height)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    display(Image(data=buffer.getvalue(), format="png"))
    plt.close(fig)  # releases pyplot-made figures; a no-op for the others
