"""Scoring logit rows (workers.engine.measure.score_rows) with ggml's fused softmax gives what the former
numpy formula gave — max + log(sum(exp(x − max))) in float32, four passes over each row — within float
rounding, and leaves llama.cpp's output buffer as it was."""
from __future__ import annotations

import numpy as np
import pytest

from workers.engine import measure, teacher
from workers.engine.llamacpp.softmax import log_partition

N_VOCAB = 50_000


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(7)
    n_rows = 70  # more than two blocks of 32, and a ragged last one
    chunks = rng.integers(0, N_VOCAB, size=(1, 2 * (n_rows + 1)), dtype=np.int32)
    base = rng.standard_normal((n_rows, N_VOCAB), dtype=np.float32) * np.float32(3)
    base[:, rng.integers(0, N_VOCAB, 40)] += np.float32(9)
    t = teacher.from_logits(chunks, base.copy(), seed=1)
    quant = base + rng.standard_normal(base.shape, dtype=np.float32) * np.float32(0.5)
    return t, quant


def former_log_z(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top = np.argmax(x, axis=1)
    max_logit = x[np.arange(x.shape[0]), top]
    return top, max_logit + np.log(np.exp(x - max_logit[:, None]).sum(axis=1, dtype=np.float32))


def test_the_normaliser_is_the_former_one_within_float_rounding(rows):
    _, x = rows
    top, former = former_log_z(x)
    exact = np.log(np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True)).sum(axis=1)) + x.max(axis=1)
    ours = log_partition(x, top)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, former, rtol=0, atol=4 * np.spacing(np.abs(former).max()))
    assert np.abs(ours - exact).max() <= np.abs(former - exact).max() + np.spacing(np.abs(former).max())


def test_scored_rows_are_the_former_ones_and_the_logits_stay_untouched(rows):
    t, quant = rows
    targets = t.targets()
    for row0 in range(0, quant.shape[0], measure.BLOCK_ROWS):
        x = quant[row0:row0 + measure.BLOCK_ROWS].copy()
        ours = measure.score_rows(x, t, row0, targets)
        assert np.array_equal(x, quant[row0:row0 + measure.BLOCK_ROWS])
        former = measure.score_rows(x, t, row0, targets, normalised=former_log_z(x))
        np.testing.assert_array_equal(ours["same_top"], former["same_top"])
        np.testing.assert_allclose(ours["nll"], former["nll"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(ours["kld"], former["kld"], rtol=1e-4, atol=1e-5)


def test_a_teacher_made_in_memory_matches_its_logits(rows):
    t, _ = rows
    assert t.head_ids.shape == (t.targets().size, teacher.K_HEAD)
    assert t.tail_offsets[-1] == t.tail_ids.size > 0
