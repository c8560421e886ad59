"""LoRA fine-tuning of a causal LM through the course's one training loop.

LoRA (Hu et al. 2022) freezes the pretrained weight ``W`` (d x k) and learns a low-rank
update: ``W x + (alpha / r) B A x`` with ``A`` (r x k), ``B`` (d x r), ``B = 0`` at the start,
so training begins from the pretrained model and updates ``r (d + k)`` numbers per matrix
instead of ``d k``. ``peft`` inserts the adapters; :class:`CausalLMObjective` gives the
wrapped model the ``loss(batch)`` that :func:`ecomrec.training.train` calls, and
:func:`answer_batches` the batch source (a function of the epoch, so the same seed gives the
same batches on any machine).

The loss is the cross-entropy of the answer tokens only: the prompt's tokens are labelled
-100 (ignored), so the model learns to write answers, not to repeat prompts.

For a one-token answer ("Yes" / "No", TALLRec's task) :class:`AnswerTokenObjective` and
:func:`answer_token_batches` compute the same loss more cheaply: the prompts are left-padded
so that every answer is predicted at the last position, and the output layer (a 49,152-word
softmax) runs at that position only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ecomrec.llm.scoring import left_padded
from ecomrec.training import epoch_generator

IGNORE = -100


def add_lora(
    model,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    targets=("q_proj", "v_proj"),
    layers: Sequence[int] | None = None,
):
    """`model` with LoRA adapters of rank `r` on the `targets` projections (peft); only the
    adapters are trainable. `layers` (None: all) puts them in those decoder layers only:
    adapters in the top layers only also make the backward pass stop there, which is cheaper."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets),
        bias="none",
        layers_to_transform=None if layers is None else list(layers),
    )
    return get_peft_model(model, config)


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


class CausalLMObjective(nn.Module):
    """Wraps a causal LM so that :func:`ecomrec.training.train` can train it:
    ``loss(batch)`` is the mean cross-entropy of the labelled (answer) tokens."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def loss(self, batch) -> torch.Tensor:
        input_ids, attention_mask, labels = batch
        return self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss


def answer_examples(
    prompt_ids: Sequence[Sequence[int]], answer_ids: Sequence[Sequence[int]]
) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per example: prompt + answer, with the prompt labelled -100."""
    if len(prompt_ids) != len(answer_ids):
        raise ValueError(f"{len(prompt_ids)} prompts for {len(answer_ids)} answers")
    rows = []
    for prompt, answer in zip(prompt_ids, answer_ids, strict=True):
        if len(answer) == 0:
            raise ValueError("every answer needs at least one token")
        rows.append((list(prompt) + list(answer), [IGNORE] * len(prompt) + list(answer)))
    return rows


def collate(rows: Sequence[tuple[list[int], list[int]]], pad_id: int = 0):
    """Right-padded (input_ids, attention_mask, labels) tensors; padding is labelled -100."""
    length = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    labels = torch.full((len(rows), length), IGNORE, dtype=torch.long)
    for i, (row, label) in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
        labels[i, : len(label)] = torch.tensor(label)
    return ids, mask, labels


def answer_batches(
    prompt_ids: Sequence[Sequence[int]],
    answer_ids: Sequence[Sequence[int]],
    batch_size: int = 8,
    seed: int = 0,
    pad_id: int = 0,
):
    """``batches(epoch)`` for :func:`ecomrec.training.train`: the examples shuffled with a
    generator seeded from (seed, epoch), in padded batches of `batch_size`."""
    rows = answer_examples(prompt_ids, answer_ids)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")

    def batches(epoch: int):
        order = torch.randperm(len(rows), generator=epoch_generator(seed, epoch)).tolist()
        for start in range(0, len(rows), batch_size):
            yield collate([rows[i] for i in order[start : start + batch_size]], pad_id)

    return batches


class AnswerTokenObjective(nn.Module):
    """Wraps a causal LM for :func:`ecomrec.training.train` on one-token answers:
    ``loss(batch)`` is the mean cross-entropy of the answer token predicted after each
    left-padded prompt (batches from :func:`answer_token_batches`). Equal to
    :class:`CausalLMObjective` on prompt + answer with the prompt masked (a test checks it).

    `prefix_ids`: tokens every prompt starts with (the system turn and the instruction),
    left out of the batches (``answer_token_batches(..., prefix_length=len(prefix_ids))``).
    Each step runs them once, with gradients, and shares their key/value cache across the
    batch: the same loss for fewer tokens.
    """

    def __init__(self, model: nn.Module, prefix_ids: Sequence[int] | None = None):
        super().__init__()
        self.model = model
        self.prefix = None if not prefix_ids else torch.tensor([list(prefix_ids)])

    def forward(self, input_ids, attention_mask, position_ids):
        extra = {}
        if self.prefix is not None:
            cache = self.model(input_ids=self.prefix, use_cache=True).cache
            cache.batch_repeat_interleave(len(input_ids))
            seen = torch.ones((len(input_ids), self.prefix.shape[1]), dtype=attention_mask.dtype)
            attention_mask = torch.cat([seen, attention_mask], dim=1)
            extra["cache"] = cache
        return self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            logits_to_keep=1,
            **extra,
        ).logits[:, -1]

    def loss(self, batch) -> torch.Tensor:
        input_ids, attention_mask, position_ids, answers = batch
        return F.cross_entropy(self(input_ids, attention_mask, position_ids).float(), answers)


def answer_token_batches(
    prompt_ids: Sequence[Sequence[int]],
    answer_ids: Sequence[int],
    batch_size: int = 8,
    seed: int = 0,
    pad_id: int = 0,
    prefix_length: int = 0,
):
    """``batches(epoch)`` for :class:`AnswerTokenObjective`: (input_ids, attention_mask,
    position_ids, answer id) batches of left-padded prompts, shuffled with a generator seeded
    from (seed, epoch). There are ``ceil(len(prompt_ids) / batch_size)`` steps per epoch.

    `prefix_length`: the first tokens, which every prompt must share, are left out (the
    objective runs them once per step; positions start after them)."""
    if len(prompt_ids) != len(answer_ids):
        raise ValueError(f"{len(prompt_ids)} prompts for {len(answer_ids)} answers")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for index, row in enumerate(prompt_ids):
        if len(row) <= prefix_length:
            raise ValueError(f"prompts[{index}] has no token after the shared prefix")
        if list(row[:prefix_length]) != list(prompt_ids[0][:prefix_length]):
            raise ValueError(f"prompts[{index}] does not start with the shared prefix")
    rows = [list(p)[prefix_length:] for p in prompt_ids]
    answers = torch.tensor([int(a) for a in answer_ids], dtype=torch.long)

    def batches(epoch: int):
        order = torch.randperm(len(rows), generator=epoch_generator(seed, epoch)).tolist()
        for start in range(0, len(rows), batch_size):
            chosen = order[start : start + batch_size]
            ids, mask, positions = left_padded([rows[i] for i in chosen], pad_id, prefix_length)
            yield ids, mask, positions, answers[chosen]

    return batches
