"""Pages of at most MAX_LIMIT rows; a limit or offset out of range is clamped, never sent to PostgreSQL."""
from rest_framework.pagination import LimitOffsetPagination, _positive_int

MAX_LIMIT = 200
MAX_OFFSET = 10 ** 9  # far beyond any table here, far below PostgreSQL's bigint


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_offset(self, request):
        try:
            return _positive_int(request.query_params[self.offset_query_param], cutoff=MAX_OFFSET)
        except (KeyError, ValueError):
            return 0
