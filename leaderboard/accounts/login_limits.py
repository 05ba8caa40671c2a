"""Password guessing is capped without handing anyone a way to lock a user out.

Failed logins are counted in the shared cache for LOGIN_FAILURE_WINDOW_SECONDS, for every way in (the login
page, the API's token endpoint, the admin: all go through django.contrib.auth.authenticate), three ways:
- per (username, client address): after LOGIN_FAILURES_ALLOWED failures that address may not try that
  username again until the window passes;
- per client address: after LOGIN_ADDRESS_FAILURES_ALLOWED failures, over any usernames, that address may
  not log in at all;
- per username, over all addresses: after LOGIN_USER_FAILURES_ALLOWED failures (guessing spread over many
  addresses), every address that has failed for that username at least once is refused for it.
An IPv6 client counts as its /64 network, not its address: one subscriber or server is routinely given a
whole /64, so per-address limits would hand it endless fresh addresses. IPv4 counts by the address.
An address that has not failed for a username is never refused it: the right password from the user's own
machine still works while someone else guesses (docs/deploy.md, "Security settings", says what that costs).
A refused login answers 429 with Retry-After, not the 400 of a wrong password, and is not counted.
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
import time

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpResponse
from rest_framework import status
from rest_framework.exceptions import Throttled


class LoginLocked(Throttled):
    """Raised by the backend, so it passes through authenticate() (which swallows PermissionDenied):
    the API answers it as any throttle (429, Retry-After, a code), pages through LoginLockedMiddleware."""

    default_code = "login_locked"

    def __init__(self, wait: int):
        minutes = max(1, math.ceil(wait / 60))
        # wait is set after: Throttled would append a second sentence ("Expected available in …")
        super().__init__(detail=f"too many failed logins from this address; try again in "
                                f"{minutes} minute{'s' if minutes > 1 else ''}")
        self.wait = wait


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


def counted_address(address: str) -> str:
    """What the limits count a client address as: an IPv6 address's /64 (an IPv4-mapped one as its IPv4
    address), an IPv4 address itself; anything unparsable as it is."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _keys(request, username: str | None) -> dict[str, str]:
    address, user = counted_address(client_address(request)), (username or "").lower()
    # hashed: a username or forwarded address may hold any character, a cache key may not
    return {kind: f"login-failures:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"
            for kind, value in (("pair", f"{user}\n{address}"), ("address", address), ("user", user))}


def _seconds_left(key: str, now: float) -> float:
    return max(1.0, (cache.get(f"{key}:until") or now) - now)


def login_retry_after(request, username: str | None) -> int | None:
    """Seconds until this address may try this username again; None when it may now."""
    keys = _keys(request, username)
    found = cache.get_many(list(keys.values()))
    count = {kind: found.get(key) or 0 for kind, key in keys.items()}
    now = time.time()
    waits = []
    if count["pair"] >= settings.LOGIN_FAILURES_ALLOWED:
        waits.append(_seconds_left(keys["pair"], now))
    if count["address"] >= settings.LOGIN_ADDRESS_FAILURES_ALLOWED:
        waits.append(_seconds_left(keys["address"], now))
    if count["user"] >= settings.LOGIN_USER_FAILURES_ALLOWED and count["pair"]:
        # lifted when either count expires: the user's total, or this address's failures for the user
        waits.append(min(_seconds_left(keys["user"], now), _seconds_left(keys["pair"], now)))
    return math.ceil(max(waits)) if waits else None


@receiver(user_login_failed)
def _count_failure(sender, credentials, request=None, **kwargs):
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for key in _keys(request, credentials.get("username")).values():
        if cache.add(key, 0, timeout=window):  # a new window: remember when it ends, for Retry-After
            cache.set(f"{key}:until", time.time() + window, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)


class RateLimitedModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        wait = login_retry_after(request, username or kwargs.get("email"))
        if wait is not None:
            raise LoginLocked(wait)
        return super().authenticate(request, username=username, password=password, **kwargs)


class LoginLockedMiddleware:
    """The login page and the admin's: a refused login is a 429 with Retry-After (the API answers it itself)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, LoginLocked):
            return None
        response = HttpResponse(str(exception.detail), status=status.HTTP_429_TOO_MANY_REQUESTS,
                                content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(exception.wait)
        return response
