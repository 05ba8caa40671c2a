"""Finished reproductions in bulk, for the web latency bench and the query-count tests.

The rows are what the workers would have written, made without running llama.cpp: recipes (stock types and
override recipes, some with an imatrix) on real registered base models, runs in state "done" on real
measurement profiles (services.profile_for), and per recipe one TokenArtifact packed by domain.paired.pack.
Each recipe's per-token arrays are synthetic but shaped like a measurement — KLD grows as bits per weight
fall, tokens that are hard for one quant are hard for all (so paired differences are correlated, as real
ones are) — and each run's metrics dict is llama-perplexity's statistics computed from those arrays by
domain.kld_stats, with a little run-to-run jitter. A few recipes are left unverified on purpose: a single
run, a run that disagrees beyond its noise, or a run of the same build that made a different file.
"""
from __future__ import annotations

import hashlib
import math
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from leaderboard.domain import paired, run_states
from leaderboard.domain.kld_stats import kld_stats
from leaderboard.recipes.models import Recipe
from leaderboard.runs import services
from leaderboard.runs.models import MeasurementProfile, Run, TokenArtifact

STOCK_TYPES = (("Q2_K", 2.96), ("Q3_K_S", 3.50), ("Q3_K_M", 3.91), ("Q3_K_L", 4.27), ("Q4_0", 4.55),
               ("Q4_K_S", 4.58), ("Q4_K_M", 4.89), ("Q5_0", 5.54), ("Q5_K_S", 5.54), ("Q5_K_M", 5.70),
               ("Q6_K", 6.56), ("Q8_0", 8.50))
OVERRIDE_TENSORS = ("ffn_down", "ffn_gate", "ffn_up", "attn_v", "attn_k", "attn_q", "attn_output")
OVERRIDE_TYPES = ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_0")
METHODS = (Recipe.Method.MANUAL, Recipe.Method.ALLOCATOR, Recipe.Method.ABLATION, Recipe.Method.OTHER)
# Runs per recipe cycle through this pattern (mean 10): some recipes have a single run, a few have many.
RUN_PATTERN = (1, 2, 5, 12, 30)
BUILD = {"llama_cpp_python": "0.3.16", "llama_cpp_commit": "4227c9b", "ggml_version": "0.0.1",
         "platform": "linux-x86_64", "gpu_offload": False}
HARDWARE = {"cpu": "AMD EPYC 9654 96-Core Processor", "gpu": "", "device": "cpu", "n_gpu_layers": 0, "backend": "cpu"}
CUDA_BUILD = {**BUILD, "platform": "linux-x86_64-cuda12", "gpu_offload": True}
CUDA_HARDWARE = {"cpu": "Intel Xeon Platinum 8480+", "gpu": "NVIDIA H100 80GB HBM3", "device": "gpu",
                 "n_gpu_layers": 99, "backend": "cuda"}
JITTERED = ("kld_mean", "ppl", "ppl_ratio", "same_top_p", "rms_dp", "kld_p99")


def _n_params(base_model) -> int:
    return sum(math.prod(t["shape"]) for t in base_model.tensors)


def _runs_per_recipe(n_recipes: int, n_runs: int) -> list[int]:
    """n_runs spread over n_recipes along RUN_PATTERN, every recipe at least one run."""
    if n_runs < n_recipes:
        raise ValueError("every recipe needs at least one run")
    weights = [RUN_PATTERN[i % len(RUN_PATTERN)] for i in range(n_recipes)]
    counts = [max(1, n_runs * w // sum(weights)) for w in weights]
    by_weight = sorted(range(n_recipes), key=lambda i: (-weights[i], i))
    i = 0
    while sum(counts) != n_runs:
        j = by_weight[i % n_recipes]
        if sum(counts) < n_runs:
            counts[j] += 1
        elif counts[j] > 1:
            counts[j] -= 1
        i += 1
    return counts


class _Tokens:
    """One base model's synthetic token stream: its own NLL and how hard each token is for any quant."""

    def __init__(self, rng: np.random.Generator, n_chunks: int, per_chunk: int):
        self.n_chunks = n_chunks
        n = n_chunks * per_chunk
        self.nll_base = rng.gamma(2.0, 1.4, n).astype(np.float32)
        chunk_difficulty = np.repeat(rng.lognormal(0.0, 0.4, n_chunks), per_chunk)
        self.difficulty = (rng.exponential(1.0, n) * chunk_difficulty).astype(np.float64)

    def measure(self, rng: np.random.Generator, kld_mean: float) -> tuple[paired.TokenArrays, dict]:
        n = self.difficulty.size
        kld = self.difficulty * kld_mean * rng.lognormal(-0.045, 0.3, n)
        nll = np.maximum(self.nll_base + 0.5 * kld + rng.normal(0.0, 0.3, n) * np.sqrt(kld), 1e-4).astype(np.float32)
        same_top = rng.random(n) < np.exp(-2.5 * kld)
        arrays = paired.TokenArrays(kld=kld.astype(np.float32), nll=nll, same_top=same_top,
                                    dp=np.exp(-nll) - np.exp(-self.nll_base), n_chunks=self.n_chunks)
        stats = kld_stats(nll=nll, nll_base=self.nll_base, kld=arrays.kld, same_top=same_top)
        stats["n_chunks"] = self.n_chunks
        return arrays, stats


def _jittered(rng: np.random.Generator, stats: dict, scale: float) -> dict:
    """The same recipe measured again on another machine of the same profile: each value moves by a
    fraction `scale` of its own ±."""
    out = dict(stats)
    for key in JITTERED:
        err = stats.get(f"{key}_err") or abs(stats[key]) * 0.02
        out[key] = stats[key] + float(rng.normal(0.0, scale)) * err
    return out


def _recipe_row(i: int, j: int, base_model, submitters, rng: np.random.Generator, tag: str) -> tuple[Recipe, float]:
    """The j-th recipe of a base model (the first ones are the stock types), and its bits per weight."""
    if j < len(STOCK_TYPES):
        ftype, bpw = STOCK_TYPES[j]
        rules, title, method = [], f"stock {ftype}", Recipe.Method.STOCK
    else:
        ftype, stock_bpw = STOCK_TYPES[int(rng.integers(0, len(STOCK_TYPES)))]
        tensors = [(int(rng.integers(0, 30)), str(t)) for t in
                   rng.choice(OVERRIDE_TENSORS, size=int(rng.integers(1, 4)), replace=False)]
        rules = [{"pattern": f"blk\\.{block}\\.{name}", "type": str(rng.choice(OVERRIDE_TYPES)), "line": n + 1}
                 for n, (block, name) in enumerate(tensors)]
        bpw = float(np.clip(stock_bpw + rng.normal(0.0, 0.35), 2.4, 8.6))
        title = f"{ftype} with " + ", ".join(f"{name} of block {block} at {r['type']}"
                                            for (block, name), r in zip(tensors, rules))
        method = METHODS[i % len(METHODS)]
    imatrix = hashlib.sha256(f"{tag}-imatrix-{i}".encode()).hexdigest() if i % 10 == 3 else ""
    source = "\n".join(f"{r['pattern']}={r['type']}" for r in rules)
    recipe = Recipe(base_model=base_model, ftype=ftype, rules=rules, source_text=source, title=title[:200],
                    method=method, submitter=submitters[i % len(submitters)], imatrix_sha256=imatrix,
                    content_hash=hashlib.sha256(f"{tag}-recipe-{i}".encode()).hexdigest(),
                    plan_status=Recipe.PlanStatus.PENDING)
    return recipe, bpw


@transaction.atomic
def seed_finished_runs(*, base_models, corpus, submitters, n_recipes: int, n_runs: int, seed: int = 0,
                       tag: str = "seed") -> list[MeasurementProfile]:
    """n_recipes recipes spread over base_models, n_runs finished runs spread over the recipes (see
    RUN_PATTERN). Most runs are on a CPU profile of the corpus; every tenth recipe also has runs on a CUDA
    profile. Returns the profiles, CPU first. `tag` keeps content hashes unique across calls."""
    rng = np.random.default_rng(seed)
    cpu = services.profile_for(corpus=corpus, build=BUILD, hardware=HARDWARE)
    cuda = services.profile_for(corpus=corpus, build=CUDA_BUILD, hardware=CUDA_HARDWARE)
    per_chunk = corpus.n_ctx - 1 - corpus.n_ctx // 2
    streams = {m.pk: _Tokens(rng, corpus.n_chunks, per_chunk) for m in base_models}
    params = {m.pk: _n_params(m) for m in base_models}

    recipes, bpws = [], []
    for i in range(n_recipes):
        model = base_models[i % len(base_models)]
        recipe, bpw = _recipe_row(i, i // len(base_models), model, submitters, rng, tag)
        recipes.append(recipe)
        bpws.append(bpw)
    Recipe.objects.bulk_create(recipes)

    artifacts: dict[str, TokenArtifact] = {}
    runs = []
    finished = timezone.now() - timedelta(days=30)
    for i, (recipe, bpw, count) in enumerate(zip(recipes, bpws, _runs_per_recipe(n_recipes, n_runs))):
        kld_mean = 2.2 * math.exp(-1.15 * (bpw - 2.0)) * float(rng.lognormal(0.0, 0.25))
        arrays, stats = streams[recipe.base_model_id].measure(rng, kld_mean)
        data = paired.pack(arrays)
        digest = hashlib.sha256(data).hexdigest()
        artifacts.setdefault(digest, TokenArtifact(sha256=digest, data=data, n_tokens=int(arrays.kld.size)))
        output_bytes = int(params[recipe.base_model_id] * bpw / 8) + 1_048_576
        file_sha = hashlib.sha256(f"{tag}-file-{i}".encode()).hexdigest()
        for k in range(count):
            on_cuda = i % 10 == 4 and k % 2 == 1
            metrics = stats if k == 0 else _jittered(rng, stats, 0.3)
            sha = file_sha
            if k == count - 1 and count > 1 and i % 31 == 7:  # one run disagrees beyond its noise
                metrics = _jittered(rng, stats, 12.0)
            if k == count - 1 and count > 1 and i % 37 == 11:  # one run of the same build made another file
                sha = hashlib.sha256(f"{tag}-file-{i}-odd".encode()).hexdigest()
            finished += timedelta(seconds=int(rng.integers(30, 400)))
            runs.append(Run(
                recipe=recipe, corpus=corpus, profile=cuda if on_cuda else cpu, tokens=artifacts[digest],
                requested_by=recipe.submitter, state=run_states.DONE, progress=1.0, attempt=1,
                worker=f"worker-{k % 4}", output_sha256=sha, output_bytes=output_bytes, bpw=round(bpw, 4),
                build=CUDA_BUILD if on_cuda else BUILD, hardware=CUDA_HARDWARE if on_cuda else HARDWARE,
                timings={"fetching": 0.4, "quantizing": 21.0, "measuring": 48.0},
                metrics={**metrics, "n_ctx": corpus.n_ctx}, started_at=finished - timedelta(seconds=70),
                finished_at=finished, heartbeat_at=finished))
    TokenArtifact.objects.bulk_create(artifacts.values(), ignore_conflicts=True, batch_size=200)
    Run.objects.bulk_create(runs, batch_size=1000)
    return [cpu, cuda]
