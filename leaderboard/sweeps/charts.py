"""The sweep's figures, built with plotly from a selectors.SweepView: the per-layer change with its paired
95 % interval (a change within noise drawn as noise), and the layer × tensor-class heat map."""
from __future__ import annotations

import plotly.graph_objects as go

from leaderboard.domain.sweep import LayerChange
from leaderboard.sweeps.selectors import METRICS, DepthComparison, SweepView, higher_is_better, shown

COLORS = {"clear": "#c62828", "better": "#2e7d32", "noise": "#9e9e9e"}


def _json(fig: go.Figure) -> str:
    return fig.to_json().replace("<", "\\u003c")


def _color(c: LayerChange, metric: str) -> str:
    if c.indistinguishable:
        return COLORS["noise"]
    worse = c.estimate < 0 if higher_is_better(metric) else c.estimate > 0
    return COLORS["clear"] if worse else COLORS["better"]


def layer_figure(view: SweepView, metric: str) -> str | None:
    changes = view.layer_changes(metric)
    if not changes:
        return None
    fig = go.Figure()
    for template in view.sweep.templates:
        mine = sorted((c for c in changes if c.key.template == template), key=lambda c: c.key.layer)
        if not mine:
            continue
        y = [shown(metric, c.estimate) for c in mine]
        fig.add_trace(go.Scatter(
            x=[c.key.layer for c in mine], y=y, mode="markers+lines", name=template.replace("{layer}", "N"),
            line={"color": "rgba(90,90,90,0.35)", "width": 1},
            marker={"size": 10, "color": [_color(c, metric) for c in mine]},
            error_y={"type": "data", "symmetric": False, "color": "rgba(60,60,60,0.6)",
                     "array": [shown(metric, c.high) - v for c, v in zip(mine, y)],
                     "arrayminus": [v - shown(metric, c.low) for c, v in zip(mine, y)]},
            text=[f"{c.key.tensor_name}: {shown(metric, c.estimate):.4g} [{shown(metric, c.low):.4g}, "
                  f"{shown(metric, c.high):.4g}]{' — within noise' if c.indistinguishable else ''}" for c in mine],
            hoverinfo="text"))
    fig.add_hline(y=view.reference(metric), line={"color": "#444", "dash": "dot", "width": 1},
                  annotation_text="the base recipe", annotation_position="bottom right")
    fig.update_layout(
        margin={"l": 60, "r": 10, "t": 10, "b": 50}, template="plotly_white", height=420, hovermode="closest",
        legend={"orientation": "h", "y": -0.22, "x": 0},
        xaxis={"title": "layer", "dtick": 1 if len({c.key.layer for c in changes}) <= 20 else 2},
        yaxis={"title": view.metrics[metric]})
    return _json(fig)


def heat_map_figure(view: SweepView, metric: str) -> str | None:
    grid = view.heat_map(metric)
    if grid is None or not grid[0]:
        return None
    layers, classes, rows = grid
    fig = go.Figure(go.Heatmap(
        x=layers, y=classes, z=[[None if v is None else shown(metric, v) for v in row] for row in rows],
        colorscale="RdBu" if higher_is_better(metric) else "RdBu_r", zmid=view.reference(metric),
        colorbar={"title": view.metrics[metric]}, hovertemplate="layer %{x}, %{y}: %{z:.4g}<extra></extra>"))
    fig.update_layout(margin={"l": 120, "r": 10, "t": 10, "b": 50}, template="plotly_white",
                      height=120 + 40 * len(classes), xaxis={"title": "layer"})
    return _json(fig)


def depth_figure(comparison: DepthComparison, name: str, metric: str) -> str:
    """Both sweeps' per-layer changes against relative depth (layer + ½) / layers."""
    fig = go.Figure()
    for label, profile, layers in (
            (name, comparison.mine, comparison.layers_mine),
            (comparison.other.base_recipe.base_model.name, comparison.theirs, comparison.layers_theirs)):
        ordered = sorted(profile.items())
        fig.add_trace(go.Scatter(x=[(layer + 0.5) / layers for layer, _ in ordered],
                                 y=[shown(metric, v) for _, v in ordered],
                                 mode="markers+lines", name=label,
                                 text=[f"{label} layer {layer}" for layer, _ in ordered], hoverinfo="text+y"))
    fig.update_layout(margin={"l": 60, "r": 10, "t": 10, "b": 50}, template="plotly_white", height=360,
                      legend={"orientation": "h", "y": -0.25, "x": 0},
                      xaxis={"title": "relative depth (layer + ½) / layers", "range": [0, 1]},
                      yaxis={"title": METRICS.get(metric, metric)})
    return _json(fig)
