"""schemathesis against the API's own OpenAPI schema (in-process WSGI, bounded examples): no request,
anonymous or authenticated, gets a server error, and every 2xx response has the schema's shape."""
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error, response_schema_conformance

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
EXAMPLES = 30


@pytest.fixture
def token(alice, base_model, corpus, settings):
    # as Django's test client does: the WSGI handler must not close the test's connection (its transaction)
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield _token(alice, settings)
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def _token(alice, settings) -> str:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": dict.fromkeys(
        settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min")}  # fuzz the API, not the limiter
    return Token.objects.get_or_create(user=alice)[0].key


@pytest.mark.django_db
@schema.parametrize()
@hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, token):
    for headers in ({}, {"Authorization": f"Token {token}"}):
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
        if 200 <= response.status_code < 300:
            case.validate_response(response, checks=[response_schema_conformance])
