"""llama-perplexity --winogrande: two sentences per task that differ in the word filling the blank; each is
scored by the mean log-prob of the tokens after the choice word (of all its tokens when the part after the
blank is 3 tokens or fewer), leaving out the last token. winogrande_score in perplexity.cpp, index
arithmetic included (its FIXME: the second sentence's first logits row is off by one when the choice word is
scored)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from leaderboard.domain.task_formats import as_read_by_f, parse_winogrande_csv
from workers.engine.benchmarks.scoring import common_prefix, log_probs, pack

MAX_TASKS_PER_BATCH = 128
MIN_TRAILING = 3  # k_min_trailing_ctx


def _spans(seqs: list[list[int]], n_bases: tuple[int, int], cp: int) -> list[tuple[int, int, int]]:
    """Per sentence: (first logits row relative to the task's, first j, stop j) of the scored tokens."""
    skip_choice = all(len(s) - cp > MIN_TRAILING for s in seqs)
    out = []
    for k, seq in enumerate(seqs):
        n_base = n_bases[k] if skip_choice else cp
        last = 1 if len(seq) - n_base > 1 else 0
        li = n_base - cp if k == 0 else len(seqs[0]) - cp + n_base - cp
        out.append((li, n_base - 1, len(seq) - 1 - last))
    return out


def run(model, data: bytes, order: list[int], *, n_threads: int, progress=None) -> tuple[list[int], list[int]]:
    """(chosen 0/1, gold 0/1) per task of order."""
    parsed = parse_winogrande_csv(as_read_by_f(data).decode())
    tasks = [parsed[i] for i in order]
    seqs = [[model.tokenize(t.first + c + t.second) for c in t.choices] for t in tasks]
    n_bases = [tuple(len(model.tokenize(t.first + c)) for c in t.choices) for t in tasks]
    prefixes = [common_prefix(s) for s in seqs]
    batches = pack(seqs.__getitem__, prefixes.__getitem__, len(tasks), n_ctx=model.n_ctx,
                   max_seq=min(2 * MAX_TASKS_PER_BATCH, model.n_parallel), last_output=True)
    chosen: list[int] = []
    with ThreadPoolExecutor(max(1, n_threads)) as pool:
        for b in batches:
            logits = model.decode(b.tokens, b.positions, b.seq_ids, b.outputs)
            rows, targets, spans = [], [], []
            for i, row0 in zip(range(b.first, b.stop), b.row0):
                spans.append(_spans(seqs[i], n_bases[i], prefixes[i]))
                for seq, (li, j0, j1) in zip(seqs[i], spans[-1]):
                    for j in range(j0, j1):
                        rows.append(row0 + li + j - j0)
                        targets.append(seq[j + 1])
            evals = log_probs(logits, rows, targets, pool)
            ir = 0
            for task_spans in spans:
                scores = []
                for li, j0, j1 in task_spans:
                    total = np.float32(0)
                    for value in evals[ir:ir + max(0, j1 - j0)]:
                        total = np.float32(total + value)
                    ir += max(0, j1 - j0)
                    scores.append(np.float32(total / np.float32(j1 - j0)))
                chosen.append(0 if scores[0] > scores[1] else 1)
            if progress:
                progress(b.stop / len(tasks))
    return chosen, [t.answer - 1 for t in tasks]

