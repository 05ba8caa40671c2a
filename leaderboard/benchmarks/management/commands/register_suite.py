from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leaderboard.benchmarks.models import FORMAT_CHOICES, SELECTION_CHOICES
from leaderboard.benchmarks.services import profile_add_suite, suite_register, suite_register_converted
from leaderboard.domain.task_formats import TaskFormatError
from leaderboard.files.store import FetchError


class Command(BaseCommand):
    help = ("Register a benchmark suite: a file in llama-perplexity's format (local path or https URL, with "
            "--sha256), or with --convert an original WinoGrande/ARC/MMLU dataset turned into that format "
            "(SOURCE: a file, or a folder whose *.csv / *.jsonl files are read in name order).")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("source")
        parser.add_argument("--name", default="")
        parser.add_argument("--format", choices=[f for f, _ in FORMAT_CHOICES], help="for a llama.cpp-format file")
        parser.add_argument("--convert", choices=["winogrande", "arc", "mmlu"], help="the original's kind")
        parser.add_argument("--sha256")
        parser.add_argument("--tasks", type=int, default=0, help="tasks per run (0 = all)")
        parser.add_argument("--selection", choices=[s for s, _ in SELECTION_CHOICES], default="random")
        parser.add_argument("--profile", action="append", default=[],
                            help="also add the suite to this eval profile (created when missing); repeatable")
        parser.add_argument("--default-profile", action="store_true", help="make the named profile(s) the default")
        parser.add_argument("--note", default="")

    def handle(self, slug, source, name, format, convert, sha256, tasks, selection, profile, default_profile,
               note, **_):
        if bool(format) == bool(convert):
            raise CommandError("give exactly one of --format (a llama.cpp-format file) and --convert (an original)")
        try:
            if convert:
                path = Path(source)
                files = sorted(p for p in path.iterdir() if p.suffix in (".csv", ".jsonl")) if path.is_dir() else [path]
                if not files:
                    raise CommandError(f"no .csv or .jsonl files in {source}")
                suite = suite_register_converted(slug=slug, name=name or slug, kind=convert, originals=files,
                                                 task_limit=tasks, selection=selection, note=note)
            else:
                suite = suite_register(slug=slug, name=name or slug, format=format, source=source, sha256=sha256,
                                       task_limit=tasks, selection=selection, note=note)
        except (FetchError, OSError, TaskFormatError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"registered suite {suite.slug} ({suite.format}, {suite.n_available} tasks, "
                          f"{suite.n_tasks} per run) sha256 {suite.sha256[:12]}…")
        for profile_name in profile:
            p = profile_add_suite(name=profile_name, slug=slug, make_default=default_profile)
            slugs = ", ".join(s.slug for s in p.suites.all())
            self.stdout.write(f"profile {p.name}: {slugs}{' (default)' if p.is_default else ''}")
