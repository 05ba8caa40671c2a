from django.apps import AppConfig


class FrontiersConfig(AppConfig):
    name = "leaderboard.frontiers"
    verbose_name = "Frontiers"
