"""How an experiment's paired differences read: a signed estimate with its 95 % interval (PPL as a ratio)."""
import math

from django import template

register = template.Library()


def signed_number(value: float) -> str:
    return f"{value:+.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:+.2e}"


@register.filter
def interval(difference) -> str:
    """'+0.0123 [+0.0100, +0.0150]', or for ln PPL the ratio '×1.012 [×1.010, ×1.015]'."""
    if difference is None:
        return "—"
    if difference.metric == "ln_ppl":
        return (f"×{math.exp(difference.estimate):.4f} "
                f"[×{math.exp(difference.low):.4f}, ×{math.exp(difference.high):.4f}]")
    return f"{signed_number(difference.estimate)} [{signed_number(difference.low)}, {signed_number(difference.high)}]"
