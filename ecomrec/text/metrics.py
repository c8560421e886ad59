"""Scores for generated text: BLEU, self-BLEU, distinct-n.

Every function takes **tokenized** sentences (lists of tokens), so the numbers do not
depend on a hidden tokenizer. With sentences tokenized by :func:`ecomrec.text.tokenize`
and joined by spaces, :func:`corpus_bleu` equals ``sacrebleu`` with ``tokenize="none"``,
``smooth_method="none"`` (divided by 100); the tests check it.

Corpus BLEU-N (Papineni et al., 2002) pools counts over the whole corpus::

    p_n  = sum_h sum_g min(count_h(g), max_r count_r(g)) / sum_h sum_g count_h(g)
    BP   = 1 if c > r else exp(1 - r / c)
    BLEU = BP * exp(mean_n log p_n)

where g runs over the n-grams of hypothesis h, r over its references, c is the total
hypothesis length and r the sum over hypotheses of the reference length closest to the
hypothesis length (the shorter one on a tie). Any p_n = 0 gives BLEU = 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

Tokens = Sequence[str]


def ngrams(tokens: Tokens, n: int) -> Counter:
    """Counts of the `n`-grams (as tuples) of `tokens`."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _closest_length(length: int, reference_lengths: Sequence[int]) -> int:
    return min(reference_lengths, key=lambda r: (abs(r - length), r))


def bleu_statistics(
    hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]], max_n: int = 4
) -> dict[str, list[int] | int]:
    """Clipped matches and totals per n-gram order, hypothesis and reference length."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference sets")
    matches, totals = [0] * max_n, [0] * max_n
    hyp_length = ref_length = 0
    for hyp, refs in zip(hypotheses, references, strict=True):
        if not refs:
            raise ValueError("every hypothesis needs at least one reference")
        hyp_length += len(hyp)
        ref_length += _closest_length(len(hyp), [len(r) for r in refs])
        for n in range(1, max_n + 1):
            counts = ngrams(hyp, n)
            best: Counter = Counter()
            for ref in refs:
                best |= ngrams(ref, n)  # element-wise max over references
            matches[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            totals[n - 1] += sum(counts.values())
    return {
        "matches": matches,
        "totals": totals,
        "hyp_length": hyp_length,
        "ref_length": ref_length,
    }


def bleu_from_statistics(
    matches: Sequence[int], totals: Sequence[int], hyp_length: int, ref_length: int
) -> float:
    """BLEU in [0, 1] from pooled counts (see the module docstring)."""
    if hyp_length == 0 or any(m == 0 for m in matches) or any(t == 0 for t in totals):
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True))
    brevity = 1.0 if hyp_length > ref_length else math.exp(1 - ref_length / hyp_length)
    return brevity * math.exp(log_precision / len(matches))


def corpus_bleu(
    hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]], max_n: int = 4
) -> float:
    """Corpus BLEU-`max_n` of `hypotheses`; ``references[i]`` holds the references of the i-th."""
    return bleu_from_statistics(**bleu_statistics(hypotheses, references, max_n))


def self_bleu(samples: Sequence[Tokens], max_n: int = 4) -> float:
    """BLEU of each sample against all the *other* samples, pooled over the samples.

    High self-BLEU means the samples repeat each other (low diversity). Texygen (Zhu et al.,
    2018) averages sentence-level BLEU instead of pooling counts; pooling needs no smoothing
    and is what :func:`corpus_bleu` computes, with sample i's references = every sample but i.
    The max over references is computed once per n-gram from its two largest counts, so
    the cost grows linearly with the number of samples, not quadratically.
    """
    if len(samples) < 2:
        raise ValueError("self-BLEU needs at least two samples")
    lengths = sorted(len(s) for s in samples)
    matches, totals = [0] * max_n, [0] * max_n
    for n in range(1, max_n + 1):
        counts = [ngrams(s, n) for s in samples]
        top: dict[tuple, list[tuple[int, int]]] = {}  # n-gram -> two largest (count, sample)
        for i, c in enumerate(counts):
            for g, k in c.items():
                pair = top.setdefault(g, [])
                pair.append((k, i))
                if len(pair) > 2:
                    pair.sort(reverse=True)
                    pair.pop()
        for i, c in enumerate(counts):
            for g, k in c.items():
                others = [count for count, j in top[g] if j != i]
                matches[n - 1] += min(k, max(others, default=0))
                totals[n - 1] += k
    hyp_length = sum(lengths)
    ref_length = 0
    for s in samples:
        others = list(lengths)
        others.remove(len(s))
        ref_length += _closest_length(len(s), others)
    return bleu_from_statistics(matches, totals, hyp_length, ref_length)


def distinct_n(samples: Sequence[Tokens], n: int) -> float:
    """Distinct n-grams over all n-grams in the samples (Li et al., 2016); 0 if there are none."""
    pooled: Counter = Counter()
    for s in samples:
        pooled.update(ngrams(s, n))
    total = sum(pooled.values())
    return len(pooled) / total if total else 0.0
