"""What makes two measurements comparable: a measurement profile.

Numbers move with the hardware's arithmetic (the same Q6_K file: mean KLD 0.0075 on a 2-core CPU, 0.0045
on an H100), so a profile names everything that changes them: the text (by sha256), the context and chunk
count, the backend class that ran the matmuls, the llama.cpp build family and, for the CPU backend, the CPU
model: the build is -march=native, so two CPUs with the same features can still be compiled for differently,
and a CPU run's numbers moved by 1 % between an AMD and an Intel machine (docs/metrics.md, "CPU arithmetic").
Charts, tables, agreement and verdicts only ever compare measurements of one profile.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

DEFAULT_KV_CACHE = "f16/f16"


@dataclass(frozen=True)
class ProfileKey:
    corpus_sha256: str
    n_ctx: int
    n_chunks: int
    backend: str
    build_family: str
    kv_cache: str = DEFAULT_KV_CACHE  # "type_k/type_v" of the measured model's KV cache (an experiment's runtime arm)
    cpu: str = ""  # the CPU model that did a CPU backend's arithmetic; "" on a GPU backend and for older runs

    @property
    def digest(self) -> str:
        """A stable short id for the tuple (database uniqueness, cache keys); the default KV cache and an
        unnamed CPU add nothing, so profiles made before those fields existed keep their ids."""
        parts = [self.corpus_sha256, str(self.n_ctx), str(self.n_chunks), self.backend, self.build_family]
        if self.kv_cache != DEFAULT_KV_CACHE:
            parts.append(f"kv {self.kv_cache}")
        if self.cpu:
            parts.append(f"cpu {self.cpu}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]

    def label(self, corpus_name: str) -> str:
        kv = f" · KV {self.kv_cache}" if self.kv_cache != DEFAULT_KV_CACHE else ""
        cpu = f" on {self.cpu}" if self.cpu else ""
        return f"{corpus_name} · {self.n_chunks}×{self.n_ctx}{kv} · {self.backend}{cpu} · {self.build_family}"


def backend_class(hardware: dict) -> str:
    """The backend that ran the matmuls. Older runs recorded only device "cpu"/"gpu" (a CUDA build then)."""
    backend = hardware.get("backend")
    if backend:
        return str(backend).lower()
    return "cuda" if hardware.get("device") == "gpu" else "cpu"


def build_family(build: dict) -> str:
    """The llama.cpp build whose arithmetic produced the numbers (llama-cpp-python version + llama.cpp commit
    where the worker did not name a family itself)."""
    family = build.get("build_family")
    if family:
        return str(family)
    return f"llama-cpp-python {build.get('llama_cpp_python', '?')} / llama.cpp {build.get('llama_cpp_commit', '?')}"


def build_platform(build: dict) -> tuple[str, str]:
    """(build, platform): quant files are compared byte for byte only within one such pair."""
    return build_family(build), str(build.get("platform") or "unknown")


def profile_key(*, corpus_sha256: str, n_ctx: int, n_chunks: int, build: dict, hardware: dict,
                kv_cache: str = DEFAULT_KV_CACHE) -> ProfileKey:
    backend = backend_class(hardware)
    cpu = str(hardware.get("cpu") or "") if backend.startswith("cpu-") else ""
    return ProfileKey(corpus_sha256=corpus_sha256.lower(), n_ctx=int(n_ctx), n_chunks=int(n_chunks),
                      backend=backend, build_family=build_family(build), kv_cache=kv_cache, cpu=cpu[:200])
