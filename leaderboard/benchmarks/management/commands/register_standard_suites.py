from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from leaderboard.benchmarks.services import standard_suites_register
from leaderboard.domain.task_formats import TaskFormatError


class Command(BaseCommand):
    help = ("Register HellaSwag, ARC-Challenge, WinoGrande and MMLU from a folder laid out like ../shared/data, "
            "with the 'default' (a seeded selection of each, sized to the KLD pass) and 'full' (every task) "
            "eval profiles.")

    def add_arguments(self, parser):
        parser.add_argument("data_dir", nargs="?", default=str(Path(settings.BASE_DIR).parent / "shared" / "data"))

    def handle(self, data_dir, **_):
        try:
            profiles = standard_suites_register(data_dir=Path(data_dir))
        except (OSError, TaskFormatError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        for p in profiles:
            self.stdout.write(f"profile {p.name}{' (default)' if p.is_default else ''}: "
                              + ", ".join(f"{s.slug} ({s.n_tasks} tasks)" for s in p.suites.all()))
