"""Scoring continuations of a shared context by their mean token log-prob: hellaswag_score and
multiple_choice_score in perplexity.cpp (the same arithmetic; HellaSwag sums in double, the multiple-choice
format in float)."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from workers.engine.benchmarks.scoring import common_prefix, first_log_prob, log_probs, pack
from workers.engine.llamacpp.tasks import TaskModel

MAX_TASKS_PER_BATCH = 32  # perplexity.cpp: max_seq = min(4 * 32, n_seq_max)


def score(model: TaskModel, contexts: list[str], continuations: list[list[str]], *, accumulate: type,
          n_threads: int, progress: Callable[[float], None] | None = None) -> list[int]:
    """For every task, the index of the continuation with the highest mean log-prob (first on ties).
    Each sequence is common_tokenize(context + " " + continuation, add_special=true)."""
    seqs = [[model.tokenize(c + " " + e) for e in ends] for c, ends in zip(contexts, continuations)]
    # When one continuation's tokens are all shared (answers "yes" and "yes, yes"; or two identical answers),
    # perplexity.cpp's common prefix is that whole sequence and it reads seq[common_prefix] past its end
    # (undefined behaviour). Stopping the prefix one token short scores that continuation's last token
    # properly and changes nothing anywhere else.
    prefixes = [min(common_prefix(s), min(map(len, s)) - 1) for s in seqs]
    batches = pack(seqs.__getitem__, prefixes.__getitem__, len(seqs), n_ctx=model.n_ctx,
                   max_seq=min(4 * MAX_TASKS_PER_BATCH, model.n_parallel), last_output=False)
    chosen: list[int] = []
    with ThreadPoolExecutor(max(1, n_threads)) as pool:
        for b in batches:
            logits = model.decode(b.tokens, b.positions, b.seq_ids, b.outputs)
            rows, targets = [], []
            for i, row0 in zip(range(b.first, b.stop), b.row0):
                li, cp = row0 + 1, prefixes[i]
                for seq in seqs[i]:
                    for j in range(cp, len(seq) - 1):
                        rows.append(li)
                        targets.append(seq[j + 1])
                        li += 1
            evals = log_probs(logits, rows, targets, pool)
            ir = 0
            for i, row0 in zip(range(b.first, b.stop), b.row0):
                cp, means = prefixes[i], []
                for seq in seqs[i]:
                    total = accumulate(first_log_prob(logits[row0], seq[cp]))
                    count = len(seq) - cp
                    for value in evals[ir:ir + count - 1]:
                        total = accumulate(total + accumulate(value))
                    ir += count - 1
                    means.append(accumulate(total / accumulate(count)))
                best = 0
                for s in range(1, len(means)):
                    if means[s] > means[best]:
                        best = s
                chosen.append(best)
            if progress:
                progress(b.stop / len(seqs))
    return chosen
