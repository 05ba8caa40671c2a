from django import template

from leaderboard.domain.divergence import kld_text

register = template.Library()


@register.filter
def kld(value, decimals: int = 6) -> str:
    """{{ value|kld }}: a KLD estimate, never shown as a negative divergence (leaderboard/domain/divergence.py)."""
    return kld_text(None if value in (None, "") else float(value), int(decimals))
