"""ggml tensor types and llama.cpp file types, as ggml.h, ggml.c and quantize.cpp define them.

Kept as a table (not read from llama_cpp) so the web side can validate recipes without llama.cpp.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GgmlType:
    id: int
    name: str  # as ggml_type_name() spells it
    block_size: int  # elements per block
    type_size: int  # bytes per block

    def row_bytes(self, ncols: int) -> int:
        return ncols // self.block_size * self.type_size


_TYPES = [
    GgmlType(0, "f32", 1, 4),
    GgmlType(1, "f16", 1, 2),
    GgmlType(2, "q4_0", 32, 18),
    GgmlType(3, "q4_1", 32, 20),
    GgmlType(6, "q5_0", 32, 22),
    GgmlType(7, "q5_1", 32, 24),
    GgmlType(8, "q8_0", 32, 34),
    GgmlType(9, "q8_1", 32, 36),
    GgmlType(10, "q2_K", 256, 84),
    GgmlType(11, "q3_K", 256, 110),
    GgmlType(12, "q4_K", 256, 144),
    GgmlType(13, "q5_K", 256, 176),
    GgmlType(14, "q6_K", 256, 210),
    GgmlType(15, "q8_K", 256, 292),
    GgmlType(16, "iq2_xxs", 256, 66),
    GgmlType(17, "iq2_xs", 256, 74),
    GgmlType(18, "iq3_xxs", 256, 98),
    GgmlType(19, "iq1_s", 256, 50),
    GgmlType(20, "iq4_nl", 32, 18),
    GgmlType(21, "iq3_s", 256, 110),
    GgmlType(22, "iq2_s", 256, 82),
    GgmlType(23, "iq4_xs", 256, 136),
    GgmlType(24, "i8", 1, 1),
    GgmlType(25, "i16", 1, 2),
    GgmlType(26, "i32", 1, 4),
    GgmlType(27, "i64", 1, 8),
    GgmlType(28, "f64", 1, 8),
    GgmlType(29, "iq1_m", 256, 56),
    GgmlType(30, "bf16", 1, 2),
    GgmlType(34, "tq1_0", 256, 54),
    GgmlType(35, "tq2_0", 256, 66),
    GgmlType(39, "mxfp4", 32, 17),
    GgmlType(40, "nvfp4", 64, 36),
    GgmlType(41, "q1_0", 128, 18),
    GgmlType(42, "q2_0", 64, 18),
]
GGML_TYPES_BY_NAME = {t.name.lower(): t for t in _TYPES}
GGML_TYPES_BY_ID = {t.id: t for t in _TYPES}

# Types that ggml cannot quantize into (only used as intermediates or integer storage).
_NOT_QUANTIZE_TARGETS = {"q8_1", "q8_K", "i8", "i16", "i32", "i64", "f64"}


def ggml_type(name: str) -> GgmlType:
    """Look a type up the way quantize.cpp's parse_ggml_type does: case-insensitive. KeyError if unknown."""
    return GGML_TYPES_BY_NAME[name.lower()]


def is_quantize_target(name: str) -> bool:
    t = GGML_TYPES_BY_NAME.get(name.lower())
    return t is not None and t.name not in _NOT_QUANTIZE_TARGETS


# What a CPU matmul quantizes its input (the activations) to before the dot products, per weight type: ggml-cpu.c's
# type_traits_cpu[...].vec_dot_type. The K-quants and IQ4_XS share q8_K's 256-wide blocks, whose one scale follows
# the block's largest activation; the 32-wide types use q8_0 or q8_1. Weights that lose nothing can still lose here.
_CPU_ACTIVATION_TYPES = {
    "q4_0": "q8_0", "q5_0": "q8_0", "q8_0": "q8_0", "iq4_nl": "q8_0", "mxfp4": "q8_0", "nvfp4": "q8_0",
    "q1_0": "q8_0", "q2_0": "q8_0", "q4_1": "q8_1", "q5_1": "q8_1",
    "q2_K": "q8_K", "q3_K": "q8_K", "q4_K": "q8_K", "q5_K": "q8_K", "q6_K": "q8_K", "iq4_xs": "q8_K",
    "iq2_xxs": "q8_K", "iq2_xs": "q8_K", "iq2_s": "q8_K", "iq3_xxs": "q8_K", "iq3_s": "q8_K", "iq1_s": "q8_K",
    "iq1_m": "q8_K", "tq1_0": "q8_K", "tq2_0": "q8_K",
}


def cpu_activation_type(name: str) -> str:
    """The type ggml's CPU backend quantizes a matmul's input to for weights of this type (the float types keep
    their own: f16 weights take f16 inputs)."""
    canonical = ggml_type(name).name
    return _CPU_ACTIVATION_TYPES.get(canonical, canonical)


# quantize.cpp's QUANT_OPTIONS: name -> llama_ftype. Aliases (Q3_K -> Q3_K_M) resolve to the same number.
LLAMA_FTYPES = {
    "Q1_0": 40, "Q2_0": 41, "Q4_0": 2, "Q4_1": 3, "MXFP4_MOE": 38, "Q5_0": 8, "Q5_1": 9,
    "IQ2_XXS": 19, "IQ2_XS": 20, "IQ2_S": 28, "IQ2_M": 29, "IQ1_S": 24, "IQ1_M": 31,
    "TQ1_0": 36, "TQ2_0": 37, "Q2_K": 10, "Q2_K_S": 21, "IQ3_XXS": 23, "IQ3_S": 26, "IQ3_M": 27,
    "IQ3_XS": 22, "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "IQ4_NL": 25, "IQ4_XS": 30,
    "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "Q8_0": 7,
    "F16": 1, "BF16": 32, "F32": 0,
}
FTYPE_ALIASES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}


def canonical_ftype(name: str) -> str:
    """Normalise a file-type name as quantize.cpp's try_parse_ftype does. KeyError if unknown."""
    upper = name.strip().upper()
    upper = FTYPE_ALIASES.get(upper, upper)
    if upper not in LLAMA_FTYPES:
        raise KeyError(name)
    return upper

