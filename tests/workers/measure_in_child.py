"""Run as `python -m tests.workers.measure_in_child WORK_DIR CORPUS`: the worker's measuring path on the model
shapes and types that crashed llama.cpp's AMX matmul (the experiment browser test's arms: tiny-wide Q4_K_M
with the feed-forward at Q2_K, stock Q4_K_M, and stock Q4_K_M with a q4_0 KV cache). Prints one JSON line of
mean KLDs. Meant to be run in a child process, so that a crash is one failed test."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import workers  # noqa: F401  llama.cpp before numpy
from tests.tiny_model import write_tiny_llama
from workers.engine import measure
from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize

FEED_FORWARD_AT_Q2_K = (("ffn_down", "q2_K"), ("ffn_up", "q2_K"), ("ffn_gate", "q2_K"))


def main(work_dir: Path, corpus: Path) -> None:
    base = write_tiny_llama(work_dir / "tiny-wide.gguf", n_embd=256, n_ff=512, n_layer=12)
    sha = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (base, corpus)}
    teacher = measure.build_teacher(base, corpus, n_ctx=128, n_chunks=4, cache_dir=work_dir / "teachers",
                                    base_sha256=sha[base], corpus_sha256=sha[corpus], n_threads=2, n_gpu_layers=0)
    results = {}
    for name, overrides in (("Q4_K_M, feed-forward at Q2_K", FEED_FORWARD_AT_Q2_K), ("stock Q4_K_M", ())):
        quant = work_dir / f"{len(results)}.gguf"
        run_quantize(base, quant, QuantizeRequest(ftype="Q4_K_M", overrides=overrides), dry_run=False, nthread=2)
        results[name] = measure.measure_quant(quant, teacher, n_threads=2, n_gpu_layers=0)["kld_mean"]
    results["stock Q4_K_M, q4_0 KV cache"] = measure.measure_quant(
        quant, teacher, n_threads=2, n_gpu_layers=0, kv_cache=("q4_0", "q4_0"))["kld_mean"]
    print(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
