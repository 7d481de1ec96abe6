"""Plots rendered with matplotlib to inline SVG strings (no pyplot, no global backend state).

Text stays text in the SVG (`svg.fonttype: none`), so plots are small and sharp; every plot has
labelled axes. Figures get a per-plot hash salt so element ids never collide in one HTML page.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KEPT = "#3b7dd8"
REMOVED_HERE = "#e0662a"
REMOVED_OTHER = "#b7bfc8"
THRESHOLD = "#b3121f"
BAR = "#3b7dd8"

_counter = itertools.count()


def _figure(width: float, height: float, layout: str | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout=layout)


def to_svg(fig) -> str:
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"plot{next(_counter)}"}):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _integer_counts(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=6, integer=True))


def _si_ticks(axis) -> None:
    """1.5k, 20M, 3G rather than an offset exponent beside the axis."""
    from matplotlib.ticker import EngFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=5))
    axis.set_major_formatter(EngFormatter(sep=""))


def _plain_log_ticks(axis) -> None:
    """Decades as plain numbers (1, 10, 1,000): no mathtext, whose parser dominates drawing time,
    and no minor ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    axis.set_major_locator(LogLocator(base=10, numticks=6))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:g}"))


def _style_axes(ax) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(axis="y", color="#e3e7ec", linewidth=0.8)
    ax.set_axisbelow(True)


@dataclass
class Group:
    """Values of one colour in a stacked histogram."""

    label: str
    values: np.ndarray
    color: str


@dataclass
class Binning:
    edges: np.ndarray
    log: bool
    below: int  # values under the first edge (drawn in the first bin)
    above: int


def choose_bins(values: np.ndarray, marks: Sequence[float], max_bins: int = 50) -> Binning | None:
    """Bins covering the data and every threshold mark; a tail is cut at the 0.1% / 99.9%
    quantile only when it reaches far beyond the bulk (outliers then go in the edge bins).
    Log-spaced for positive heavy-tailed data, unit-wide for small integer ranges."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    vmin, vmax = float(finite.min()), float(finite.max())
    q_lo, q_hi = (float(q) for q in np.quantile(finite, [0.001, 0.999]))
    spread = max(q_hi - q_lo, 1e-12)
    lo = q_lo if q_lo - vmin > spread else vmin
    hi = q_hi if vmax - q_hi > spread else vmax
    marks = [m for m in marks if m is not None and math.isfinite(m)]
    lo, hi = min([lo, *marks]), max([hi, *marks])
    integer = bool(np.all(finite == np.round(finite)))
    log = lo > 0 and hi / lo > 1000
    if log:
        edges = np.geomspace(lo, hi, max_bins + 1)
    elif integer and hi - lo <= max_bins:
        edges = np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 1.5, 1.0)
    else:
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, max_bins + 1)
    below = int(np.count_nonzero(finite < edges[0]))
    above = int(np.count_nonzero(finite > edges[-1]))
    return Binning(edges, log, below, above)


def histogram(column: str, groups: Sequence[Group], thresholds: tuple[float | None, float | None] = (None, None),
              ylabel: str = "documents", width: float = 5.6, height: float = 2.9) -> str:
    """Stacked histogram of one statistic with the kept range's bounds drawn as lines.

    Counts come from numpy and each group is one filled step outline (`stairs`), so a plot costs
    the same whatever the number of documents or bins; the layout is fixed (no layout solver)."""
    fig = _figure(width, height, layout=None)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.19, top=0.86)
    ax = fig.add_subplot()
    _style_axes(ax)
    allv = np.concatenate([g.values for g in groups]) if groups else np.zeros(0)
    lo_t, hi_t = thresholds
    binning = choose_bins(allv, [lo_t, hi_t])
    if binning is None:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
    else:
        base = np.zeros(binning.edges.size - 1)
        for g in groups:
            finite = g.values[np.isfinite(g.values)]
            counts, _ = np.histogram(np.clip(finite, binning.edges[0], binning.edges[-1]), bins=binning.edges)
            if counts.any():
                ax.stairs(base + counts, binning.edges, baseline=base.copy(), fill=True, color=g.color,
                          label=f"{g.label} ({g.values.size:,})")
            base = base + counts
        ax.set_xlim(binning.edges[0], binning.edges[-1])
        total = base.sum()
        # one bin holding most documents (ratios that are usually 0) would flatten every other bin,
        # including the removed ones: then counts go on a log axis
        log_y = total > 0 and base.max() > 0.5 * total and np.count_nonzero(base) > 1
        if log_y:
            ax.set_yscale("log", nonpositive="clip")
            ax.set_ylim(0.7, base.max() * 2.0)
            _plain_log_ticks(ax.yaxis)
            ylabel += " (log scale)"
        else:
            ax.set_ylim(0, max(base.max() * 1.12, 1))
        if binning.log:
            ax.set_xscale("log")
            _plain_log_ticks(ax.xaxis)
        left, right = binning.edges[0], binning.edges[-1]
        for value, name in ((lo_t, "min kept"), (hi_t, "max kept")):
            if value is not None:
                ax.axvline(value, color=THRESHOLD, linestyle="--", linewidth=1.4)
                if binning.log:
                    at = math.log(value / left) / math.log(right / left) if value > 0 else 0.0
                else:
                    at = (value - left) / (right - left)
                near_right = at > 0.75  # label on the line's left so it stays inside the plot
                ax.annotate(f"{name} {value:g}", xy=(value, 1.0), xycoords=("data", "axes fraction"),
                            xytext=(-3 if near_right else 3, 2), textcoords="offset points", color=THRESHOLD,
                            fontsize=8, ha="right" if near_right else "left")
        if any(g.values.size for g in groups):
            fig.legend(fontsize=7.5, frameon=False, loc="upper center", ncols=len(groups), bbox_to_anchor=(0.55, 1.0))
    xlabel = column + (" (log scale)" if binning is not None and binning.log else "")
    if binning is not None and (binning.below or binning.above):
        clipped = [f"{n:,} {side}" for n, side in ((binning.below, "below"), (binning.above, "above")) if n]
        xlabel += f"  [outliers in the edge bins: {', '.join(clipped)}]"
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ax.get_yscale() == "linear":
        _integer_counts(ax.yaxis)
    return to_svg(fig)


def funnel(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], width: float = 11.0) -> str:
    """One horizontal bar panel per series (documents, bytes, tokens) remaining after each step."""
    n = len(series)
    fig = _figure(width, 0.42 * len(labels) + 1.0)
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    y = np.arange(len(labels))
    for ax, (name, values) in zip(axes, series):
        _style_axes(ax)
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", color="#e3e7ec", linewidth=0.8)
        vals = np.array([np.nan if v is None else v for v in values], dtype=float)
        ax.barh(y, np.nan_to_num(vals), color=BAR)
        top = np.nanmax(vals) if np.isfinite(vals).any() else 1.0
        known = vals[np.isfinite(vals)]
        base = known[0] if len(known) else 0.0  # tokens are counted from some step on, not at the input
        for yi, v in zip(y, vals):
            if np.isfinite(v) and top > 0:
                ax.text(v + top * 0.01, yi, f"{100 * v / base:.1f}%" if base else "", va="center", fontsize=7.5)
        ax.set_xlim(0, top * 1.15 if top > 0 else 1)
        _si_ticks(ax.xaxis)
        ax.set_xlabel(name)
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("after step")
    return to_svg(fig)


def hbar(labels: Sequence[str], stacks: Sequence[tuple[str, Sequence[float], str]], xlabel: str, ylabel: str,
         width: float = 7.5, log: bool = False) -> str:
    """Horizontal (stacked) bars, one row per label, largest first as given."""
    fig = _figure(width, 0.32 * max(len(labels), 1) + 1.1)
    ax = fig.add_subplot()
    _style_axes(ax)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#e3e7ec", linewidth=0.8)
    y = np.arange(len(labels))
    left = np.zeros(len(labels))
    for name, values, color in stacks:
        v = np.asarray(values, dtype=float)
        ax.barh(y, v, left=left, color=color, label=name)
        left += v
    if log:
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(stacks) > 1:
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    return to_svg(fig)


def vbar(labels: Sequence[str], values: Sequence[float], xlabel: str, ylabel: str, width: float = 7.5,
         log: bool = False, color: str = BAR) -> str:
    fig = _figure(width, 3.0)
    ax = fig.add_subplot()
    _style_axes(ax)
    x = np.arange(len(labels))
    ax.bar(x, np.asarray(values, dtype=float), color=color)
    if log:
        ax.set_yscale("log")
        _plain_log_ticks(ax.yaxis)
    ax.set_xticks(x, labels, fontsize=7.5, rotation=60 if len(labels) > 12 else 0, ha="right" if len(labels) > 12 else "center")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return to_svg(fig)
