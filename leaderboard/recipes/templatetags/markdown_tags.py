import markdown as md
from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def markdown(text: str) -> str:
    """Markdown for user text. HTML in the source is escaped first, so submitters cannot inject markup."""
    return mark_safe(md.markdown(escape(text or ""), extensions=["fenced_code", "tables"]))
