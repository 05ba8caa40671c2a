"""Request guards and response headers that hold for every page and API endpoint.

* A body larger than its limit is refused from its Content-Length alone (413), before Django reads a
  byte of it into memory or /tmp: MAX_UPLOAD_REQUEST_BYTES for multipart uploads (an imatrix),
  MAX_MODEL_UPLOAD_REQUEST_BYTES where an experiment is filed (an arm's GGUF), DATA_UPLOAD_MAX_MEMORY_SIZE for
  anything else.
* Text with a NUL character (query string, headers and cookies, form fields, JSON strings) is refused with a 400: PostgreSQL
  cannot store it, and every endpoint would otherwise answer it with a 500.
* A database that does not answer (a connect or statement timeout, a dropped connection) gives a 503
  with Retry-After instead of a 500 or a hung request.
* A Content-Security-Policy: scripts only from this site's /static/ (no inline script), so markup that
  slipped through could not run anything.
API paths get JSON errors with a stable code, like every other API error (leaderboard/api/exceptions.py).
"""
from __future__ import annotations

import json

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

# PostgreSQL did not answer in time (connect_timeout, statement_timeout) or the connection broke
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE_DETAIL = "the database is not answering; try again in a minute"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",  # Plotly sets inline styles on the elements it draws
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def _refuse(request, status: int, code: str, detail: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"code": code, "detail": detail}, status=status)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


def database_unavailable(request):
    response = _refuse(request, 503, "database_unavailable", DATABASE_UNAVAILABLE_DETAIL)
    response["Retry-After"] = "30"
    return response


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _query_or_headers_have_nul(request) -> bool:
    return "%00" in request.META.get("QUERY_STRING", "") or any(
        _has_nul(key) or _has_nul(values) for key, values in request.GET.lists()) or any(
        _has_nul(value) for key, value in request.META.items() if key.startswith("HTTP_"))


def _body_has_nul(request) -> bool:
    content_type = request.content_type or ""
    if content_type == "application/json":
        try:
            return _has_nul(json.loads(request.body or b"null"))
        except ValueError:
            return False  # not JSON: the view's parser says so
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return any(_has_nul(key) or _has_nul(values) for key, values in request.POST.lists())
    return False


def upload_limit(path: str) -> int:
    """Only filing an experiment takes a model file (an arm's GGUF); every other upload is an imatrix at most."""
    if path in ("/experiments/new/", "/api/experiments/"):
        return settings.MAX_MODEL_UPLOAD_REQUEST_BYTES
    return settings.MAX_UPLOAD_REQUEST_BYTES


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refuse(request, 400, "bad_request", "Content-Length is not a number")
        limit = (upload_limit(request.path) if request.content_type == "multipart/form-data"
                 else settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if length > limit:
            return _refuse(request, 413, "too_large", f"the request body is {length} bytes; the limit is {limit}")
        if _query_or_headers_have_nul(request) or (request.method in ("POST", "PUT", "PATCH") and _body_has_nul(request)):
            return _refuse(request, 400, "nul_character", "text with a NUL character (\\x00) is not accepted")
        return self.get_response(request)

    def process_exception(self, request, exception):
        return database_unavailable(request) if isinstance(exception, DATABASE_UNAVAILABLE) else None


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
