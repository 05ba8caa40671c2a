from django.apps import AppConfig


class PredictorsConfig(AppConfig):
    name = "leaderboard.predictors"
    label = "predictors"
