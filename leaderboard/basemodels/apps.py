from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class BaseModelsConfig(AppConfig):
    name = "leaderboard.basemodels"
    label = "basemodels"

    def ready(self):
        # The fetcher reads LEADERBOARD_FETCH_* itself (it has no Django), when a fetch starts. A value it
        # cannot use stops the web process and the workers here, at start, with the variable named, rather
        # than failing every proposal form (a 500) and every fetch later.
        from leaderboard.files.fetch import FetchConfigError, FetchPolicy

        try:
            FetchPolicy.from_environment()
        except FetchConfigError as exc:
            raise ImproperlyConfigured(str(exc)) from None
