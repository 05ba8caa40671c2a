"""Budget allocators against stock mixes at equal size, on both real bases (issue: allocators).

For Gemma 3 270M and SmolLM2-135M (F16 bases made from the 4-bit files their PyPI packages ship; re-quantizing to
that source type is nearly lossless, so a mix that rediscovers the source's types "wins" for free):
  * the imatrix: computed in-process (workers/engine/imatrix.py, byte for byte llama-imatrix's) from WikiText-2
    test beyond the evaluation span (IMATRIX_CHUNKS × 512 tokens);
  * budgets: the exact file sizes of stock Q3_K_M, Q4_K_M and Q5_K_M (llama.cpp's dry run);
  * the probe (leaderboard/domain/damage_probe.py): every quantized tensor at q8_0 (the reference), then one class
    at a time at each candidate type it takes, each file spliced from per-type donors (workers/engine/variant_file)
    and measured once -> a damage table, shared among a class's layers by each tensor's measured relative error
    at the type (workers/engine/quant_error.py);
  * at each budget: stock (no imatrix, as the demo's stock recipes), stock with the same imatrix, ASHQ1 as
    published (seed 003), the measured allocator, and the measured allocator without any type the source file
    holds among its tiers ("meas-src"). Every allocated recipe is quantized with the imatrix, as the site
    quantizes a recipe that has one. Each file is measured against the F16 teacher (WikiText-2 test, 8 × 512 tokens, 2 threads); paired Δ mean
    KLD against stock with a 95 % bootstrap interval over chunks (leaderboard/domain/paired.py).
Prints per budget the table and the measured allocator's type histogram beside the source file's, and LAST the
worst ratio (measured allocator mean KLD / stock mean KLD) over the six budgets.

    .venv/bin/python bench/allocator.py [gemma-3-270m|smollm2-135m ...]
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import common as c

STOCK_BUDGETS = ("Q3_K_M", "Q4_K_M", "Q5_K_M")
IMATRIX_CHUNKS = 32
WORK = c.CACHE_ROOT / "allocator"


def _histogram(types: dict[str, str]) -> str:
    counts = Counter(types.values())
    return ", ".join(f"{t} {n}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def main(keys: list[str]) -> int:
    from leaderboard.domain.allocation import AllocationRequest, BudgetTooSmallError, TensorImportance, allocate
    from leaderboard.domain.damage_probe import PROBE_TIERS, damage_table
    from leaderboard.domain.file_size import FileLayout
    from leaderboard.domain.paired import paired_differences
    from leaderboard.domain.recipe_format import imatrix_file_name
    from leaderboard.files.gguf_meta import imatrix_metadata, read_imatrix
    from workers.engine.imatrix import beyond_evaluation, compute_imatrix
    from workers.engine.llamacpp.cpu_path import cpu_model
    from workers.engine.damage_probe import pinned_request, run_probe
    from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize
    from workers.engine.measure import measure_quant
    from workers.engine.packaged_bases import BASES, f16_base
    from workers.engine.planner import resolve_plan

    corpus = c.corpus_path()
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"{c.N_CHUNKS} x {c.N_CTX} tokens of {corpus.name}, {c.N_THREADS} threads, {cpu_model()}")
    ratios: list[float] = []
    for key in keys:
        t_base = time.monotonic()
        base = f16_base(key, c.MODELS_DIR)
        teacher = c.teacher(base, corpus)
        folder = WORK / key
        folder.mkdir(exist_ok=True)

        imatrix_path = folder / f"imatrix-{IMATRIX_CHUNKS}.gguf"
        if not imatrix_path.exists():
            cut = beyond_evaluation(base, corpus, n_ctx=c.N_CTX, n_chunks=c.N_CHUNKS)
            (folder / "calibration.txt").write_bytes(cut.text)
            report = compute_imatrix(base, folder / "calibration.txt", imatrix_path, n_ctx=512,
                                     n_chunks=IMATRIX_CHUNKS, n_threads=c.N_THREADS, n_gpu_layers=c.N_GPU_LAYERS,
                                     dataset="WikiText-2 test beyond the evaluation span")
            c.log(f"{key}: imatrix {report.entries} entries from {report.chunks} chunks in {report.seconds:.0f} s")
        imatrix = read_imatrix(imatrix_path)
        sha = c.sha256_file(imatrix_path)
        metadata = imatrix_metadata(imatrix, imatrix_file_name(sha))
        importance = TensorImportance.from_imatrix(imatrix.entries)

        def request(ftype: str, types: dict[str, str] | None = None, with_imatrix: bool = True) -> QuantizeRequest:
            return pinned_request(ftype, types, imatrix.entries if with_imatrix else None, metadata)

        measured_files: dict[str, tuple[dict, object]] = {}

        def measure(label: str, path: Path) -> tuple[dict, object]:
            arrays = []
            t = time.monotonic()
            stats = measure_quant(path, teacher, n_threads=c.N_THREADS, n_gpu_layers=c.N_GPU_LAYERS,
                                  on_tokens=arrays.append)
            c.log(f"{key}: {label}: mean KLD {stats['kld_mean']:.6f} ({time.monotonic() - t:.0f} s)")
            measured_files[label] = (stats, arrays[0])
            return stats, arrays[0]

        def make(label: str, req: QuantizeRequest) -> Path:
            out = folder / f"{label}.gguf"
            if not out.exists():
                run_quantize(base, out.with_suffix(".part"), req, dry_run=False, nthread=c.N_THREADS)
                out.with_suffix(".part").replace(out)
            return out

        stock_plan = resolve_plan(base, request("Q4_K_M"))  # with the imatrix: the allocated files' header
        tensors = stock_plan.tensors
        layout = FileLayout.of_plan(stock_plan)

        # --- the probe
        kept = folder / f"probe-{sha[:12]}.json"  # the probe's measurements, kept with the imatrix they used
        if kept.exists():
            saved = json.loads(kept.read_text())
            reference_kld, probe_seconds = saved["reference_kld"], saved["seconds"]
            klds = {(cls, type_name): kld for cls, type_name, kld in saved["arms"]}
            errors = {(name, type_name): e for name, type_name, e in saved["errors"]}
        else:
            probe = run_probe(base, teacher, tensors, folder / "probe", imatrix=imatrix.entries, metadata=metadata,
                              n_threads=c.N_THREADS, n_gpu_layers=c.N_GPU_LAYERS,
                              on_arm=lambda label, kld: c.log(f"{key}: probe {label}: mean KLD {kld:.6f}"))
            reference_kld, klds, errors, probe_seconds = probe.reference_kld, probe.klds, probe.errors, probe.seconds
            kept.write_text(json.dumps({"reference_kld": reference_kld, "seconds": probe_seconds,
                                        "arms": [[c_, t, k] for (c_, t), k in klds.items()],
                                        "errors": [[n, t, e] for (n, t), e in errors.items()]}))
        table = damage_table(tensors, klds, reference_kld, importance, errors=errors)
        took = f"in {probe_seconds:.0f} s" if probe_seconds else f"(kept in {kept.name})"
        print(f"\n{BASES[key].name}: probe of {len(klds)} arms + reference (KLD {reference_kld:.6f}) {took}; "
              f"damage per class (Δ mean KLD vs all-q8_0):")
        for (cls, type_name), kld in sorted(klds.items()):
            print(f"  {cls:24s} {type_name:7s} {kld - reference_kld:+.6f}")

        source = BASES[key].source_type
        source_types = {t.name: t.final_type for t in resolve_plan(base, QuantizeRequest(source)).tensors
                        if t.final_type != t.base_type}
        source_tiers = set(source_types.values())
        print(f"source file {source}: {_histogram(source_types)}; meas-src: the measured allocator without "
              f"any of these types")
        print(f"\n{'budget':8s} {'bytes':>11s} | {'stock':>9s} {'stock+im':>9s} {'ashq1':>9s} {'measured':>9s} "
              f"{'meas-src':>9s} | measured − stock [95 %]            ratio")
        for ftype in STOCK_BUDGETS:
            budget = resolve_plan(base, QuantizeRequest(ftype)).file_bytes
            stock_stats, stock_tokens = measure(f"stock {ftype}", make(f"stock-{ftype}", request(ftype, with_imatrix=False)))
            stock_im, _ = measure(f"stock+imatrix {ftype}", make(f"stock-im-{ftype}", request(ftype)))
            results = {}
            for label, method, evidence, tiers in (
                    ("ashq1", "ashq1", importance, None),
                    ("measured", "measured", table, PROBE_TIERS),
                    ("meas-src", "measured", table, tuple(t for t in PROBE_TIERS if t not in source_tiers))):
                kwargs = {"tiers": tiers} if tiers else {}
                try:
                    allocation = allocate(AllocationRequest(method=method, version=1, tensors=tensors, layout=layout,
                                                            budget_bytes=budget, source_sha256=sha, **kwargs), evidence)
                except BudgetTooSmallError as exc:
                    results[label] = (None, str(exc), None)
                    continue
                path = make(f"{label}-{ftype}", request("Q4_K_M", allocation.types))
                if not path.stat().st_size == allocation.file_bytes <= budget:
                    print(f"    {label} {ftype}: file {path.stat().st_size:,} bytes, predicted {allocation.file_bytes:,}, "
                          f"budget {budget:,}")
                stats, tokens = measure(f"{label} {ftype}", path)
                results[label] = (stats, allocation, tokens)
            measured_stats, allocation, tokens = results["measured"]
            if measured_stats is None:  # the budget is below the smallest mix the probe's tiers make
                print(f"{ftype:8s} {budget:11,d} | measured: {allocation}")
                ratios.append(float("inf"))
                continue
            d = paired_differences(tokens, stock_tokens)["kld_mean"]
            ratio = measured_stats["kld_mean"] / stock_stats["kld_mean"]
            ratios.append(ratio)

            def cell(label):
                stats = results[label][0]
                return f"{stats['kld_mean']:9.6f}" if stats else f"{'refused':>9s}"

            print(f"{ftype:8s} {budget:11,d} | {stock_stats['kld_mean']:9.6f} {stock_im['kld_mean']:9.6f} "
                  f"{cell('ashq1')} {cell('measured')} {cell('meas-src')} | {d.estimate:+.6f} [{d.low:+.6f}, "
                  f"{d.high:+.6f}] {ratio:6.3f}")
            print(f"    measured: {allocation.file_bytes:,} bytes ({100 * allocation.file_bytes / budget:.2f} % of the "
                  f"budget, {allocation.search}); types {_histogram(allocation.types)}; "
                  f"{sum(source_types.get(n) == t for n, t in allocation.types.items())} of {len(allocation.types)} "
                  f"tensors at the source file's type")
            for label in ("ashq1", "meas-src"):
                stats, other, other_tokens = results[label]
                if stats is None:
                    print(f"    {label}: {other}")
                    continue
                dd = paired_differences(other_tokens, stock_tokens)["kld_mean"]
                print(f"    {label}: Δ vs stock {dd.estimate:+.6f} [{dd.low:+.6f}, {dd.high:+.6f}], ratio "
                      f"{stats['kld_mean'] / stock_stats['kld_mean']:.3f}; types {_histogram(other.types)}")
            im = paired_differences(tokens, measured_files[f"stock+imatrix {ftype}"][1])["kld_mean"]
            print(f"    measured vs stock with the same imatrix: {im.estimate:+.6f} [{im.low:+.6f}, {im.high:+.6f}], "
                  f"ratio {measured_stats['kld_mean'] / stock_im['kld_mean']:.3f}")
        c.log(f"{key}: done in {time.monotonic() - t_base:.0f} s")
    print(f"worst ratio (measured allocator mean KLD / stock mean KLD) over {len(ratios)} budgets:")
    print(f"{max(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["gemma-3-270m", "smollm2-135m"]))
