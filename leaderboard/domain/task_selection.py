"""Which tasks llama-perplexity scores, in which order (tools/perplexity/perplexity.cpp).

* --hellaswag always shuffles: `std::mt19937 rng(1)`, then for each of the N tasks
  `std::uniform_int_distribution<size_t>(0, remaining - 1)(rng)` picks one of the tasks still left and
  erases it (the order of the rest is kept). The distribution is libstdc++'s (GCC 11 and later, as built
  here): a 32-bit generator and a range below 2^32 take Lemire's multiply-and-shift path (`_S_nd`).
* --winogrande and --multiple-choice pick N of the tasks only when 0 < N < total, otherwise all in file
  order: `j = int(scale * rng() * aux.size())` in float32 arithmetic with scale = 2^-32, take aux[j],
  move the last element into its place.
"""
from __future__ import annotations

import numpy as np

_MASK32 = 0xFFFFFFFF


class MT19937:
    """std::mt19937 (32-bit Mersenne Twister) seeded like `std::mt19937 rng(seed)`."""

    def __init__(self, seed: int):
        state = [seed & _MASK32]
        for i in range(1, 624):
            state.append((1812433253 * (state[-1] ^ (state[-1] >> 30)) + i) & _MASK32)
        self._state, self._index = state, 624

    def _twist(self) -> None:
        s = self._state
        for i in range(624):
            y = (s[i] & 0x80000000) | (s[(i + 1) % 624] & 0x7FFFFFFF)
            s[i] = s[(i + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
        self._index = 0

    def __call__(self) -> int:
        if self._index >= 624:
            self._twist()
        y = self._state[self._index]
        self._index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        return y ^ (y >> 18)


def uniform_below(rng: MT19937, n: int) -> int:
    """libstdc++'s uniform_int_distribution(0, n - 1)(rng) for a 32-bit generator and 1 <= n <= 2^32 - 1."""
    product = rng() * n
    low = product & _MASK32
    if low < n:
        threshold = (-n & _MASK32) % n
        while low < threshold:
            product = rng() * n
            low = product & _MASK32
    return product >> 32


def hellaswag_order(n_total: int, n_tasks: int) -> list[int]:
    """Indices of the tasks --hellaswag --hellaswag-tasks n_tasks scores, in its order."""
    rng = MT19937(1)
    left = list(range(n_total))
    return [left.pop(uniform_below(rng, len(left))) for _ in range(min(n_tasks, n_total))]


def sampled_order(n_total: int, n_tasks: int) -> list[int]:
    """Indices --winogrande-tasks / --multiple-choice-tasks n_tasks picks (all, in order, unless 0 < n < total)."""
    if not 0 < n_tasks < n_total:
        return list(range(n_total))
    rng = MT19937(1)
    scale = np.float32(1.0) / (np.float32(1.0) + np.float32(_MASK32))
    aux = list(range(n_total))
    chosen = []
    for _ in range(n_tasks):
        j = int(scale * np.float32(rng()) * np.float32(len(aux)))
        chosen.append(aux[j])
        aux[j] = aux[-1]
        aux.pop()
    return chosen


def first_order(n_total: int, n_tasks: int) -> list[int]:
    """The first n_tasks tasks in file order (0 or more than there are: all)."""
    return list(range(n_total if n_tasks <= 0 else min(n_tasks, n_total)))
