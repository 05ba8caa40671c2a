from django.apps import AppConfig


class RecipesConfig(AppConfig):
    name = "leaderboard.recipes"
    label = "recipes"
