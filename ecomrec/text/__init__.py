"""Text generation for product descriptions (lesson 03): tokenizer, metrics, models, training.

>>> from ecomrec.text import tokenize, corpus_bleu, attribute_accuracy
"""

from ecomrec.text.attributes import (
    ATTRIBUTES,
    REQUIRED,
    attribute_accuracy,
    attribute_report,
    check_attributes,
    find_attributes,
    hallucination_rate,
    wrong_statements,
)
from ecomrec.text.data import (
    AttributeCodec,
    HeldOutSplit,
    encode_descriptions,
    grammar_references,
    held_out_split,
    tokenized,
)
from ecomrec.text.evaluation import (
    DescriptionTask,
    prepare_descriptions,
    score_samples,
    temperature_sweep,
)
from ecomrec.text.metrics import corpus_bleu, distinct_n, ngrams, self_bleu
from ecomrec.text.models import ConditionalGRU, SequenceDiscriminator, TransformerGenerator
from ecomrec.text.tokenizer import Vocabulary, detokenize, tokenize
from ecomrec.text.training import (
    DiscriminatorObjective,
    MLEObjective,
    adversarial_finetune,
    discriminator_accuracy,
    mle_loss,
    sample,
    sequence_log_probs,
    shuffled_batches,
    train_discriminator,
    train_mle,
)

__all__ = [
    "ATTRIBUTES",
    "REQUIRED",
    "AttributeCodec",
    "ConditionalGRU",
    "DescriptionTask",
    "DiscriminatorObjective",
    "HeldOutSplit",
    "MLEObjective",
    "SequenceDiscriminator",
    "TransformerGenerator",
    "Vocabulary",
    "adversarial_finetune",
    "attribute_accuracy",
    "attribute_report",
    "check_attributes",
    "hallucination_rate",
    "wrong_statements",
    "corpus_bleu",
    "detokenize",
    "discriminator_accuracy",
    "distinct_n",
    "encode_descriptions",
    "find_attributes",
    "grammar_references",
    "held_out_split",
    "mle_loss",
    "ngrams",
    "prepare_descriptions",
    "sample",
    "score_samples",
    "self_bleu",
    "sequence_log_probs",
    "shuffled_batches",
    "temperature_sweep",
    "tokenize",
    "tokenized",
    "train_discriminator",
    "train_mle",
]
