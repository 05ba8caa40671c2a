"""A recipe description is Markdown shown to every visitor: nothing in it may run script, and no text
may make a page slow or fail. Vectors from the OWASP XSS filter evasion cheat sheet."""
import time
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from leaderboard.middleware import CONTENT_SECURITY_POLICY
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.templatetags.markdown_tags import ATTRIBUTES, TAGS, URL_SCHEMES, render_markdown

OWASP_VECTORS = [
    "<script>alert('XSS')</script>",
    "<SCRIPT SRC=https://xss.example/xss.js></SCRIPT>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](java\tscript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[x][1]\n\n[1]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "[x](http://a.example\" onmouseover=\"alert(1))",
    "[x](http://a.example 'title\" onmouseover=\"alert(1)')",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG \"\"\"><SCRIPT>alert(\"XSS\")</SCRIPT>\"\\>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert('XSS')>",
    "<BODY ONLOAD=alert('XSS')>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=javascript:alert('XSS');\">",
    "<LINK REL=\"stylesheet\" HREF=\"javascript:alert('XSS');\">",
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    "<OBJECT TYPE=\"text/x-scriptlet\" DATA=\"https://xss.example/scriptlet.html\"></OBJECT>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<math><a xlink:href=\"javascript:alert(1)\">x</a></math>",
    "<form action=\"javascript:alert(1)\"><button>x</button></form>",
    "<base href=\"javascript:alert(1)//\">",
    "`<script>` and ```\n<script>alert(1)</script>\n```",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "<<SCRIPT>alert(\"XSS\");//\\<</SCRIPT>",
    "\\<a onmouseover=\"alert(document.cookie)\"\\>xxs link\\</a\\>",
]


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))


def _elements(html: str):
    parser = _Elements()
    parser.feed(html)
    return parser.elements


@pytest.mark.parametrize("source", OWASP_VECTORS)
def test_no_vector_yields_script_a_handler_or_a_script_url(source):
    for tag, attrs in _elements(render_markdown(source)):
        assert tag in TAGS, tag
        for name, value in attrs:
            assert name in ATTRIBUTES.get(tag, set()) | {"rel"}, (tag, name)
            if name in ("href", "src"):
                scheme = urlsplit(value or "").scheme.lower()
                assert scheme in URL_SCHEMES or not scheme, value


def test_ordinary_markdown_still_renders():
    html = render_markdown("**bold** [docs](https://example.org/x) `code`\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n\n- one\n- two")
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html and "<table>" in html
    assert '<a href="https://example.org/x" rel="nofollow noopener noreferrer">docs</a>' in html


@pytest.mark.parametrize("hostile", ["[" * 30000, "\n".join("  " * depth + "- x" for depth in range(250)),
                                     ">" * 30000, "*a" * 15000, "![a" * 10000, "[a](" * 10000])
def test_pathological_text_renders_in_a_fraction_of_a_second(hostile):
    render_markdown.cache_clear()
    started = time.monotonic()
    render_markdown(hostile)
    assert time.monotonic() - started < 1.0


@pytest.mark.django_db
def test_a_hostile_description_is_refused_if_too_long_and_the_page_carries_a_csp(client, alice, base_model):
    client.force_login(alice)
    common = {"base_model": base_model.name, "ftype": "Q4_K_M", "title": "t", "rules": "attn_v=q8_0"}
    too_long = client.post("/recipes/new/", {**common, "description": "[" * 30000})
    assert too_long.status_code == 400
    assert too_long.context["form"].errors["description"] == ["30000 characters; at most 10000 are allowed"]
    client.post("/recipes/new/", {**common, "description": "[x](javascript:alert(1)) " + "[" * 9000})
    started = time.monotonic()
    page = client.get(Recipe.objects.get().get_absolute_url())
    assert page.status_code == 200 and time.monotonic() - started < 2
    description = page.content.decode().split('class="description"')[1].split("</div>")[0]
    assert "[x](javascript:alert(1))" in description and "<a " not in description
    assert page["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY.split("style-src")[0]
