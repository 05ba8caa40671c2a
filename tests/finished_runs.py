"""Finished runs as a worker leaves them (metrics, per-token arrays, build, hardware, profile), for tests of
what the site shows. tests/workers/test_reproduce.py makes such runs with a real worker end to end."""
from __future__ import annotations

import numpy as np

from leaderboard.domain import run_states
from leaderboard.domain.paired import TokenArrays
from leaderboard.recipes.models import Recipe
from leaderboard.runs import services
from leaderboard.runs.models import Run

CPU = {"backend": "cpu", "device": "cpu", "cpu": "test cpu"}
CUDA = {"backend": "cuda", "device": "gpu", "gpu": "test gpu"}
BUILD = {"build_family": "llama-cpp-python 0.3.36 / llama.cpp test", "platform": "linux-x86_64"}
GIB = 1024 ** 3


def tokens(kld_level: float, seed: int = 0) -> TokenArrays:
    rng = np.random.default_rng(seed)
    kld = rng.gamma(1.0, kld_level, size=8 * 40)
    return TokenArrays(kld=kld, nll=rng.gamma(3.0, 1.0, 320).astype(np.float32), same_top=rng.random(320) < 0.9,
                       dp=rng.normal(0, kld_level, 320).astype(np.float32), n_chunks=8)


def recipe(user, base_model, title, ftype="Q4_K_M", method="stock", rules=None, imatrix=""):
    return Recipe.objects.create(base_model=base_model, ftype=ftype, title=title, method=method, submitter=user,
                                 rules=rules or [], content_hash=f"{base_model.pk}-{title}", imatrix_sha256=imatrix)


def finished_run(r, corpus, *, size_gib, kld, hardware=CPU, sha=None, token_seed=0, kld_err=0.002, ppl=20.0,
                 arrays=None):
    arrays = arrays or tokens(kld, token_seed)
    run = Run.objects.create(
        recipe=r, corpus=corpus, state=run_states.DONE, output_sha256=sha or f"{r.pk:064d}",
        output_bytes=int(size_gib * GIB), bpw=size_gib * 8, build=BUILD, hardware=hardware,
        profile=services.profile_for(corpus=corpus, build=BUILD, hardware=hardware),
        tokens=services.token_artifact_store(arrays),
        metrics={"kld_mean": float(arrays.kld.mean()), "kld_err": kld_err, "ppl": ppl, "ppl_err": 0.3,
                 "ppl_ratio": ppl / 19.0, "ppl_ratio_err": 0.01, "same_top_p": 90.0, "same_top_p_err": 1.0,
                 "rms_dp": 3.0, "rms_dp_err": 0.1, "kld_p99": 10 * kld, "n_tokens": 320.0, "n_chunks": 8})
    return run
