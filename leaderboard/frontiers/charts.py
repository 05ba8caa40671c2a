"""The frontier chart as a Plotly figure (built here with plotly, drawn in the page by the plotly.js
that static/ serves). It is built from a selectors.Frontier and nothing else."""
from __future__ import annotations

import plotly.graph_objects as go
from django.core.cache import cache
from django.urls import reverse

from leaderboard.domain.divergence import BELOW_NOISE_FLOOR
from leaderboard.frontiers.selectors import FRONTIER_CACHE_SECONDS, GIB, Frontier, Point

# A log axis cannot show 0 or a negative estimate (the sampled tail can dip just below 0 for a near-perfect
# quant): such points sit on this floor and say "below the noise floor" when hovered.
LOG_FLOOR = 1e-6
COLORS = {"verified": "#1565c0", "unverified": "#1565c0", "stock": "#6d6d6d", "frontier": "#e65100",
          "degenerate": "#c62828", "noise": "rgba(120,120,120,0.15)"}


def _fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def _hover(p: Point, f: Frontier) -> str:
    m = f.metric
    value, err = p.value(m.key), p.error(m.key)
    s = p.standing
    shown = BELOW_NOISE_FLOOR if value is not None and value < 0 and m.log_axis else (
        f"{_fmt(value, m.digits)}{' ± ' + _fmt(err, m.digits) if err else ''} {m.unit}".strip())
    identical = f"{s.bit_identical[0]} of {s.bit_identical[1]}" if s.bit_identical else "— (one run per build)"
    lines = [f"<b>#{p.recipe_id} {p.title}</b>", f"{p.base_model} · {p.ftype} · {p.method_label}",
             f"{p.gib:.4f} GiB · {s.bpw:.3f} bpw", f"{m.label}: {shown}",
             f"reproductions: {s.n_runs} ({'verified' if s.verified else 'not verified: ' + s.reason})",
             f"bit-identical: {identical}"]
    if p.no_gain_over:
        lines.append(f"within noise of #{p.no_gain_over}: no measurable gain for its size")
    if p.degenerate:
        lines.append("degenerate generation flagged")
    return "<br>".join(lines)


def _y(p: Point, f: Frontier) -> float | None:
    value = p.value(f.metric_key)
    if value is not None and f.metric.log_axis:
        return max(value, LOG_FLOOR)
    return value


def _series(points: list[Point], f: Frontier, name: str, marker: dict, show_count: bool = True) -> go.Scatter:
    return go.Scatter(
        x=[p.gib for p in points], y=[_y(p, f) for p in points], name=name, mode="markers+text" if show_count else "markers",
        marker=marker, text=[f"×{p.standing.n_runs}" for p in points] if show_count else None,
        textposition="top center", textfont={"size": 10},
        error_y={"type": "data", "array": [p.error(f.metric_key) or 0 for p in points], "visible": True,
                 "thickness": 1, "width": 3},
        customdata=[[reverse("recipe_detail", args=[p.recipe_id]), p.recipe_id] for p in points],
        hovertext=[_hover(p, f) for p in points], hoverinfo="text")


def frontier_figure(f: Frontier) -> go.Figure:
    m = f.metric
    plotted = [p for p in f.points if p.value(m.key) is not None]
    stock = [p for p in plotted if p.is_stock]
    verified = [p for p in plotted if not p.is_stock and p.standing.verified]
    unverified = [p for p in plotted if not p.is_stock and not p.standing.verified]
    by_id = {p.recipe_id: p for p in plotted}
    line = [by_id[i] for i in f.frontier_ids if i in by_id]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[p.gib for p in line], y=[_y(p, f) for p in line], name="Pareto frontier",
                             mode="lines", line={"shape": "hv" if m.lower_is_better else "vh",
                                                 "color": COLORS["frontier"], "width": 2},
                             hoverinfo="skip"))
    fig.add_trace(_series([p for p in stock if p.standing.verified], f, "stock llama.cpp types (reference)",
                          {"symbol": "diamond", "size": 11, "color": COLORS["stock"]}))
    fig.add_trace(_series([p for p in stock if not p.standing.verified], f, "stock types, not yet verified",
                          {"symbol": "diamond-open", "size": 11, "color": COLORS["stock"], "line": {"width": 2}}))
    fig.add_trace(_series(verified, f, "verified recipes", {"symbol": "circle", "size": 11, "color": COLORS["verified"]}))
    fig.add_trace(_series(unverified, f, "not yet verified",
                          {"symbol": "circle-open", "size": 11, "color": COLORS["unverified"], "line": {"width": 2}}))
    within_noise = [p for p in plotted if p.no_gain_over]
    if within_noise:
        fig.add_trace(_series(within_noise, f, "frontier point within noise of the next smaller one",
                              {"symbol": "circle-open-dot", "size": 20, "color": COLORS["frontier"],
                               "line": {"width": 1}}, show_count=False))
    degenerate = [p for p in plotted if p.degenerate]
    if degenerate:
        fig.add_trace(_series(degenerate, f, "degenerate generation",
                              {"symbol": "x", "size": 14, "color": COLORS["degenerate"]}, show_count=False))
    floor = (f.noise_floor or {}).get(m.key)
    lowest = min((_y(p, f) for p in plotted), default=None)
    # A floor far below every point (a model against its own teacher: ~1e-7 nats) would only stretch a log
    # axis down to it; the page states its value in words instead.
    if isinstance(floor, (int, float)) and floor > 0 and lowest is not None and floor > lowest / 100:
        fig.add_hrect(y0=min(floor, lowest) / 10 if m.log_axis else 0, y1=floor, fillcolor=COLORS["noise"],
                      line_width=0, annotation_text="noise floor (base vs its own teacher)",
                      annotation_position="top left")
    fig.update_layout(
        margin={"l": 60, "r": 10, "t": 10, "b": 50}, hovermode="closest", template="plotly_white",
        legend={"orientation": "h", "y": -0.22, "x": 0}, height=480,
        xaxis={"title": "file size (GiB)", "tickformat": ".4~g"},
        yaxis={"title": f"{m.label} ({'lower' if m.lower_is_better else 'higher'} is better)",
               "type": "log" if m.log_axis else "linear"})
    return fig


def frontier_json(f: Frontier) -> str:
    """The figure as JSON for a <script type="application/json"> block (plotly's encoder, '<' escaped),
    cached with the frontier it draws."""
    key = f"{f.version}:figure" if f.version else None
    text = cache.get(key) if key else None
    if text is None:
        text = frontier_figure(f).to_json().replace("<", "\\u003c")
        if key:
            cache.set(key, text, FRONTIER_CACHE_SECONDS)
    return text
