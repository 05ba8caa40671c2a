from django.core.management.base import BaseCommand, CommandError

from leaderboard.basemodels.services import NotACorpus, corpus_register
from leaderboard.files.store import FetchError


class Command(BaseCommand):
    help = "Register an evaluation text (local path or https URL) with its chunking."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("source")
        parser.add_argument("--n-ctx", type=int, default=512)
        parser.add_argument("--chunks", type=int, default=8)
        parser.add_argument("--default", action="store_true", help="use it for new runs")
        parser.add_argument("--note", default="")

    def handle(self, name, source, n_ctx, chunks, default, note, **_):
        try:
            corpus = corpus_register(name=name, source=source, n_ctx=n_ctx, n_chunks=chunks,
                                     make_default=default, note=note)
        except (FetchError, OSError, NotACorpus) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"registered corpus {corpus} sha256 {corpus.sha256[:12]}…")
