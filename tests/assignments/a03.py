"""Assignment 03-description-generation: points, which answers each test cell uses, and the wrong
answers its tests must catch (checked by tests/test_assignment_structure.py)."""

from assignments.spec import Assignment

# grade_id -> points, as in the syllabus: (1 + 1 + 1) + (1 + 2) + 4 autograded, 2 by hand
EXPECTED_POINTS = {
    "test_discriminator_loss": 1,
    "test_minimax_generator_loss": 1,
    "test_non_saturating_generator_loss": 1,
    "test_distinct_n": 1,
    "test_corpus_bleu": 2,
    "test_trained_generator": 4,
    "written_answer": 2,
}


TRAINED = "test_trained_generator"  # needs a trained model: run here with stand-in models


# which student functions each test cell calls: a mistake costs that cell's points only
CALLS = {
    "test_discriminator_loss": {"discriminator_loss"},
    "test_minimax_generator_loss": {"minimax_generator_loss"},
    "test_non_saturating_generator_loss": {"non_saturating_generator_loss"},
    "test_distinct_n": {"distinct_n"},
    "test_corpus_bleu": {"corpus_bleu"},
    TRAINED: {"DescriptionGenerator", "train_generator"},
}


# (solution cell, text replaced, replacement, test cell that must fail, caught by hidden tests only)
WRONG_ANSWERS = {
    "discriminator: the article's sign error": (
        "discriminator_loss",
        "return -log_d_real.mean() - log_not_d_fake.mean()",
        "return -0.5 * (log_d_real - log_not_d_fake).mean()",
        "test_discriminator_loss",
        False,
    ),
    "discriminator: sums instead of means": (
        "discriminator_loss",
        "return -log_d_real.mean() - log_not_d_fake.mean()",
        "return -log_d_real.sum() - log_not_d_fake.sum()",
        "test_discriminator_loss",
        False,
    ),
    "discriminator: one mean over both batches": (
        "discriminator_loss",
        "return -log_d_real.mean() - log_not_d_fake.mean()",
        "return -torch.cat([log_d_real, log_not_d_fake]).mean()",
        "test_discriminator_loss",
        False,
    ),
    "discriminator: log of probabilities": (
        "discriminator_loss",
        "F.logsigmoid(real_logits)",
        "torch.log(torch.sigmoid(real_logits))",
        "test_discriminator_loss",
        True,
    ),
    "discriminator: epsilon inside the log": (
        "discriminator_loss",
        "F.logsigmoid(-fake_logits)",
        "torch.log(1 - torch.sigmoid(fake_logits) + 1e-7)",
        "test_discriminator_loss",
        True,
    ),
    "discriminator: a tensor cut off from the graph": (
        "discriminator_loss",
        "return -log_d_real.mean() - log_not_d_fake.mean()",
        "return torch.tensor(float((-log_d_real.mean() - log_not_d_fake.mean()).detach()))",
        "test_discriminator_loss",
        True,
    ),
    "discriminator: a Python float": (
        "discriminator_loss",
        "return -log_d_real.mean() - log_not_d_fake.mean()",
        "return (-log_d_real.mean() - log_not_d_fake.mean()).item()",
        "test_discriminator_loss",
        False,
    ),
    "minimax: wrong sign": (
        "minimax_generator_loss",
        "return F.logsigmoid(-fake_logits).mean()",
        "return -F.logsigmoid(-fake_logits).mean()",
        "test_minimax_generator_loss",
        False,
    ),
    "minimax: the non-saturating loss instead": (
        "minimax_generator_loss",
        "return F.logsigmoid(-fake_logits).mean()",
        "return -F.logsigmoid(fake_logits).mean()",
        "test_minimax_generator_loss",
        False,
    ),
    "minimax: log of probabilities": (
        "minimax_generator_loss",
        "return F.logsigmoid(-fake_logits).mean()",
        "return torch.log(1 - torch.sigmoid(fake_logits)).mean()",
        "test_minimax_generator_loss",
        True,
    ),
    "non-saturating: wrong sign": (
        "non_saturating_generator_loss",
        "return -F.logsigmoid(fake_logits).mean()",
        "return F.logsigmoid(fake_logits).mean()",
        "test_non_saturating_generator_loss",
        False,
    ),
    "non-saturating: sum": (
        "non_saturating_generator_loss",
        "return -F.logsigmoid(fake_logits).mean()",
        "return -F.logsigmoid(fake_logits).sum()",
        "test_non_saturating_generator_loss",
        False,
    ),
    "non-saturating: log of probabilities": (
        "non_saturating_generator_loss",
        "return -F.logsigmoid(fake_logits).mean()",
        "return -torch.log(torch.sigmoid(fake_logits)).mean()",
        "test_non_saturating_generator_loss",
        True,
    ),
    "distinct: n-grams across sentences": (
        "distinct_n",
        "for sentence in sentences:",
        "for sentence in [' '.join(sentences)]:",
        "test_distinct_n",
        False,
    ),
    "distinct: divided by tokens": (
        "distinct_n",
        "total += len(grams)",
        "total += len(tokens)",
        "test_distinct_n",
        False,
    ),
    "distinct: mean of per-sentence values": (
        "distinct_n",
        None,
        "def distinct_n(sentences, n):\n"
        "    values = []\n"
        "    for s in sentences:\n"
        "        t = s.split()\n"
        "        g = [tuple(t[i : i + n]) for i in range(len(t) - n + 1)]\n"
        "        if g:\n"
        "            values.append(len(set(g)) / len(g))\n"
        "    return sum(values) / len(values) if values else 0.0\n",
        "test_distinct_n",
        False,
    ),
    "bleu: no clipping": (
        "corpus_bleu",
        "min(k, best[g])",
        "(k if best[g] else 0)",
        "test_corpus_bleu",
        False,
    ),
    "bleu: clipped by the sum over references": (
        "corpus_bleu",
        "best |= counts(r, n)",
        "best += counts(r, n)",
        "test_corpus_bleu",
        True,
    ),
    "bleu: first reference only": (
        "corpus_bleu",
        "ref_tokens = [ref.split() for ref in refs]",
        "ref_tokens = [refs[0].split()]",
        "test_corpus_bleu",
        False,
    ),
    "bleu: ties go to the longer reference": (
        "corpus_bleu",
        "(abs(n - len(hyp)), n)",
        "(abs(n - len(hyp)), -n)",
        "test_corpus_bleu",
        True,
    ),
    "bleu: the shortest reference": (
        "corpus_bleu",
        "key=lambda n: (abs(n - len(hyp)), n)",
        "key=lambda n: n",
        "test_corpus_bleu",
        True,
    ),
    "bleu: arithmetic mean of precisions": (
        "corpus_bleu",
        "return brevity * math.exp(log_precision)",
        "return brevity * sum(m / t for m, t in zip(matches, totals)) / max_n",
        "test_corpus_bleu",
        False,
    ),
    "bleu: add-one smoothing": (
        "corpus_bleu",
        "if hyp_length == 0 or min(matches) == 0:",
        "matches = [m + (i > 0) for i, m in enumerate(matches)]\n"
        "    totals = [t + (i > 0) for i, t in enumerate(totals)]\n"
        "    if hyp_length == 0 or min(matches) == 0:",
        "test_corpus_bleu",
        False,
    ),
    "bleu: lengths of the last sentence only": (
        "corpus_bleu",
        "ref_length += min(",
        "hyp_length, ref_length = len(hyp), 0\n        ref_length += min(",
        "test_corpus_bleu",
        True,
    ),
    "bleu: mean of sentence scores": (
        "corpus_bleu",
        "    ### END SOLUTION",
        "    ### END SOLUTION\n\n\n_corpus = corpus_bleu\n\n\n"
        "def corpus_bleu(hypotheses, references, max_n=4):\n"
        "    scores = [_corpus([h], [r], max_n) for h, r in zip(hypotheses, references)]\n"
        "    return sum(scores) / len(scores)\n",
        "test_corpus_bleu",
        False,
    ),
}


ASSIGNMENT = Assignment(
    slug="03-description-generation",
    points=EXPECTED_POINTS,
    calls=CALLS,
    wrong_answers=WRONG_ANSWERS,
    # loading the descriptions and training: test_assignment_03.py runs them with stand-ins
    skipped_cells=frozenset(
        {"load_data", "description_generator", "train_generator_run", "collapse_table"}
    ),
    trained_test=TRAINED,
    trained_test_on_stubs=None,  # test_assignment_03.py checks the untouched trained cell
    training_calls=frozenset({"train_generator"}),
    wrong_answer_errors=(AssertionError, ArithmeticError, RuntimeError),
)
