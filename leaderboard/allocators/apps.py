from django.apps import AppConfig


class AllocatorsConfig(AppConfig):
    name = "leaderboard.allocators"
    label = "allocators"
