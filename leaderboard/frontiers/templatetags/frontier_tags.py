"""Formatting for frontier pages: metric values with their units and precision, sizes in binary units,
and links that change one query parameter while keeping the others."""
from __future__ import annotations

import math

from django import template
from django.utils.html import format_html
from django.utils.http import urlencode

from leaderboard.domain.divergence import BELOW_NOISE_FLOOR
from leaderboard.domain.metrics import metric

register = template.Library()
UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


@register.filter
def metric_value(point, key: str):
    return point.value(key)


@register.filter
def metric_error(point, key: str):
    return point.error(key)


@register.filter
def metric_format(value, key: str) -> str:
    """A value in the metric's precision; a KLD estimate at or below 0 is shown as what it is, noise."""
    if value is None:
        return "—"
    m = metric(key)
    if m.log_axis and value < 0:
        return BELOW_NOISE_FLOOR
    digits = m.digits
    text = f"{value:.{digits}g}" if 0 < abs(value) < 10 ** -(digits - 1) else f"{value:.{digits}f}"
    if m.unit == "points":  # a change: its sign is the point
        return f"{value:+.{digits}f}"
    return f"{text} %" if m.unit == "%" else text


@register.filter
def binary_size(n_bytes) -> str:
    """1024-based sizes with their true names (MiB, not MB)."""
    if n_bytes is None:
        return ""
    size = float(n_bytes)
    for unit in UNITS:
        if size < 1024 or unit == UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


@register.filter
def sort_toggle(column: str, current: str | None) -> str:
    return f"-{column}" if current == column else column


@register.simple_tag
def query_with(request, **changes) -> str:
    """The current query string with some parameters replaced (and the page reset when anything else changes)."""
    params = request.GET.copy()
    for key, value in changes.items():
        params[key] = value
    if "page" not in changes:
        params.pop("page", None)
    return urlencode(sorted((k, v) for k in params for v in params.getlist(k)))


@register.filter
def exp(value):
    """e**value: a paired ln-PPL difference shown as a PPL ratio."""
    return math.exp(value)


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key)


@register.simple_tag
def point_value(point, key: str) -> str:
    """A point's median for the metric with its error bar, as the tables show it (a tag, not an include:
    a table page draws three per row)."""
    value, error = point.value(key), point.error(key)
    if value is None:
        return "—"
    text = metric_format(value, key) + (f" ± {metric_format(error, key)}" if error else "")
    return format_html('<span class="num">{}</span>', text)
