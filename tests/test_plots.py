"""Figures: one point per summary row, consistent method colours, clear errors, PNGs written."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from unpact.errors import UsageError
from unpact.plots import (
    MAX_COLUMNS,
    METHOD_COLORS,
    PAGE_DPI,
    PAGE_WIDTH_IN,
    figure_png,
    method_color,
    method_marker,
    method_order,
    plot_contribution_change,
    plot_dilemma,
    plot_key_vs_control,
    plot_rate_by_method,
    plot_sweep,
    plot_training_curves,
)

METHODS = ["ga", "npo_gdr", "rmu", "my_method"]
DOMAINS = ["news", "books"]


def _rate_rows(rng: np.random.Generator, **extra: object) -> dict[str, object]:
    rate = float(rng.uniform(0.1, 0.9))
    return {**extra, "rate": rate, "ci_low": max(0.0, rate - 0.1), "ci_high": min(1.0, rate + 0.12), "n": 40}


def _n_points(fig: Figure) -> int:
    return sum(isinstance(c, ErrorbarContainer) for ax in fig.axes for c in ax.containers)


def test_method_colours_are_distinct_and_stable() -> None:
    expected = {"base", "ga", "ga_gdr", "ga_klr", "npo", "npo_gdr", "npo_klr", "simnpo", "idk_dpo", "task_vector",
                "rmu"}
    assert set(METHOD_COLORS) == expected
    assert len(set(METHOD_COLORS.values())) == len(METHOD_COLORS)
    assert method_color("my_method") == method_color("my_method")
    assert method_order(["my_method", "rmu", "ga", "rmu"]) == ["ga", "rmu", "my_method"]


def test_rate_by_method_one_point_per_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    summary = pd.DataFrame([_rate_rows(rng, method=m, domain=d) for m in METHODS for d in DOMAINS])
    fig = plot_rate_by_method(summary, "destructive rate", "more utility destroyed")
    assert _n_points(fig) == len(summary)
    assert len(fig.axes) == len(DOMAINS)
    assert "higher = more utility destroyed" in fig.get_suptitle()
    fig.savefig(tmp_path / "rate.png")
    with pytest.raises(UsageError, match="missing column"):
        plot_rate_by_method(summary.drop(columns="ci_low"), "x", "y")


def test_key_vs_control_panels_and_points(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = [_rate_rows(rng, method=m, domain=d, style=s, source=src)
            for m in METHODS for d in DOMAINS for s in ("repeat", "suffix")
            for src in ("base_key", "unlearned_key", "control")]
    summary = pd.DataFrame(rows)
    fig = plot_key_vs_control(summary)
    assert len(fig.axes) == 2 * 2
    assert _n_points(fig) == len(METHODS) * 2 * 2 * 2  # two sources drawn
    fig.savefig(tmp_path / "key_vs_control.png")
    assert _n_points(plot_key_vs_control(summary, sources=("base_key", "unlearned_key", "control"))) == len(rows)
    with pytest.raises(UsageError, match="present: base_key, control, unlearned_key"):
        plot_key_vs_control(summary, sources=("gold_keywords", "control"))


def test_contribution_change_plot(tmp_path: Path) -> None:
    rows = [dict(method=m, split=s, unit_class=c, mean_change=v, ci_low=v - 0.1, ci_high=v + 0.1)
            for m, v0 in zip(METHODS, (-0.8, -0.5, -0.2, -0.1)) for s in ("forget", "retain", "general")
            for c, v in (("key", v0), ("non_key", v0 / 2))]
    fig = plot_contribution_change(pd.DataFrame(rows))
    assert _n_points(fig) == len(rows)
    assert len(fig.axes) == 3
    fig.savefig(tmp_path / "contrib.png")


def test_dilemma_plot(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    recovery = pd.DataFrame([_rate_rows(rng, method=m, domain=d) for m in METHODS for d in DOMAINS])
    destructive = pd.DataFrame([_rate_rows(rng, method=m, domain=d) for m in METHODS for d in DOMAINS])
    fig = plot_dilemma(recovery, destructive)
    ax = fig.axes[0]
    assert _n_points(fig) == len(METHODS) * len(DOMAINS)
    texts = {t.get_text() for t in ax.texts}
    assert any("insufficient" in t for t in texts) and any(t.startswith("destructive") for t in texts)
    assert "higher" in ax.get_xlabel() and "higher" in ax.get_ylabel()
    # the point of method m in domain d sits at (its recovery rate, its destructive rate)
    first = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    x, y = first.lines[0].get_data()
    merged = recovery.merge(destructive, on=["method", "domain"])
    assert ((np.isclose(merged["rate_x"], x[0])) & (np.isclose(merged["rate_y"], y[0]))).any()
    out = tmp_path / "dilemma.png"
    fig.savefig(out, dpi=80)
    assert out.stat().st_size > 10_000
    with pytest.raises(UsageError, match="several rows"):
        plot_dilemma(pd.concat([recovery, recovery]), destructive)


def test_tradeoff_of_index_against_destructive_rate() -> None:
    from unpact.plots import plot_tradeoff

    rng = np.random.default_rng(3)
    index = pd.DataFrame([dict(method=m, domain="news", index="non_key_vs_key", value=v, ci_low=v - 0.1,
                               ci_high=v + 0.2)
                          for m, v in zip(METHODS, (0.2, 0.5, 0.9, 1.1))])
    destructive = pd.DataFrame([_rate_rows(rng, method=m, domain="news") for m in METHODS])
    fig = plot_tradeoff(index, destructive, "indiscriminateness (higher = less targeted)",
                        "destructive rate (higher = more utility lost)", "Indiscriminate penalization", x_value="value")
    assert _n_points(fig) == len(METHODS)
    with pytest.raises(UsageError, match="share no"):
        plot_tradeoff(index.assign(domain="books"), destructive, "x", "y", "t", x_value="value")


def test_sweep_one_panel_per_knob_with_two_ci_series() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for knob, values in (("top_k", [1, 2, 3]), ("judge", ["exact", "contains"])):
        for v in values:
            row = {"knob": knob, "value": v, "control_recovery": 0.1, "keyword_precision": 0.5}
            for col in ("disruption", "recovery"):
                r = _rate_rows(rng)
                row.update({col: r["rate"], f"{col}_ci_low": r["ci_low"], f"{col}_ci_high": r["ci_high"]})
            rows.append(row)
    fig = plot_sweep(pd.DataFrame(rows))
    assert [ax.get_xlabel() for ax in fig.axes] == ["top_k (KeyTokens per question)", "correctness judge"]
    assert _n_points(fig) == 2 * 2  # disruption and recovery series in each panel
    with pytest.raises(UsageError, match="missing column"):
        plot_sweep(pd.DataFrame(rows).drop(columns="keyword_precision"))


def test_training_curves_one_line_per_method_and_panel() -> None:
    rows = [{"method": m, "domain": d, "step": s, "forget_accuracy": 1 - s / 10 if s % 5 == 0 else float("nan"),
             "retain_accuracy": 0.9} for m in METHODS for d in DOMAINS for s in range(11)]
    fig = plot_training_curves(pd.DataFrame(rows))
    assert len(fig.axes) == 2 * len(DOMAINS)
    for ax in fig.axes:
        assert len(ax.lines) == len(METHODS)
        assert [len(line.get_xdata()) for line in ax.lines] == [3] * len(METHODS)  # only evaluated steps (0, 5, 10)
    assert fig.axes[0].lines[0].get_color() == method_color(METHODS[0])


ALL_METHODS = list(METHOD_COLORS)[1:]  # the ten methods of the book
ALL_DOMAINS = ["news", "books", "hazard"]


def _ci(value: float) -> dict[str, float]:
    return {"ci_low": value - 0.1, "ci_high": value + 0.1}


def _book_figures() -> dict[str, Figure]:
    """Every figure function on a frame the size of the full book's (ten methods, three benchmarks, every style)."""
    rng = np.random.default_rng(4)
    rates = pd.DataFrame([_rate_rows(rng, method=m, domain=d, style=s, source=src) for m in ALL_METHODS
                          for d in ALL_DOMAINS for s in ("instruction", "suffix", "mark", "repeat", "any")
                          for src in ("base_key", "control")])
    one = rates[(rates["style"] == "instruction") & (rates["source"] == "base_key")]
    change = pd.DataFrame([dict(method=m, split=s, unit_class=c, mean_change=-0.3, **_ci(-0.3))
                           for m in ALL_METHODS for s in ("forget", "retain", "general") for c in ("key", "non_key")])
    sweep = pd.DataFrame([{"knob": k, "value": v, "control_recovery": 0.1, "keyword_precision": 0.5,
                           **{f"{c}{suffix}": 0.5 + d for c in ("disruption", "recovery")
                              for suffix, d in (("", 0.0), ("_ci_low", -0.1), ("_ci_high", 0.1))}}
                          for k, values in (("top_k", [1, 2, 3, 5]), ("alpha", [0.25, 0.5, 0.75]),
                                            ("attribution", ["loo", "ig", "attention"]),
                                            ("judge", ["exact", "contains", "rouge_l_recall"]), ("stop_at", [0.2]))
                          for v in values])
    curves = pd.DataFrame([{"method": m, "domain": d, "step": s, "forget_accuracy": 1 - s / 10,
                            "retain_accuracy": 0.9} for m in ALL_METHODS for d in ALL_DOMAINS for s in range(0, 11, 5)])
    effects = pd.DataFrame([{"effect": e, "method": m, "domain": d, "step": s, "forget_accuracy": 1 - s / 10,
                             "value": 0.1, **_ci(0.1)} for e in ("key - control", "hint - plain")
                            for m in ALL_METHODS for d in ALL_DOMAINS for s in range(0, 11, 5)])
    points = {"base": ["base"], **{m: ["operating point", "end of budget"] for m in ALL_METHODS}}
    relearn = pd.DataFrame([{"method": m, "domain": d, "point": p, "heldout_before": 0.1, "heldout_after": 0.6}
                            for m in ["base", *ALL_METHODS] for p in points[m] for d in ALL_DOMAINS])
    probe = pd.DataFrame([{"method": m, "domain": d, "point": p, "layer": layer, "accuracy": 0.5, "chance": 0.1,
                           "greedy": 0.0} for m in ["base", *ALL_METHODS] for p in points[m] for d in ALL_DOMAINS
                          for layer in range(4)])
    from unpact.plots import plot_depth_effects, plot_linear_probe, plot_relearning, plot_tradeoff

    return {
        "rate_by_method": plot_rate_by_method(one, "recovery rate", "more recovered"),
        "key_vs_control": plot_key_vs_control(rates),
        "contribution_change": plot_contribution_change(change),
        "tradeoff": plot_tradeoff(one, one, "x rate (share)", "y rate (share)", "t"),
        "dilemma": plot_dilemma(one, one),
        "sweep": plot_sweep(sweep),
        "training_curves": plot_training_curves(curves),
        "depth_effects": plot_depth_effects(effects),
        "depth_effects_by_step": plot_depth_effects(effects, x="step"),
        "relearning": plot_relearning(relearn),
        "linear_probe": plot_linear_probe(probe),
    }


def _labelled(ax: Axes, axis: str) -> bool:
    """The axis has a label, its own or that of an axes it is shared with (a shared axis is labelled once)."""
    label = getattr(ax, f"get_{axis}label")
    shared = ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes()
    return bool(label().strip()) or any(getattr(o, f"get_{axis}label")().strip() for o in shared.get_siblings(ax))


@pytest.mark.parametrize("name", list(_book_figures()))
def test_every_figure_fits_the_page_with_labelled_axes(name: str) -> None:
    """Designed for the book's column: at most 7.5 in at 100-150 dpi (<= 1125 px), panels at most three
    across, every panel's x and y axes labelled; legible without the page narrowing it."""
    fig = _book_figures()[name]
    assert PAGE_WIDTH_IN <= 7.5 and 100 <= PAGE_DPI <= 150
    assert fig.get_size_inches()[0] <= PAGE_WIDTH_IN, "designed wider than the page"
    png = figure_png(fig)
    width = int.from_bytes(png[16:20], "big")
    assert width <= 1.02 * PAGE_WIDTH_IN * PAGE_DPI and width <= 1125, width  # + the 0.04 in margin
    columns = {ax.get_subplotspec().colspan.start for ax in fig.axes if ax.get_subplotspec()}
    assert len(columns) <= MAX_COLUMNS <= 3
    unlabelled = [(ax.get_title(), axis) for ax in fig.axes for axis in "xy" if not _labelled(ax, axis)]
    assert not unlabelled, unlabelled
    assert fig.get_suptitle() or all(ax.get_title() for ax in fig.axes)


def test_method_families_have_distinct_markers() -> None:
    assert method_marker("ga") == method_marker("ga_gdr") == method_marker("ga_klr") == "o"
    assert method_marker("npo_klr") == method_marker("npo") == "s"
    assert len({method_marker(m) for m in ("base", "ga", "npo", "rmu")}) == 4
    assert method_marker("simnpo") == method_marker("my_method")  # every other method: one marker


def test_more_benchmarks_than_page_columns_is_an_error() -> None:
    curves = pd.DataFrame([{"method": "ga", "domain": d, "step": 0, "forget_accuracy": 1.0, "retain_accuracy": 1.0}
                           for d in ("a", "b", "c", "d")])
    with pytest.raises(UsageError, match="at most 3 fit the page"):
        plot_training_curves(curves)
