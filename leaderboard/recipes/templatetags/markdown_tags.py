"""Markdown for user text, safe to show to other users.

markdown-it-py (CommonMark, linear time, nesting capped) renders it with raw HTML off, then nh3 (the
Rust `ammonia` sanitizer) keeps only an allow-list of tags, attributes and URL schemes: no script, no
event handlers, no `javascript:` or `data:` links, whatever the renderer let through. The text is
capped at MAX_DESCRIPTION_CHARS (submissions longer than that are refused), and each distinct text is
rendered once per process, so no description can cost a page view more than a fraction of a second.
"""
from functools import lru_cache

import nh3
from django import template
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt

from leaderboard.recipes.validation import MAX_DESCRIPTION_CHARS

MAX_NESTING = 20
TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre", "blockquote",
        "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td", "s"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}, "th": {"style"},
              "td": {"style"}}
URL_SCHEMES = {"http", "https", "mailto"}

register = template.Library()
_renderer = MarkdownIt("commonmark", {"html": False, "maxNesting": MAX_NESTING}).enable("table").enable("strikethrough")


@lru_cache(maxsize=512)
def render_markdown(text: str) -> str:
    html = _renderer.render(text[:MAX_DESCRIPTION_CHARS])
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
                     filter_style_properties={"text-align"}, link_rel="nofollow noopener noreferrer")


@register.filter
def markdown(text: str) -> str:
    return mark_safe(render_markdown(text or ""))
