from django.core.management.base import BaseCommand, CommandError

from leaderboard.allocators.imatrix_jobs import CalibrationRefused, calibration_register
from leaderboard.basemodels.models import EvalCorpus
from leaderboard.files.store import FetchError


class Command(BaseCommand):
    help = ("Register a calibration text imatrices are computed from: a file (local path or https URL), refused when "
            "it overlaps an evaluation corpus, or --beyond CORPUS: that evaluation corpus after its evaluation span.")

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("source", nargs="?", default="")
        parser.add_argument("--beyond", metavar="CORPUS", help="an evaluation corpus's name")
        parser.add_argument("--note", default="")

    def handle(self, name, source, beyond, note, **_):
        corpus = None
        if beyond:
            corpus = EvalCorpus.objects.filter(name=beyond).first()
            if corpus is None:
                raise CommandError(f"no evaluation corpus named '{beyond}'")
        try:
            text = calibration_register(name=name, source=source, beyond=corpus, note=note)
        except (FetchError, OSError, CalibrationRefused) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"registered calibration text {text} sha256 {text.sha256[:12]}…")
