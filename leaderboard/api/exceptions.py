"""One exception handler: every API error carries a stable code beside DRF's usual body."""
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "default_code", "error")
    if isinstance(response.data, dict) and "code" not in response.data:
        response.data = {"code": code, **response.data} if "detail" in response.data else {"code": code, "errors": response.data}
    return response
