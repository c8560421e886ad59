"""Log-likelihood scoring with a causal language model: how likely is a continuation?

A causal LM gives ``log p(token_t | tokens_<t)`` at every position in one forward pass. The
log-likelihood of a continuation ``c`` after a prompt ``p`` is the sum over the
continuation's tokens::

    log p(c | p) = sum_t log p(c_t | p, c_<t)

Ranking candidates by it needs no free-text parsing: the model never has to *write* an
answer, only to say how likely each given answer is (Hou et al. 2024 use the same idea).

- :func:`continuation_log_probs`: many (prompt, continuation) pairs, padded into batches,
  one forward pass per batch;
- :func:`candidate_log_probs`: one prompt and many candidates; the prompt is run once and
  its keys and values (the KV cache) are shared by every candidate, so each candidate costs
  only its own few tokens. Both give the same numbers (a test checks it).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def _check_ids(name: str, rows: Sequence[Sequence[int]], allow_empty: bool = False) -> None:
    for index, row in enumerate(rows):
        if len(row) == 0 and not allow_empty:
            raise ValueError(
                f"{name}[{index}] is empty: every {name[:-1]} needs at least one token"
            )


@torch.no_grad()
def continuation_log_probs(
    model,
    prompt_ids: Sequence[Sequence[int]],
    continuation_ids: Sequence[Sequence[int]],
    *,
    batch_size: int = 16,
    pad_id: int = 0,
) -> np.ndarray:
    """Summed log-probability of each continuation after its prompt, shape (n,).

    Args:
        model: a causal LM returning ``.logits`` of shape (batch, length, vocab).
        prompt_ids, continuation_ids: token ids, one list per pair (same length).
        batch_size: pairs per forward pass (right-padded, masked).
        pad_id: the id used for padding (masked out, so any valid id works).
    """
    if len(prompt_ids) != len(continuation_ids):
        raise ValueError(f"{len(prompt_ids)} prompts for {len(continuation_ids)} continuations")
    _check_ids("prompts", prompt_ids)
    _check_ids("continuations", continuation_ids)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model.eval()
    scores = np.zeros(len(prompt_ids))
    for start in range(0, len(prompt_ids), batch_size):
        rows = [
            (list(p), list(c))
            for p, c in zip(
                prompt_ids[start : start + batch_size],
                continuation_ids[start : start + batch_size],
                strict=True,
            )
        ]
        length = max(len(p) + len(c) for p, c in rows)
        ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, (p, c) in enumerate(rows):
            ids[i, : len(p) + len(c)] = torch.tensor(p + c)
            mask[i, : len(p) + len(c)] = 1
        log_probs = F.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        for i, (p, c) in enumerate(rows):
            # position t predicts token t + 1: the continuation's tokens are predicted at
            # positions len(p) - 1 ... len(p) + len(c) - 2
            positions = torch.arange(len(p) - 1, len(p) + len(c) - 1)
            scores[start + i] = log_probs[i, positions, torch.tensor(c)].sum().item()
    return scores


@torch.no_grad()
def candidate_log_probs(
    model,
    prompt_ids: Sequence[int],
    candidate_ids: Sequence[Sequence[int]],
    *,
    batch_size: int = 32,
    pad_id: int = 0,
) -> np.ndarray:
    """Summed log-probability of each candidate continuation after one shared prompt.

    The prompt is run once with ``use_cache=True``; each batch of candidates then runs only
    its own tokens on a copy of the prompt's KV cache. Same numbers as
    :func:`continuation_log_probs` with the prompt repeated, for a fraction of the cost.
    """
    _check_ids("prompts", [prompt_ids])
    _check_ids("candidates", candidate_ids)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model.eval()
    prompt = torch.tensor([list(prompt_ids)])
    out = model(input_ids=prompt, use_cache=True)
    first = F.log_softmax(out.logits[0, -1].float(), dim=-1)  # predicts each candidate's 1st token
    cache = out.cache
    scores = np.zeros(len(candidate_ids))
    for start in range(0, len(candidate_ids), batch_size):
        rows = [list(c) for c in candidate_ids[start : start + batch_size]]
        length = max(len(c) for c in rows)
        ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), prompt.shape[1] + length), dtype=torch.long)
        mask[:, : prompt.shape[1]] = 1
        for i, c in enumerate(rows):
            ids[i, : len(c)] = torch.tensor(c)
            mask[i, prompt.shape[1] : prompt.shape[1] + len(c)] = 1
        shared = copy.deepcopy(cache)
        shared.batch_repeat_interleave(len(rows))
        logits = model(input_ids=ids, attention_mask=mask, cache=shared).logits
        log_probs = F.log_softmax(logits.float(), dim=-1)
        for i, c in enumerate(rows):
            total = first[c[0]].item()
            if len(c) > 1:
                positions = torch.arange(0, len(c) - 1)
                total += log_probs[i, positions, torch.tensor(c[1:])].sum().item()
            scores[start + i] = total
    return scores


def encode(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text, without special tokens added (the texts carry their own)."""
    return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]


def score_continuations(
    model, tokenizer, prompts: Sequence[str], continuations: Sequence[str], **kwargs
) -> np.ndarray:
    """:func:`continuation_log_probs` on texts (tokenised separately, then joined)."""
    return continuation_log_probs(
        model, encode(tokenizer, prompts), encode(tokenizer, continuations), **kwargs
    )


def score_candidates(
    model, tokenizer, prompt: str, candidates: Sequence[str], *, per_token: bool = False, **kwargs
) -> np.ndarray:
    """:func:`candidate_log_probs` on texts; ``per_token=True`` divides each score by the
    candidate's number of tokens (so long titles are not penalised for their length)."""
    ids = encode(tokenizer, candidates)
    scores = candidate_log_probs(model, encode(tokenizer, [prompt])[0], ids, **kwargs)
    if per_token:
        scores = scores / np.array([len(row) for row in ids])
    return scores
