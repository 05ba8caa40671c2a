"""The project itself as an app: when a process starts (web, worker, beat, manage.py), it logs each problem
of its LEADERBOARD_* environment once, as a warning (leaderboard/domain/settings_check.py)."""
import logging
import os

from django.apps import AppConfig
from django.conf import settings

from leaderboard.domain.settings_check import settings_problems

log = logging.getLogger("leaderboard.settings")


class LeaderboardConfig(AppConfig):
    name = "leaderboard"
    verbose_name = "GGUF proving ground"

    def ready(self) -> None:
        if not getattr(settings, "REPORT_SETTINGS_PROBLEMS", False):
            return
        for problem in settings_problems(os.environ, {**settings.SETTINGS_READ, **settings.READ_ELSEWHERE},
                                         debug=settings.DEBUG, https=settings.HTTPS,
                                         has_key_file=(settings.VAR_DIR / "secret_key").is_file()):
            log.warning("settings: %s", problem)
