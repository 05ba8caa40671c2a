"""One exception handler: every API error carries a stable code beside DRF's usual body."""
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from leaderboard.middleware import DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_DETAIL


class TooManyQueuedRuns(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_queued"


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):  # Django's own limits: JSON like every API error, not an HTML page
        return Response({"code": "too_large", "detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return Response({"code": "database_unavailable", "detail": DATABASE_UNAVAILABLE_DETAIL},
                        status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "30"})
    if isinstance(exc, SuspiciousOperation):
        return Response({"code": "bad_request", "detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "default_code", "error")
    if isinstance(response.data, dict) and "code" not in response.data:
        response.data = {"code": code, **response.data} if "detail" in response.data else {"code": code, "errors": response.data}
    return response
