"""Request rates for the API (rates in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

Every request counts against its user (its client address when anonymous) and against its client
address whoever is logged in, so many accounts from one machine share one budget. Writes (recipe
submissions, reproduction requests) have their own, much smaller rate per user. Counts live in the
shared cache (Redis), so every web process sees the same ones.
"""
from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class SettingsRateThrottle(SimpleRateThrottle):
    """Reads its rate from the settings when a request comes (DRF's reads them once, at import)."""

    def get_rate(self):
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]


class UserOrAddressRateThrottle(SettingsRateThrottle):
    scope = "user_or_address"

    def get_cache_key(self, request, view):
        who = f"user-{request.user.pk}" if request.user.is_authenticated else f"address-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": who}


class AddressRateThrottle(SettingsRateThrottle):
    scope = "address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WriteRateThrottle(SettingsRateThrottle):
    scope = "write"

    def get_cache_key(self, request, view):
        if request.method not in WRITE_METHODS or not request.user.is_authenticated:
            return None  # reads are counted above; anonymous writes are refused before they cost anything
        return self.cache_format % {"scope": self.scope, "ident": f"user-{request.user.pk}"}
