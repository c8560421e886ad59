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
  only its own few tokens. Both give the same numbers (a test checks it);
- :func:`answer_log_probs` and :func:`shared_prefix_answer_log_probs`: the log-probability of
  each one-token answer (e.g. "Yes" and "No") right after each prompt, read from the logits
  of the prompt's last position only; :func:`yes_no_scores` turns texts into
  ``log p(Yes) - log p(No)`` (TALLRec's score, Bao et al. 2023), running the token prefix the
  prompts share once.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


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


def left_padded(rows: Sequence[Sequence[int]], pad_id: int = 0, offset: int = 0):
    """(input_ids, attention_mask, position_ids) with the rows left-padded, so that every
    row's last token sits in the last column. Positions count real tokens only (from
    `offset`, e.g. the length of a cached prefix), so padding changes no number."""
    length = max(len(row) for row in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        if len(row):
            ids[i, length - len(row) :] = torch.tensor(list(row))
            mask[i, length - len(row) :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0) + offset
    return ids, mask, positions


def _check_answers(answer_ids: Sequence[int]) -> torch.Tensor:
    if len(answer_ids) == 0:
        raise ValueError("give at least one answer token id")
    return torch.tensor([int(a) for a in answer_ids], dtype=torch.long)


@torch.no_grad()
def answer_log_probs(
    model,
    prompt_ids: Sequence[Sequence[int]],
    answer_ids: Sequence[int],
    *,
    batch_size: int = 16,
    pad_id: int = 0,
) -> np.ndarray:
    """log p(answer | prompt) of each one-token answer after each prompt, shape
    (n prompts, n answers): one forward pass per batch of left-padded prompts, logits at the
    last position only (``logits_to_keep=1``: the output layer runs once per prompt)."""
    _check_ids("prompts", prompt_ids)
    answers = _check_answers(answer_ids)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model.eval()
    out = np.zeros((len(prompt_ids), len(answers)))
    for start in range(0, len(prompt_ids), batch_size):
        ids, mask, positions = left_padded(prompt_ids[start : start + batch_size], pad_id)
        logits = model(
            input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1
        ).logits[:, -1]
        out[start : start + len(ids)] = F.log_softmax(logits.float(), dim=-1)[:, answers].numpy()
    return out


@torch.no_grad()
def shared_prefix_answer_log_probs(
    model,
    prefix_ids: Sequence[int],
    suffix_ids: Sequence[Sequence[int]],
    answer_ids: Sequence[int],
    *,
    batch_size: int = 32,
    pad_id: int = 0,
) -> np.ndarray:
    """Like :func:`answer_log_probs` for the prompts ``prefix + suffix``: the prefix runs
    once and its KV cache is shared by every suffix (left-padded after it, masked)."""
    _check_ids("prompts", [prefix_ids])
    _check_ids("suffixes", suffix_ids)
    answers = _check_answers(answer_ids)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model.eval()
    prefix = torch.tensor([list(prefix_ids)])
    cache = model(input_ids=prefix, use_cache=True).cache
    out = np.zeros((len(suffix_ids), len(answers)))
    for start in range(0, len(suffix_ids), batch_size):
        rows = suffix_ids[start : start + batch_size]
        ids, suffix_mask, positions = left_padded(rows, pad_id, offset=prefix.shape[1])
        seen = torch.ones((len(rows), prefix.shape[1]), dtype=torch.long)
        mask = torch.cat([seen, suffix_mask], dim=1)
        shared = copy.deepcopy(cache)
        shared.batch_repeat_interleave(len(rows))
        logits = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=shared,
            logits_to_keep=1,
        ).logits[:, -1]
        out[start : start + len(rows)] = F.log_softmax(logits.float(), dim=-1)[:, answers].numpy()
    return out


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """The number of leading tokens all `rows` share, leaving every row at least one token."""
    if len(rows) == 0:
        return 0
    shortest = min(len(row) for row in rows)
    n = 0
    while n < shortest - 1 and all(row[n] == rows[0][n] for row in rows):
        n += 1
    return n


def single_token_id(tokenizer, word: str) -> int:
    """The id of `word` as one token (raises ValueError if it takes several)."""
    ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ValueError(f"{word!r} is {len(ids)} tokens for this tokenizer; an answer must be one")
    return ids[0]


def yes_no_scores(
    model, tokenizer, prompts: Sequence[str], *, yes: str = "Yes", no: str = "No", **kwargs
) -> np.ndarray:
    """``log p(yes) - log p(no)`` of the answer token after each prompt, shape (n,).

    The token prefix all `prompts` share (e.g. one shopper's history before each candidate)
    runs once (:func:`shared_prefix_answer_log_probs`); the numbers are those of the full
    prompts (a test checks it).
    """
    ids = encode(tokenizer, prompts)
    answers = [single_token_id(tokenizer, yes), single_token_id(tokenizer, no)]
    shared = common_prefix_length(ids) if len(ids) > 1 else 0
    if shared == 0:
        log_probs = answer_log_probs(model, ids, answers, **kwargs)
    else:
        log_probs = shared_prefix_answer_log_probs(
            model, ids[0][:shared], [row[shared:] for row in ids], answers, **kwargs
        )
    return log_probs[:, 0] - log_probs[:, 1]


# --- models that differ only in their top layers (LoRA on the top layers) -------------------


def _decoder(model):
    """(the causal LM without a peft wrapper, its decoder stack) of a Llama-style model."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base, base.model


@torch.no_grad()
def shared_prefix_layer_inputs(
    model,
    prefix_ids: Sequence[int],
    suffix_ids: Sequence[Sequence[int]],
    layer: int,
    *,
    batch_size: int = 32,
    pad_id: int = 0,
) -> list[torch.Tensor]:
    """The hidden states entering decoder layer `layer` for every token of each prompt
    ``prefix + suffix`` (one (length, hidden) tensor per prompt), with the prefix run once.

    Below `layer` a LoRA model whose adapters sit at `layer` and above computes exactly what
    the pretrained model computes, so these states serve every such model:
    :func:`top_layers_answer_log_probs` runs only the layers from `layer` up."""
    _check_ids("prompts", [prefix_ids])
    _check_ids("suffixes", suffix_ids)
    model.eval()
    prefix = torch.tensor([list(prefix_ids)])
    out = model(input_ids=prefix, use_cache=True, output_hidden_states=True)
    cache, prefix_states = out.cache, out.hidden_states[layer][0]
    states = []
    for start in range(0, len(suffix_ids), batch_size):
        rows = suffix_ids[start : start + batch_size]
        ids, suffix_mask, positions = left_padded(rows, pad_id, offset=prefix.shape[1])
        seen = torch.ones((len(rows), prefix.shape[1]), dtype=torch.long)
        shared = copy.deepcopy(cache)
        shared.batch_repeat_interleave(len(rows))
        hidden = model(
            input_ids=ids,
            attention_mask=torch.cat([seen, suffix_mask], dim=1),
            position_ids=positions,
            cache=shared,
            output_hidden_states=True,
            logits_to_keep=1,
        ).hidden_states[layer]
        for i, row in enumerate(rows):
            states.append(torch.cat([prefix_states, hidden[i, hidden.shape[1] - len(row) :]]))
    return states


@torch.no_grad()
def top_layers_answer_log_probs(
    model,
    states: Sequence[torch.Tensor],
    answer_ids: Sequence[int],
    layer: int,
    *,
    batch_size: int = 16,
) -> np.ndarray:
    """:func:`answer_log_probs` of the prompts whose hidden states entering `layer` are
    `states` (from :func:`shared_prefix_layer_inputs` on a model that agrees with `model`
    below `layer`): only layers `layer` and up run, a fraction of the cost."""
    answers = _check_answers(answer_ids)
    base, decoder = _decoder(model)
    n_layers = len(decoder.layers)
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer must be in [0, {n_layers}), got {layer}")
    model.eval()
    out = np.zeros((len(states), len(answers)))
    all_layers = decoder.layers
    decoder.layers = nn.ModuleList(list(all_layers)[layer:])  # the top layers only, for now
    try:
        for start in range(0, len(states), batch_size):
            rows = states[start : start + batch_size]
            length = max(len(s) for s in rows)
            x = torch.zeros((len(rows), length, rows[0].shape[1]), dtype=rows[0].dtype)
            mask = torch.zeros((len(rows), length), dtype=torch.long)
            for i, s in enumerate(rows):
                x[i, length - len(s) :] = s
                mask[i, length - len(s) :] = 1
            positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
            last = decoder(
                inputs_embeds=x, attention_mask=mask, position_ids=positions, use_cache=False
            ).last_hidden_state[:, -1]
            logits = base.lm_head(last)
            out[start : start + len(rows)] = F.log_softmax(logits.float(), dim=-1)[
                :, answers
            ].numpy()
    finally:
        decoder.layers = all_layers
    return out
