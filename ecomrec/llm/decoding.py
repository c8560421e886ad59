"""Decoding: from next-token probabilities to text (greedy, temperature, top-p).

At each step a causal LM gives logits ``z`` over the vocabulary for the next token.

- **greedy**: take ``argmax z`` (deterministic; repetitive on long texts);
- **temperature** ``T``: sample from ``softmax(z / T)``; ``T < 1`` sharpens, ``T > 1`` flattens;
- **top-p** (nucleus, Holtzman et al. 2020): keep the smallest set of most likely tokens whose
  probabilities add up to at least ``p``, renormalise, sample from it.

:func:`next_token_distribution` applies these to one vector of logits (the lesson shows the
numbers); :func:`generate` runs ``transformers``' generation loop (with the KV cache) on a
batch of prompts with the same settings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch


def next_token_distribution(
    logits: torch.Tensor, temperature: float = 1.0, top_p: float = 1.0
) -> torch.Tensor:
    """The probabilities a sampler draws the next token from, given (vocab,) `logits`.

    ``temperature == 0`` means greedy: all mass on the argmax.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    logits = logits.float()
    if temperature == 0:
        probs = torch.zeros_like(logits)
        probs[logits.argmax()] = 1.0
        return probs
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1:
        order = torch.argsort(probs, descending=True)
        cumulative = torch.cumsum(probs[order], dim=0)
        # keep a token if the mass before it is still below top_p (the first is always kept)
        keep = (cumulative - probs[order]) < top_p
        filtered = torch.zeros_like(probs)
        filtered[order[keep]] = probs[order[keep]]
        probs = filtered / filtered.sum()
    return probs


@torch.no_grad()
def next_token_table(model, tokenizer, prompt: str, k: int = 10) -> pd.DataFrame:
    """The `k` most likely next tokens after `prompt`: token, id, probability, log-prob."""
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    logits = model(input_ids=ids).logits[0, -1].float()
    log_probs = torch.log_softmax(logits, dim=-1)
    top = torch.topk(log_probs, k)
    return pd.DataFrame(
        {
            "token": [repr(tokenizer.decode([int(i)])) for i in top.indices],
            "id": top.indices.tolist(),
            "probability": top.values.exp().tolist(),
            "log_prob": top.values.tolist(),
        }
    )


@dataclass
class Generation:
    """Texts generated for a batch of prompts, with the cost."""

    texts: list[str]
    new_tokens: int  # tokens generated in all (up to the end of each answer)
    seconds: float  # wall-clock
    cpu_seconds: float  # this process's CPU time (steadier than wall-clock on a busy machine)

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / max(self.seconds, 1e-9)

    @property
    def tokens_per_cpu_second(self) -> float:
        return self.new_tokens / max(self.cpu_seconds, 1e-9)


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 40,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    batch_size: int = 8,
) -> Generation:
    """Answers to `prompts` (chat-template texts), greedy when ``temperature == 0``.

    Prompts are left-padded into batches so that every answer starts right after its
    prompt; generation stops at the end-of-turn token or after `max_new_tokens`.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    texts, new_tokens = [], 0
    start, cpu_start = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    try:
        for first in range(0, len(prompts), batch_size):
            batch = tokenizer(
                list(prompts[first : first + batch_size]),
                add_special_tokens=False,
                padding=True,
                return_tensors="pt",
            )
            sampling = {"do_sample": False}
            if temperature > 0:
                sampling = {
                    "do_sample": True,
                    "temperature": temperature,
                    "top_p": top_p,
                    "top_k": 0,
                }
            out = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                pad_token_id=pad,
                eos_token_id=tokenizer.eos_token_id,
                **sampling,
            )
            answers = out[:, batch["input_ids"].shape[1] :]
            for row in answers:
                ended = (row == tokenizer.eos_token_id).nonzero()
                stop = int(ended[0]) if len(ended) else len(row)
                new_tokens += stop + (1 if len(ended) else 0)
                texts.append(tokenizer.decode(row[:stop], skip_special_tokens=True).strip())
    finally:
        tokenizer.padding_side = side
    return Generation(
        texts, new_tokens, time.perf_counter() - start, time.process_time() - cpu_start
    )
