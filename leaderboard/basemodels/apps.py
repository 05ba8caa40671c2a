from django.apps import AppConfig


class BaseModelsConfig(AppConfig):
    name = "leaderboard.basemodels"
    label = "basemodels"
