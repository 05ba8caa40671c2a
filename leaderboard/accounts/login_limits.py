"""Password guessing is capped: after LOGIN_FAILURES_ALLOWED failed logins for one username, or from one
client address, within LOGIN_FAILURE_WINDOW_SECONDS, every login for it is refused until the window
passes, the right password included. Counted in the shared cache, for every way in (the login page,
the API's token endpoint, the admin), because all of them go through django.contrib.auth.authenticate.
"""
from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver


def client_address(request) -> str:
    """The client's address; with NUM_PROXIES trusted proxies in front, the one the outermost of them saw."""
    if request is None:
        return "unknown"
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        return hops[-min(proxies, len(hops))]
    return request.META.get("REMOTE_ADDR", "unknown")


def _keys(request, username: str | None) -> list[str]:
    # hashed: a username or forwarded address may hold any character, a cache key may not
    return [f"login-failures:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"
            for kind, value in (("address", client_address(request)), ("user", (username or "").lower()))]


def login_blocked(request, username: str | None) -> bool:
    return any((cache.get(key) or 0) >= settings.LOGIN_FAILURES_ALLOWED for key in _keys(request, username))


@receiver(user_login_failed)
def _count_failure(sender, credentials, request=None, **kwargs):
    for key in _keys(request, credentials.get("username")):
        cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)


class RateLimitedModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if login_blocked(request, username or kwargs.get("email")):
            raise PermissionDenied("too many failed logins")  # authenticate() stops here and counts a failure
        return super().authenticate(request, username=username, password=password, **kwargs)
