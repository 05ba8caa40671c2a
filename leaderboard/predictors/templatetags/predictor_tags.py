"""Formatting for predictor pages: shares and probabilities in percent."""
from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value) -> str:
    """0.3424 -> "34 %"; a value that rounds to 0 or 100 but is not exactly it keeps one decimal."""
    if value is None:
        return "—"
    shown = f"{100 * value:.0f}"
    if shown in ("0", "100") and 0 < value < 1:
        shown = f"{100 * value:.1f}"
    return f"{shown} %"
