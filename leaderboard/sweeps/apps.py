from django.apps import AppConfig


class SweepsConfig(AppConfig):
    name = "leaderboard.sweeps"
    label = "sweeps"
