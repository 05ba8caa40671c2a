from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "leaderboard.experiments"
    label = "experiments"
