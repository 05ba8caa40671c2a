"""Seed a database for bench/load.sh: a tiny base model, a corpus, 100 recipes and RUNS finished runs.
Idempotent: does nothing when the runs are there already."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402

from leaderboard.basemodels.services import base_model_register, corpus_register  # noqa: E402
from leaderboard.recipes.models import Recipe  # noqa: E402
from leaderboard.runs.models import Run  # noqa: E402
from tests.tiny_model import write_tiny_llama  # noqa: E402

RUNS = int(os.environ.get("LOAD_RUNS", "10000"))
RECIPES = 100


def main() -> None:
    if Run.objects.count() >= RUNS:
        print(f"{Run.objects.count()} runs already there")
        return
    folder = REPO_ROOT / "var" / "load-bench"
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "tiny.gguf"
    if not model.exists():
        write_tiny_llama(model, n_embd=256, n_ff=512, n_layer=12)
    text = folder / "corpus.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 400)
    base = base_model_register(source=str(model), name="load-tiny")
    corpus = corpus_register(name="load-corpus", source=str(text), n_ctx=128, n_chunks=4, make_default=True)
    user, _ = get_user_model().objects.get_or_create(username="load-bench")
    rng = random.Random(16)
    recipes = Recipe.objects.bulk_create([
        Recipe(base_model=base, ftype=rng.choice(["Q3_K_M", "Q4_K_M", "Q5_K_M"]), title=f"load recipe {i}",
               rules=[{"pattern": f"blk\\.{i % 12}\\.ffn_down", "type": "q6_K", "line": 1}], submitter=user,
               content_hash=f"load-{i:059d}", plan_status=Recipe.PlanStatus.READY)
        for i in range(RECIPES)], ignore_conflicts=True)
    recipes = list(Recipe.objects.filter(content_hash__startswith="load-"))
    now = timezone.now()
    Run.objects.bulk_create([
        Run(recipe=recipes[i % len(recipes)], corpus=corpus, requested_by=user, state="done", attempt=1,
            worker="load-bench", heartbeat_at=now, finished_at=now, output_sha256=f"{i:064x}",
            output_bytes=4_000_000 + i, bpw=4 + rng.random(),
            metrics={"kld_mean": rng.random() / 10, "ppl": 20 + rng.random(), "same_top_p": 90 + rng.random()})
        for i in range(RUNS)], batch_size=2000)
    print(f"seeded {Run.objects.count()} runs over {len(recipes)} recipes")


if __name__ == "__main__":
    main()
