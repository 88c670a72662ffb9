"""Heat-text: the prompt with each attributed unit on a background coloured by its contribution.

One diverging palette (matplotlib ``RdBu``: red = the unit lowers the answer's LP, i.e. C < 0;
blue = it supports the answer, C > 0; white = 0) on a symmetric scale [-m, m], m = the largest
|C| over everything drawn together (so before/after panels share one scale), with a legend.
Text outside the attributed units (template, spaces) is drawn uncoloured.

* ``heat_html(panels)``: self-contained HTML (inline styles, escaped text), panels side by side.
* ``heat_figure(panels)``: a matplotlib figure, panels stacked, words wrapped to the figure width,
  so a 20-token and a 200-token prompt both read well.

A panel is ``(title, PromptAttribution)``.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from unpact.attribution.attributor import PromptAttribution

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

PALETTE = "RdBu"
Panel = tuple[str, PromptAttribution]


def symmetric_scale(panels: Sequence[Panel]) -> float:
    """m = max |C| over all panels (1.0 if every contribution is 0, so colours stay defined)."""
    m = max((float(np.max(np.abs(p.contributions))) for _, p in panels if len(p.contributions)), default=0.0)
    return m if m > 0 else 1.0


def unit_colour(value: float, scale: float) -> tuple[str, str]:
    """(background hex, text hex) for a contribution on the symmetric scale [-scale, scale]."""
    from matplotlib import colormaps, colors

    rgba = colormaps[PALETTE](0.5 + 0.5 * float(np.clip(value / scale, -1, 1)))
    luminance = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
    return colors.to_hex(rgba), "#000000" if luminance > 0.5 else "#ffffff"


def _segments(item: PromptAttribution) -> list[tuple[str, float | None]]:
    """The prompt text cut into (text, contribution or None for uncoloured text)."""
    out: list[tuple[str, float | None]] = []
    cursor = 0
    for (s, e), c in zip(item.spans, item.contributions):
        if s > cursor:
            out.append((item.prompt[cursor:s], None))
        out.append((item.prompt[s:e], float(c)))
        cursor = e
    if cursor < len(item.prompt):
        out.append((item.prompt[cursor:], None))
    return out


def heat_html(panels: Sequence[Panel], scale: float | None = None) -> str:
    """HTML heat-text of one or more panels (side by side) with a shared legend."""
    m = symmetric_scale(panels) if scale is None else scale
    columns = []
    for title, item in panels:
        spans = []
        for text, c in _segments(item):
            escaped = html.escape(text).replace("\n", "<br>")
            if c is None:
                spans.append(f'<span style="color:#666666">{escaped}</span>')
            else:
                bg, fg = unit_colour(c, m)
                spans.append(
                    f'<span title="C = {c:+.4g}" style="background:{bg};color:{fg};padding:1px 2px;'
                    f'border-radius:3px">{escaped}</span>'
                )
        columns.append(
            '<div style="flex:1;min-width:16em">'
            f'<div style="font-weight:bold;margin-bottom:4px">{html.escape(title)}</div>'
            f'<div style="line-height:1.9;font-family:sans-serif">{"".join(spans)}</div>'
            f'<div style="color:#666666;font-size:85%">target: {html.escape(item.target)} &middot; '
            f"LP = {item.lp:.4f} &middot; {html.escape(item.method)}</div></div>"
        )
    stops = ", ".join(unit_colour(v * m, m)[0] for v in np.linspace(-1, 1, 9))
    legend = (
        '<div style="display:flex;align-items:center;gap:6px;margin-top:6px;font-size:85%">'
        f"<span>{-m:+.3g}</span>"
        '<span style="display:inline-block;width:12em;height:0.9em;'
        f'background:linear-gradient(to right, {stops})"></span>'
        f"<span>{m:+.3g}</span><span>contribution C (blue supports the answer, red opposes it)</span></div>"
    )
    return f'<div style="display:flex;gap:2em;flex-wrap:wrap">{"".join(columns)}</div>{legend}'


def heat_figure(
    panels: Sequence[Panel], scale: float | None = None, width_in: float = 10.0, fontsize: float = 11.0
) -> Any:
    """A matplotlib figure of the panels stacked vertically, words wrapped to ``width_in`` inches."""
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.colorbar import ColorbarBase
    from matplotlib.colors import Normalize
    from matplotlib.font_manager import FontProperties

    m = symmetric_scale(panels) if scale is None else scale
    dpi = 100
    probe = plt.figure(dpi=dpi)
    renderer = cast("FigureCanvasAgg", probe.canvas).get_renderer()  # pyplot figures draw on an Agg canvas here
    font = FontProperties(size=fontsize)

    def width_of(text: str) -> float:
        w, _, _ = renderer.get_text_width_height_descent(text.replace("$", r"\$"), font, ismath=False)
        return w / dpi + 0.06

    line_h = fontsize / 72 * 1.9
    margin = 0.2
    laid: list[tuple[str, list[tuple[float, int, str, float | None]], int]] = []
    for title, item in panels:
        placed: list[tuple[float, int, str, float | None]] = []
        x, line = margin, 0
        for text, c in _segments(item):
            for k, chunk in enumerate(text.split("\n")):
                if k > 0:
                    x, line = margin, line + 1
                word = chunk.strip()
                if not word:
                    continue
                w = width_of(word)
                if x + w > width_in - margin and x > margin:
                    x, line = margin, line + 1
                placed.append((x, line, word, c))
                x += w + (0.04 if c is not None else 0.08)
        laid.append((title, placed, line + 1))
    plt.close(probe)

    title_h, legend_h = line_h, 0.9
    height = sum(title_h + n * line_h + 0.15 for _, _, n in laid) + legend_h
    fig = plt.figure(figsize=(width_in, height), dpi=dpi)
    y = height
    for title, placed, n_lines in laid:
        fig.text(margin / width_in, (y - 0.6 * title_h) / height, title, fontsize=fontsize, weight="bold")
        y -= title_h
        for x, line, word, c in placed:
            kwargs: dict[str, Any] = dict(fontsize=fontsize, va="center")
            if c is None:
                kwargs["color"] = "#666666"
            else:
                bg, fg = unit_colour(c, m)
                kwargs.update(color=fg, bbox=dict(facecolor=bg, edgecolor="none", boxstyle="round,pad=0.15"))
            fig.text(x / width_in, (y - (line + 0.5) * line_h) / height, word.replace("$", r"\$"), **kwargs)
        y -= n_lines * line_h + 0.15
    bar = fig.add_axes((0.3, 0.25 / height, 0.4, 0.18 / height))
    ColorbarBase(bar, cmap=colormaps[PALETTE], norm=Normalize(-m, m), orientation="horizontal")
    bar.set_xlabel("contribution C (blue supports the answer, red opposes it)", fontsize=fontsize - 2)
    bar.tick_params(labelsize=fontsize - 3)
    return fig


def save_heat_png(panels: Sequence[Panel], path: str, scale: float | None = None) -> None:
    """Write ``heat_figure(panels)`` as a PNG (atomically)."""
    import io

    import matplotlib.pyplot as plt

    from unpact.io import atomic_write_bytes

    fig = heat_figure(panels, scale)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def heat_ansi(item: PromptAttribution, scale: float | None = None) -> str:
    """The prompt for a terminal: attributed units on 24-bit ANSI backgrounds (same palette and scale rule)."""
    m = symmetric_scale([("", item)]) if scale is None else scale
    out = []
    for text, c in _segments(item):
        if c is None:
            out.append(f"\x1b[2m{text}\x1b[0m")
        else:
            bg, fg = unit_colour(c, m)
            (r, g, b), (fr, fgc, fb) = (_rgb(bg), _rgb(fg))
            out.append(f"\x1b[48;2;{r};{g};{b}m\x1b[38;2;{fr};{fgc};{fb}m{text}\x1b[0m")
    return "".join(out) + f"\nscale: blue = supports the answer (up to {m:+.3g}), red = opposes it (down to {-m:+.3g})"


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)
