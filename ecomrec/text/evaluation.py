"""The description task of lesson 03 in two calls: prepare the data, score the samples.

:func:`prepare_descriptions` does what the lesson shows step by step (held-out attribute
combinations, vocabulary, prompts, token tensors, references); :func:`score_samples`
computes every metric of the lesson on one set of generated descriptions, and
:func:`temperature_sweep` does it at several temperatures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from ecomrec import schema as S
from ecomrec.text.attributes import attribute_report
from ecomrec.text.data import (
    AttributeCodec,
    encode_descriptions,
    grammar_references,
    held_out_split,
    tokenized,
)
from ecomrec.text.metrics import corpus_bleu, distinct_n, self_bleu
from ecomrec.text.tokenizer import Vocabulary
from ecomrec.text.training import sample


@dataclass
class DescriptionTask:
    """Train and test items (held-out combinations), vocabulary, prompts, tokens, references."""

    train: pd.DataFrame
    test: pd.DataFrame
    held_out_pairs: pd.DataFrame
    vocab: Vocabulary
    codec: AttributeCodec
    train_prompts: torch.Tensor
    test_prompts: torch.Tensor
    train_tokens: torch.Tensor
    test_tokens: torch.Tensor
    references: list[list[list[str]]]  # per test item: tokenized references, the real one first


def prepare_descriptions(
    items: pd.DataFrame,
    by: Sequence[str] = (S.SUBCATEGORY, S.COLOR),
    share: float = 0.15,
    n_references: int = 5,
    seed: int = 0,
) -> DescriptionTask:
    """Split by held-out combinations of `by`, build the vocabulary from the training
    descriptions and every attribute value, encode, and collect `n_references` references
    per test item: its real description and ``n_references - 1`` more from the grammar."""
    split = held_out_split(items, by=by, share=share, seed=seed)
    train, test = items.iloc[split.train], items.iloc[split.test]
    codec = AttributeCodec()
    vocab = Vocabulary.from_texts(list(train[S.DESCRIPTION]) + codec.phrases(items))
    extra = grammar_references(test, n_references - 1, seed=seed + 1)
    references = [
        tokenized([real, *more]) for real, more in zip(test[S.DESCRIPTION], extra, strict=True)
    ]
    return DescriptionTask(
        train=train,
        test=test,
        held_out_pairs=split.held_out_pairs,
        vocab=vocab,
        codec=codec,
        train_prompts=codec.encode(train, vocab),
        test_prompts=codec.encode(test, vocab),
        train_tokens=encode_descriptions(train[S.DESCRIPTION], vocab),
        test_tokens=encode_descriptions(test[S.DESCRIPTION], vocab),
        references=references,
    )


def score_samples(
    samples: Sequence[Sequence[str]],
    references: Sequence[Sequence[Sequence[str]]],
    items: pd.DataFrame,
) -> dict[str, float]:
    """BLEU-2/4 against the references, self-BLEU-4, distinct-1/2 and attribute accuracy."""
    report = attribute_report(samples, items)
    return {
        "bleu2": corpus_bleu(samples, references, 2),
        "bleu4": corpus_bleu(samples, references, 4),
        "self_bleu4": self_bleu(samples, 4),
        "distinct1": distinct_n(samples, 1),
        "distinct2": distinct_n(samples, 2),
        "attribute_accuracy": report["attribute_accuracy"],
        "mean_length": sum(len(s) for s in samples) / len(samples),
    }


def temperature_sweep(
    model: nn.Module,
    task: DescriptionTask,
    temperatures: Sequence[float],
    seed: int = 0,
    keep: dict[float, list[list[str]]] | None = None,
) -> pd.DataFrame:
    """:func:`score_samples` of `model`'s descriptions of the test items at each temperature.

    Pass a dict as `keep` to get the tokenized descriptions too (``keep[temperature]``, one
    per test item), e.g. to compare two models item by item without sampling again.
    """
    rows = {}
    for temperature in temperatures:
        ids = sample(model, task.test_prompts, temperature=temperature, seed=seed)
        samples = [task.vocab.tokens(row) for row in ids]
        if keep is not None:
            keep[temperature] = samples
        rows[temperature] = score_samples(samples, task.references, task.test)
    return pd.DataFrame(rows).T.rename_axis("temperature")
