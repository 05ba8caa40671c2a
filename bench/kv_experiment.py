"""Seed 002's KV-cache experiment on Gemma 3 270M, filed through the API and run to a verdict by a real worker.

"Softmax amplifies K-side errors more than V-side errors; the gap should grow with context length": the stock
Q4_K_M quant with a q4_0 K cache, and with a q4_0 V cache, each against the same quant with an f16 cache,
at context 512 and 2048 (a baseline per context: a treatment is compared on the same tokens). The teacher is
always the F16 base with an f16 cache. Criterion per treatment: mean KLD ≤ baseline's + 0.01 nats.

Uses the site's database and broker (`make run`'s), registers the Gemma base and WikiText-2 as the demo
does, starts one worker process and waits. Prints the experiment's table, then the K-versus-V paired
difference per context, and last one figure: (ΔKLD_K / ΔKLD_V at 2048) ÷ (ΔKLD_K / ΔKLD_V at 512) — above 1
means the K-side excess grows with context.

    .venv/bin/python bench/kv_experiment.py [--target 2] [--chunks 8]
"""
from __future__ import annotations

import argparse

from on_site import gemma_and_corpus, work_off  # noqa: I001  (sets Django up first)
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from leaderboard.experiments.models import Experiment
from leaderboard.experiments.selectors import experiment_standing
from leaderboard.frontiers.selectors import paired_difference, token_arrays_by_id

HYPOTHESIS = ("Softmax amplifies K-side errors more than V-side errors; the gap should grow with context length "
              "(seed 002, cexp_fd30cf), tested with llama.cpp's q4_0 KV cache on Gemma 3 270M.")


def arms(recipe_id: int) -> list[dict]:
    out = []
    for n_ctx in (512, 2048):
        ctx = {} if n_ctx == 512 else {"n_ctx": n_ctx}
        out += [{"label": f"f16 cache @{n_ctx}", "role": "baseline", "recipe": recipe_id, **ctx},
                {"label": f"K q4_0 @{n_ctx}", "role": "treatment", "recipe": recipe_id, "type_k": "q4_0", "n_ctx": n_ctx},
                {"label": f"V q4_0 @{n_ctx}", "role": "treatment", "recipe": recipe_id, "type_v": "q4_0", "n_ctx": n_ctx}]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=8)
    args = parser.parse_args()
    base, corpus = gemma_and_corpus("KV bench", args.chunks)
    user, _ = get_user_model().objects.get_or_create(username="bench-kv")
    client = APIClient(HTTP_HOST="127.0.0.1")  # the real API stack, middleware included, in this process
    client.force_authenticate(user)
    recipe = client.post("/api/recipes/", {"base_model": base.name, "ftype": "Q4_K_M", "title": "Stock Q4_K_M",
                                           "method": "stock"}, format="json").json()
    filed = client.post("/api/experiments/", {
        "title": "K-cache vs V-cache quantization error, 512 and 2048 tokens", "hypothesis": HYPOTHESIS,
        "tags": ["KV-cache"], "base_model": base.name, "corpus": corpus.name, "reproduction_target": args.target,
        "criterion": {"metric": "kld_mean", "comparator": "<=", "threshold": 0.01, "relative": False},
        "arms": arms(recipe["id"])}, format="json")
    assert filed.status_code == 201, filed.content
    pk = filed.json()["id"]
    queued = client.post(f"/api/experiments/{pk}/reproductions/").json()["queued"]
    print(f"experiment #{pk}: {len(queued)} runs queued", flush=True)

    seconds = work_off(queued, "bench-kv")
    print(f"all runs final in {seconds:.0f} s", flush=True)
    report(Experiment.objects.get(pk=pk))


def report(experiment: Experiment) -> None:
    standing = experiment_standing(experiment)
    print(f"\n{experiment.public_id} {experiment.title} — result: {standing.result}")
    print(f"criterion: {experiment.success_criterion().describe()}; profile: {standing.profile_label}")
    print("Note: the F16 base was dequantized from a 4-bit file; the quant here is Q4_K_M, the KV cache is what varies.\n")
    print(f"{'arm':<18} {'n/target':>8} {'mean KLD':>10} {'PPL':>9} {'same top %':>10}  {'ΔKLD vs baseline [95 % CI]':<36} verdict")
    for a in standing.arms:
        m = a.metrics
        d = a.differences["kld_mean"] if a.differences else None
        delta = f"{d.estimate:+.5f} [{d.low:+.5f}, {d.high:+.5f}]" if d else "—"
        print(f"{a.arm.label:<18} {a.n:>3}/{a.target:<4} {m.get('kld_mean', float('nan')):>10.5f} "
              f"{m.get('ppl', float('nan')):>9.3f} {m.get('same_top_p', float('nan')):>10.2f}  {delta:<36} "
              f"{a.verdict if a.arm.role == 'treatment' else 'baseline'}")
    by_label = {a.arm.label: a for a in standing.arms}
    ratios = []
    for n_ctx in (512, 2048):
        k, v = by_label[f"K q4_0 @{n_ctx}"], by_label[f"V q4_0 @{n_ctx}"]
        if not (k.representative and v.representative and k.differences and v.differences):
            continue
        data = token_arrays_by_id({k.representative.tokens_id, v.representative.tokens_id})
        kv = paired_difference(data, k.representative.tokens_id, v.representative.tokens_id)["kld_mean"]
        dk, dv = k.differences["kld_mean"].estimate, v.differences["kld_mean"].estimate
        ratios.append(dk / dv if dv else float("inf"))
        print(f"context {n_ctx}: K − V mean KLD {kv.estimate:+.5f} [{kv.low:+.5f}, {kv.high:+.5f}]; "
              f"ΔKLD_K / ΔKLD_V = {ratios[-1]:.2f}")
    if len(ratios) == 2:
        print(f"{ratios[1] / ratios[0]:.3f}")


if __name__ == "__main__":
    main()
