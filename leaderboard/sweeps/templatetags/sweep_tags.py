"""How a sweep's numbers read: changes as experiments show them (PPL as a ratio), signed sizes."""
import math

from django import template

from leaderboard.domain.paired import PairedDifference
from leaderboard.experiments.templatetags.experiment_tags import interval, signed_number
from leaderboard.frontiers.templatetags.frontier_tags import binary_size

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def sorted_changes(view, metric: str):
    return view.sorted_changes(metric)


@register.filter
def shown_change(change, metric: str) -> str:
    """A PairedDifference or a LayerChange on `metric`: '+0.0123 [+0.0100, +0.0150]' or '×1.012 [×1.010, ×1.015]'."""
    if change is None:
        return "—"
    return interval(PairedDifference(metric, change.estimate, change.low, change.high))


@register.filter
def signed_size(n_bytes: int) -> str:
    return ("−" if n_bytes < 0 else "+") + binary_size(abs(n_bytes))


@register.filter
def predicted(combination) -> str:
    """The summed single changes, read as the measured one beside it is ('+0.0154', or a PPL ratio '×1.012')."""
    value = combination.predicted
    return f"×{math.exp(value):.4f}" if combination.metric == "ln_ppl" else signed_number(value)
