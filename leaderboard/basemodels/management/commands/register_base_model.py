from django.core.management.base import BaseCommand, CommandError

from leaderboard.basemodels.services import base_model_register
from leaderboard.files.store import FetchError


class Command(BaseCommand):
    help = "Register a base model GGUF (local path or https URL): reads its architecture and tensor inventory."

    def add_arguments(self, parser):
        parser.add_argument("source", help="local path or https URL of the GGUF")
        parser.add_argument("--sha256", help="expected sha256; the file is refused if it differs")
        parser.add_argument("--name", help="display name (default: general.name)")
        parser.add_argument("--family", default="")

    def handle(self, source, sha256, name, family, **_):
        try:
            model = base_model_register(source=source, sha256=sha256, name=name, family=family)
        except (FetchError, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        arch = model.architecture
        self.stdout.write(
            f"registered {model.name} (id {model.pk}, sha256 {model.sha256[:12]}…, {model.size_bytes:,} bytes): "
            f"{arch.name}, {arch.block_count} blocks, width {arch.embedding_length}, {len(model.tensors)} tensors")
