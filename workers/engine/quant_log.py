"""Read llama-quant.cpp's log: the final type of every tensor, and which ones fell back because of shape."""
from __future__ import annotations

import re

from leaderboard.domain.plan import TensorPlan

# [  2/236] token_embd.weight - [640, 262144, 1, 1], type = f16, size = 320.00 MiB -> 170.00 MiB (q8_0)
# [  1/236] output_norm.weight - [640, 1, 1, 1], type = f32, size = 0.002 MiB
_TENSOR = re.compile(
    r"^\[\s*\d+/\s*\d+\]\s+(?P<name>\S+)\s+-\s+\[(?P<shape>[^\]]*)\],\s+type =\s+(?P<base>\w+),"
    r"\s+size =.*?(?:\((?P<new>\w+)\))?\s*$")
# warning: blk.0.ffn_gate.weight - ncols 640 not divisible by 256 (required for type q3_K) -> falling back to q4_0
_FALLBACK = re.compile(r"warning:\s+(?P<name>\S+)\s+-\s+ncols.*\(required for type\s+(?P<wanted>\w+)\)")
_NEEDS_IMATRIX = "will require an imatrix"


def parse_dry_run(lines: list[str]) -> tuple[list[TensorPlan], bool]:
    """Tensor plans in file order, and whether llama.cpp said the real run would need an imatrix."""
    fallbacks: dict[str, str] = {}
    tensors: list[TensorPlan] = []
    for line in lines:
        m = _FALLBACK.search(line)
        if m:
            fallbacks[m["name"]] = m["wanted"]
            continue
        m = _TENSOR.match(line.strip())
        if m:
            dims = [int(d) for d in m["shape"].split(",")]
            while len(dims) > 1 and dims[-1] == 1:
                dims.pop()
            tensors.append(TensorPlan(
                name=m["name"], shape=tuple(dims), base_type=m["base"],
                final_type=m["new"] or m["base"], fallback_from=fallbacks.get(m["name"])))
    return tensors, any(_NEEDS_IMATRIX in line for line in lines)
