from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "leaderboard.api"
    label = "api"

    def ready(self):
        from leaderboard.api import schema  # noqa: F401  (registers the OpenAPI view descriptions)
