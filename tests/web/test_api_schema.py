"""The API describes itself: an OpenAPI schema at /api/schema/ and a browsable page at /api/docs/ whose
scripts load from /static/ (the Content-Security-Policy allows no inline script)."""
import re

import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_the_schema_is_openapi_and_names_the_endpoints(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    for path in ("/api/base-models/", "/api/recipes/{id}/", "/api/runs/{id}/"):
        assert path in schema["paths"], path


def test_the_docs_page_runs_no_inline_script(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.content.decode(), re.S)
    assert scripts and all("src=" in attributes and not body.strip() for attributes, body in scripts)
    for src in re.findall(r'<script[^>]*src="([^"]+)"', page.content.decode()):
        assert client.get(src).status_code == 200, src
