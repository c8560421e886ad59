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
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

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
