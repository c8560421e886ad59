"""Unit tests for ecomrec.text (tokenizer, metrics, attributes, models, training) and the
GAN losses and 2-D toolkit of ecomrec.gan. Fast: tiny models, few steps."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sacrebleu
import torch

from ecomrec import schema as S
from ecomrec.datasets import load_shopsim
from ecomrec.gan import (
    RingMixture,
    article_sign_error_loss,
    discriminator_loss,
    minimax_generator_loss,
    mode_report,
    non_saturating_generator_loss,
    sliced_wasserstein,
    train_gan,
)
from ecomrec.text import (
    AttributeCodec,
    ConditionalGRU,
    SequenceDiscriminator,
    TransformerGenerator,
    Vocabulary,
    adversarial_finetune,
    attribute_accuracy,
    check_attributes,
    corpus_bleu,
    detokenize,
    distinct_n,
    encode_descriptions,
    find_attributes,
    held_out_split,
    prepare_descriptions,
    sample,
    score_samples,
    self_bleu,
    temperature_sweep,
    tokenize,
    train_discriminator,
    train_mle,
)
from ecomrec.training import TrainingTimeLimitError, TrainResult, fix_threads

fix_threads(1)


@pytest.fixture(scope="module")
def items() -> pd.DataFrame:
    return load_shopsim().items


# --------------------------------------------------------------------------- tokenizer
def test_tokenizer_round_trips_every_description(items):
    for text in items[S.DESCRIPTION]:
        assert detokenize(tokenize(text)) == text


def test_tokenizer_splits_words_and_punctuation():
    assert tokenize("Meet the 2-in-1 laptop: budget-friendly, 30 days.") == [
        "Meet",
        "the",
        "2-in-1",
        "laptop",
        ":",
        "budget-friendly",
        ",",
        "30",
        "days",
        ".",
    ]


def test_vocabulary_encode_decode_and_unknown():
    vocab = Vocabulary.from_texts(["a red mug.", "a blue mug."])
    assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert vocab.itos[4:] == [".", "a", "mug", "blue", "red"]  # by frequency, then alphabetical
    ids = vocab.encode("a red mug.", bos=True)
    assert ids == [1, 5, 8, 6, 4, 2]
    assert vocab.decode(ids + [7, 7]) == "a red mug."  # stops at <eos>
    assert vocab.encode("a green mug.") == [5, 3, 6, 4, 2]


# --------------------------------------------------------------------------- BLEU & co
def _random_corpus(rng, n, n_refs, words=8):
    vocab = [f"w{i}" for i in range(words)]

    def sentence():
        return list(rng.choice(vocab, size=rng.integers(1, 12)))

    return [sentence() for _ in range(n)], [[sentence() for _ in range(n_refs)] for _ in range(n)]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_n", [2, 4])
def test_corpus_bleu_matches_sacrebleu_on_random_sentences(seed, max_n):
    rng = np.random.default_rng(seed)
    hyps, refs = _random_corpus(rng, n=40, n_refs=1 + seed % 3, words=3 if max_n == 4 else 12)
    ours = corpus_bleu(hyps, refs, max_n=max_n)
    bleu = sacrebleu.metrics.BLEU(
        tokenize="none", smooth_method="none", max_ngram_order=max_n, force=True
    )
    streams = [[" ".join(r[k]) for r in refs] for k in range(len(refs[0]))]
    theirs = bleu.corpus_score([" ".join(h) for h in hyps], streams).score / 100
    assert ours == pytest.approx(theirs, abs=1e-12)
    assert 0 < ours < 1


def test_corpus_bleu_by_hand():
    hyp = [["the", "the", "cat"]]
    refs = [[["the", "cat", "sat"]]]
    # unigrams: the x2 clipped to 1, cat 1 -> 2/3; bigrams: "the the" 0, "the cat" 1 -> 1/2
    # equal lengths: no brevity penalty
    assert corpus_bleu(hyp, refs, max_n=2) == pytest.approx(math.sqrt(2 / 3 * 1 / 2))
    # shorter hypothesis: BP = exp(1 - 3/2)
    assert corpus_bleu([["the", "cat"]], refs, max_n=2) == pytest.approx(math.exp(1 - 3 / 2))
    assert corpus_bleu(hyp, refs, max_n=4) == 0.0  # no 4-grams at all


def test_self_bleu_and_distinct_by_hand():
    tiny = [["a", "red", "mug"], ["a", "red", "mug"], ["a", "blue", "cup"]]
    assert distinct_n(tiny, 1) == pytest.approx(5 / 9)
    assert distinct_n(tiny, 2) == pytest.approx(4 / 6)
    assert distinct_n([["x"]], 2) == 0.0
    assert self_bleu(tiny, 2) == pytest.approx(math.sqrt(7 / 9 * 4 / 6))
    assert self_bleu([["a", "b"], ["a", "b"]], 2) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(3))
def test_self_bleu_equals_corpus_bleu_against_the_others(seed):
    samples, _ = _random_corpus(np.random.default_rng(seed), n=25, n_refs=1, words=5)
    others = [[s for j, s in enumerate(samples) if j != i] for i in range(len(samples))]
    assert self_bleu(samples, 3) == pytest.approx(corpus_bleu(samples, others, 3), abs=1e-12)


# --------------------------------------------------------------------------- attributes
def test_every_real_description_is_attribute_correct(items):
    assert attribute_accuracy([tokenize(d) for d in items[S.DESCRIPTION]], items) == 1.0


def test_attribute_checks_on_handwritten_sentences():
    item = {
        S.CATEGORY: "laptop bag",
        S.SUBCATEGORY: "laptop sleeve",
        S.BRAND: "Voltra",
        S.COLOR: "black",
        S.MATERIAL: "leather",
        S.PRICE_TIER: "premium",
    }
    good = (
        "A luxury laptop sleeve from Voltra, made of leather in jet black. "
        "Part of the laptop bag collection."
    )
    assert find_attributes(tokenize(good)) == [
        (S.PRICE_TIER, "premium"),
        (S.SUBCATEGORY, "laptop sleeve"),  # longest match, not the category "laptop"
        (S.BRAND, "Voltra"),
        (S.MATERIAL, "leather"),
        (S.COLOR, "black"),  # "jet black" is a synonym
        (S.CATEGORY, "laptop bag"),
    ]
    assert check_attributes(tokenize(good), item)["all"]
    wrong_brand = check_attributes(tokenize(good.replace("Voltra", "Nexio")), item)
    assert not wrong_brand["all"] and not wrong_brand[S.BRAND] and wrong_brand[S.COLOR]
    missing = check_attributes(tokenize("A luxury laptop sleeve from Voltra."), item)
    assert not missing["all"] and not missing[S.COLOR] and not missing[S.MATERIAL]
    extra = check_attributes(tokenize(good + " In red too."), item)  # a second, wrong colour
    assert not extra["all"] and not extra[S.COLOR]
    wrong_category = check_attributes(
        tokenize(good.replace("laptop bag collection", "mug range")), item
    )
    assert not wrong_category["all"] and not wrong_category[S.CATEGORY]
    no_category = check_attributes(tokenize(good.split(" Part")[0]), item)
    assert no_category["all"]  # the category is optional


def test_held_out_split_keeps_combinations_out_and_values_in(items):
    split = held_out_split(items, share=0.15, seed=3)
    train, test = items.iloc[split.train], items.iloc[split.test]
    assert len(train) + len(test) == len(items)
    pairs = set(map(tuple, test[[S.SUBCATEGORY, S.COLOR]].to_numpy()))
    assert pairs.isdisjoint(map(tuple, train[[S.SUBCATEGORY, S.COLOR]].to_numpy()))
    assert set(train[S.SUBCATEGORY]) == set(items[S.SUBCATEGORY])
    assert set(train[S.COLOR]) == set(items[S.COLOR])
    assert len(split.held_out_pairs) == len(pairs)


# --------------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def tiny_task(items):
    subset = items.iloc[:48]
    codec = AttributeCodec()
    vocab = Vocabulary.from_texts(list(subset[S.DESCRIPTION]) + codec.phrases(subset))
    return vocab, codec.encode(subset, vocab), encode_descriptions(subset[S.DESCRIPTION], vocab)


@pytest.mark.parametrize("make", [ConditionalGRU, TransformerGenerator], ids=["gru", "transformer"])
def test_generator_shapes_and_stepwise_equals_teacher_forcing(tiny_task, make):
    vocab, prompts, tokens = tiny_task
    torch.manual_seed(0)
    model = make(len(vocab)).eval()
    logits = model(prompts[:5], tokens[:5, :10])
    assert logits.shape == (5, 10, len(vocab))
    state = model.start(prompts[:5])
    for t in range(10):
        step_logits, state = model.step(state, tokens[:5, t])
        torch.testing.assert_close(step_logits, logits[:, t], atol=1e-5, rtol=1e-4)


def test_temperature_sweep_keeps_the_descriptions_it_scored(items):
    task = prepare_descriptions(items.iloc[:240], share=0.3, n_references=2, seed=0)
    torch.manual_seed(0)
    model = ConditionalGRU(len(task.vocab), dim=16, hidden_dim=16)
    kept = {}
    sweep = temperature_sweep(model, task, [0.0, 1.0], seed=3, keep=kept)
    assert sorted(kept) == [0.0, 1.0]
    for t, samples in kept.items():
        ids = sample(model, task.test_prompts, temperature=t, seed=3)
        drawn = [task.vocab.tokens(r) for r in ids]
        assert samples == drawn and len(samples) == len(task.test)
        assert score_samples(samples, task.references, task.test) == sweep.loc[t].to_dict()


def test_discriminator_shape(tiny_task):
    vocab, prompts, tokens = tiny_task
    assert SequenceDiscriminator(len(vocab))(prompts[:7], tokens[:7]).shape == (7,)


def test_training_and_sampling_are_deterministic(tiny_task):
    vocab, prompts, tokens = tiny_task

    def run():
        torch.manual_seed(1)
        model = ConditionalGRU(len(vocab), dim=32, hidden_dim=32)
        log = train_mle(model, prompts, tokens, epochs=2, batch_size=16, seed=5, progress=False)
        return model, log

    (a, log_a), (b, log_b) = run(), run()
    assert log_a.epochs_run == 2 and [r["loss"] for r in log_a.history] == [
        r["loss"] for r in log_b.history
    ]
    assert log_a.history[-1]["loss"] < log_a.history[0]["loss"]
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    s1, s2 = sample(a, prompts, 1.0, seed=9), sample(a, prompts, 1.0, seed=9)
    assert torch.equal(s1, s2) and s1.shape[0] == len(prompts) and (s1[:, 0] == 1).all()
    assert not torch.equal(s1, sample(a, prompts, 1.0, seed=10))
    greedy = sample(a, prompts, 0.0, seed=1)
    assert torch.equal(greedy, sample(a, prompts, 0.0, seed=2))  # greedy ignores the seed


def test_discriminator_and_adversarial_runs_are_bounded_by_steps(tiny_task):
    vocab, prompts, tokens = tiny_task

    def run():
        torch.manual_seed(2)
        generator = ConditionalGRU(len(vocab), dim=16, hidden_dim=16)
        discriminator = SequenceDiscriminator(len(vocab))
        fake = sample(generator, prompts, 1.0, seed=3)
        warm = train_discriminator(
            discriminator, prompts, tokens, fake, epochs=2, seed=4, progress=False
        )
        adv = adversarial_finetune(
            generator, discriminator, prompts, tokens, steps=3, batch_size=8, seed=5, progress=False
        )
        return warm, adv

    (warm_a, adv_a), (warm_b, adv_b) = run(), run()
    assert isinstance(warm_a, TrainResult) and warm_a.epochs_run == 2
    assert isinstance(adv_a, TrainResult) and adv_a.epochs_run == 3
    assert [r["step"] for r in adv_a.history] == [1, 2, 3]
    assert [r["loss"] for r in warm_a.history] == [r["loss"] for r in warm_b.history]
    assert [(r["loss"], r["reward"]) for r in adv_a.history] == [
        (r["loss"], r["reward"]) for r in adv_b.history
    ]


# --------------------------------------------------------------------------- GAN
def test_gan_losses_exact_values():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-1.0, 0.0])
    d_real, d_fake = (
        1 / (1 + np.exp(-np.array([2.0, 0.5]))),
        1 / (1 + np.exp(-np.array([-1.0, 0.0]))),
    )
    expected_d = -np.log(d_real).mean() - np.log(1 - d_fake).mean()
    assert discriminator_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    assert minimax_generator_loss(fake).item() == pytest.approx(np.log(1 - d_fake).mean(), rel=1e-6)
    assert non_saturating_generator_loss(fake).item() == pytest.approx(
        -np.log(d_fake).mean(), rel=1e-6
    )
    article_value = -0.5 * (np.log(d_real) - np.log(1 - d_fake)).mean()
    assert article_sign_error_loss(real, fake).item() == pytest.approx(article_value, rel=1e-6)
    # at D = 1/2 everywhere the discriminator loss is log 4
    zero = torch.zeros(3)
    assert discriminator_loss(zero, zero).item() == pytest.approx(math.log(4))
    # finite even when the discriminator is certain
    assert math.isfinite(non_saturating_generator_loss(torch.tensor([-200.0])).item())


def test_minimax_gradient_saturates_and_non_saturating_does_not():
    logit = torch.tensor([-6.0], requires_grad=True)  # D(G(z)) ~ 0.0025: fakes rejected
    minimax_generator_loss(logit).backward()
    minimax_grad = logit.grad.item()
    logit.grad = None
    non_saturating_generator_loss(logit).backward()
    assert minimax_grad == pytest.approx(-torch.sigmoid(torch.tensor(-6.0)).item())
    assert logit.grad.item() == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-6.0)).item()))


def test_mode_report_and_sliced_wasserstein():
    mixture = RingMixture()
    real = mixture.sample(4000, np.random.default_rng(0))
    report = mode_report(real, mixture)
    assert report["modes_covered"] == 8 and report["good_share"] > 0.97 and report["mode_tv"] < 0.05
    collapsed = mixture.centres[[0]] + 0.05 * np.random.default_rng(1).standard_normal((1000, 2))
    report = mode_report(collapsed, mixture)
    assert report["modes_covered"] == 1 and report["good_share"] == 1.0
    assert report["mode_tv"] == pytest.approx(1 - 1 / 8, abs=0.01)
    assert sliced_wasserstein(real, real) == 0.0
    shifted = sliced_wasserstein(real, real + np.array([1.0, 0.0]), n_projections=2000)
    assert shifted == pytest.approx(2 / np.pi, abs=0.02)  # E|cos| over random directions


def test_train_gan_is_deterministic_and_sign_error_fools_nobody():
    mixture = RingMixture()
    runs = [train_gan(mixture, steps=30, batch_size=64, seed=4, progress=False) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].sample(50), runs[1].sample(50))
    assert isinstance(runs[0], TrainResult) and runs[0].epochs_run == 30
    with pytest.raises(TrainingTimeLimitError, match="GAN"):
        train_gan(mixture, steps=10_000, batch_size=64, time_limit=0.05, progress=False)
    wrong = train_gan(
        mixture, "article-sign-error", steps=60, batch_size=64, seed=4, progress=False
    )
    assert wrong.history[-1]["d_fake"] > 0.9  # the discriminator calls the fakes real
