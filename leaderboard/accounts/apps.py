from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "leaderboard.accounts"
    label = "accounts"

    def ready(self):
        from leaderboard.accounts import login_limits  # noqa: F401  (connects the failed-login counter)
