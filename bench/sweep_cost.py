"""What an 18-layer ablation sweep costs when its variant files are spliced (workers/engine/variant_file.py), against
the measuring passes it exists for.

Gemma 3 270M, F16 base, stock Q4_K_M base recipe, the sweep `blk.{i}.ffn_down.weight` -> q2_K for i = 0..17,
WikiText-2 test, 8 x 512 tokens, 2 threads, CPU. Prepared beforehand and not timed: the F16 base and the teacher
(bench/common.py, cached in var/bench-cache/). Timed, as one wall-clock span:
- the plans: llama.cpp's dry run of the base recipe and of each variant (they decide which donors are needed;
  the site has them before any run, so this overstates a real sweep's cost a little);
- quantizing the parent (the base recipe) and the donors (`donor_pins`), through `parent_files`. The variants are
  the site's (domain/sweep.variant_spec): the swept tensor first, the rest of ffn_down pinned to the parent's types
  (an override skips llama.cpp's layer counter), so each changes one tensor and one donor (all 18 at q2_K) serves;
- per variant: splice its file, load it (`Weights`), one measuring pass (`measure_quant` on the loaded weights).
Afterwards, not timed: one variant quantized in full, for comparison and to check that its spliced file is the
same bytes. "18 x one measuring pass alone" is the sum of the sweep's own 18 passes (the pass alone: load
excluded, so loads count against the sweep): on a shared machine a pass takes 11 s or 50 s as the load comes and
goes, and only the passes the sweep itself ran leave its overhead (plans, quantizing, splicing, loading) standing
out of that noise. The LAST line is (total sweep wall time) / (sum of the 18 passes); goal <= 1.3.

    .venv/bin/python bench/sweep_cost.py
"""
from __future__ import annotations

import dataclasses
import statistics
import time

import common as c

BASE_FTYPE = "Q4_K_M"
SWEEP_TYPE = "q2_K"
LAYERS = range(18)
TEMPLATE = "blk.{layer}.ffn_down.weight"
COMPARED_LAYER = 9
GOAL = 1.3


def main() -> int:
    from leaderboard.domain.recipe_format import RecipeSpec
    from leaderboard.domain.sweep import VariantKey, variant_spec
    from workers.engine import variant_file as vf
    from workers.engine.llamacpp.cpu_path import cpu_model
    from workers.engine.llamacpp.decode import Weights
    from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize
    from workers.engine.llamacpp.system import build_info
    from workers.engine.measure import measure_quant
    from workers.engine.planner import resolve_plan

    corpus, base = c.corpus_path(), c.gemma_f16()
    c.log("teacher: building/reusing ...")
    teacher = c.teacher(base, corpus)
    request = QuantizeRequest(BASE_FTYPE)
    work, cache = c.CACHE_ROOT / "sweep", c.CACHE_ROOT / "sweep-parents"
    work.mkdir(parents=True, exist_ok=True)
    spliced = work / "variant.gguf"
    print(f"{base.name}, stock {BASE_FTYPE} parent, blk.{{0..{len(LAYERS) - 1}}}.ffn_down -> {SWEEP_TYPE}; "
          f"{c.N_CHUNKS} x {c.N_CTX} tokens of {corpus.name}, {c.N_THREADS} threads, {cpu_model()}")

    def plan_types(r: QuantizeRequest) -> dict[str, str]:
        return {t.name: t.final_type for t in resolve_plan(base, r).tensors}

    started = time.perf_counter()
    parent_plan = resolve_plan(base, request)
    parent_types = {t.name: t.final_type for t in parent_plan.tensors}
    # the site's variants: the swept tensor first, the rest of ffn_down pinned to the parent's types (domain/sweep.py)
    variants = {i: dataclasses.replace(request, overrides=tuple(
        (r.pattern, r.type_name) for r in variant_spec(RecipeSpec(), parent_plan, [VariantKey(TEMPLATE, i)],
                                                        SWEEP_TYPE).rules)) for i in LAYERS}
    variant_types = {i: plan_types(r) for i, r in variants.items()}
    pins = vf.donor_pins(parent_types, variant_types.values())
    plans_s = time.perf_counter() - started
    print(f"plans: {1 + len(variants)} dry runs in {plans_s:.1f} s; {len(pins)} donors pinning "
          f"{' + '.join(str(len(p)) for p in pins)} tensors")

    key = vf.sweep_key(base_sha256=c.cached_sha256(base), build=build_info()["build_family"], ftype=BASE_FTYPE,
                       overrides=request.overrides, pins=pins)
    vf.remove_parent_files(cache, key)  # made inside the timed span, never left from an earlier run
    made_s: list[float] = []

    def maker(pinned: dict[str, str]):
        def make(path) -> None:
            t = time.perf_counter()
            run_quantize(base, path, dataclasses.replace(request, overrides=vf.pin_overrides(pinned)
                                                         + request.overrides), dry_run=False, nthread=c.N_THREADS)
            made_s.append(time.perf_counter() - t)
        return make

    parent, *donors = vf.parent_files(cache, key, [maker({}), *[maker(p) for p in pins]])
    print(f"parent quantized in {made_s[0]:.1f} s; donors in {', '.join(f'{s:.1f}' for s in made_s[1:])} s")

    passes, loads, splices = [], [], []
    for i in LAYERS:
        t0 = time.perf_counter()
        vf.splice_tensors(parent, donors, variant_types[i], spliced)
        t1 = time.perf_counter()
        with Weights(spliced, c.N_GPU_LAYERS) as loaded:
            t2 = time.perf_counter()
            stats = measure_quant(loaded, teacher, n_threads=c.N_THREADS, n_gpu_layers=c.N_GPU_LAYERS)
            t3 = time.perf_counter()
        splices.append(t1 - t0)
        loads.append(t2 - t1)
        passes.append(t3 - t2)
        changed = sum(t != parent_types[n] for n, t in variant_types[i].items())
        print(f"layer {i:2d}: mean KLD {stats['kld_mean']:.6f}  ({changed:2d} tensors not the parent's)  "
              f"splice {splices[-1]:.2f} s  load {loads[-1]:.2f} s  pass {passes[-1]:.2f} s")
    total = time.perf_counter() - started
    spliced.unlink()

    c.log(f"comparison: quantizing layer {COMPARED_LAYER}'s variant in full ...")
    quantized = work / "variant-quantized.gguf"
    t = time.perf_counter()
    run_quantize(base, quantized, variants[COMPARED_LAYER], dry_run=False, nthread=c.N_THREADS)
    full_s = time.perf_counter() - t
    vf.splice_tensors(parent, donors, variant_types[COMPARED_LAYER], spliced)
    same = c.sha256_file(spliced) == c.sha256_file(quantized)
    for path in (spliced, quantized):
        path.unlink()
    vf.remove_parent_files(cache, key)

    n, measuring = len(LAYERS), sum(passes)
    print(f"one variant quantized in full: {full_s:.1f} s (spliced: median {statistics.median(splices):.2f} s); "
          f"its spliced file is the same bytes: {same}")
    print(f"passes: median {statistics.median(passes):.2f} s, {min(passes):.2f} to {max(passes):.2f} s; total sweep "
          f"wall time {total:.1f} s (plans {plans_s:.1f}, quantizing {sum(made_s):.1f}, splicing {sum(splices):.1f}, "
          f"loading {sum(loads):.1f}, measuring {measuring:.1f})")
    print(f"quantizing every variant in full instead: about "
          f"{(measuring + n * (full_s + statistics.median(loads))) / measuring:.2f} x the {n} passes")
    ratio = total / measuring
    print(f"sweep wall time / {n} measuring passes: {ratio:.2f}")
    return 0 if same and ratio <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
