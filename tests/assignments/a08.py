"""Assignment 08-online-experiments: points, which answers each test cell uses, and the wrong
answers its tests must catch (checked by tests/test_assignment_structure.py)."""

from assignments.spec import Assignment

# grade_id -> points, as in the syllabus: 2 + 2 + (1 + 1) + 2 + 2 autograded, 2 by hand
EXPECTED_POINTS = {
    "test_srm_p_value": 2,
    "test_cuped_estimate": 2,
    "test_ips_estimate": 1,
    "test_snips_estimate": 1,
    "test_sample_size_per_group": 2,
    "test_my_policy": 2,
    "written_answer": 2,
}

CALLS = {
    "test_srm_p_value": {"srm_p_value"},
    "test_cuped_estimate": {"cuped_estimate"},
    "test_ips_estimate": {"ips_estimate"},
    "test_snips_estimate": {"snips_estimate"},
    "test_sample_size_per_group": {"sample_size_per_group"},
    "test_my_policy": {"MyPolicy"},
}

ZERO_WEIGHTS = (
    "    if weights.sum() == 0:\n"
    '        raise ValueError("every weight is zero: the log says nothing about the new policy")\n'
)

# (answer cell, text replaced, replacement, test cell that must fail, caught by hidden tests only)
WRONG_ANSWERS = {
    "SRM with k degrees of freedom": (
        "srm_p_value",
        "df=len(counts) - 1",
        "df=len(counts)",
        "test_srm_p_value",
        False,
    ),
    "SRM ignores the designed shares": (
        "srm_p_value",
        "expected = counts.sum() * shares",
        "expected = np.full(len(counts), counts.sum() / len(counts))",
        "test_srm_p_value",
        True,
    ),
    "SRM accepts shares that do not sum to 1": (
        "srm_p_value",
        " or abs(shares.sum() - 1.0) > 1e-6",
        "",
        "test_srm_p_value",
        False,
    ),
    "SRM divides by the observed counts (Neyman's chi-square)": (
        "srm_p_value",
        "((counts - expected) ** 2 / expected).sum()",
        "((counts - expected) ** 2 / np.maximum(counts, 1)).sum()",
        "test_srm_p_value",
        False,
    ),
    "CUPED theta over var(y)": (
        "cuped_estimate",
        "np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1)",
        "np.cov(x, y, ddof=1)[0, 1] / np.var(y, ddof=1)",
        "test_cuped_estimate",
        False,
    ),
    "CUPED standard error of the unadjusted metric": (
        "cuped_estimate",
        "np.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c))",
        "np.sqrt(y[treated].var(ddof=1) / len(t) + y[~treated].var(ddof=1) / len(c))",
        "test_cuped_estimate",
        False,
    ),
    "CUPED with population variances": (
        "cuped_estimate",
        "t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c)",
        "t.var() / len(t) + c.var() / len(c)",
        "test_cuped_estimate",
        False,
    ),
    "CUPED control minus treatment": (
        "cuped_estimate",
        "effect = t.mean() - c.mean()",
        "effect = c.mean() - t.mean()",
        "test_cuped_estimate",
        False,
    ),
    "CUPED accepts a one-user group": (
        "cuped_estimate",
        "if treated.sum() < 2 or (~treated).sum() < 2:",
        "if treated.sum() < 1 or (~treated).sum() < 1:",
        "test_cuped_estimate",
        True,
    ),
    "IPS with the weights inverted": (
        "ips_estimate",
        "np.mean(pi / p * r)",
        "np.mean(np.where(pi > 0, p / np.maximum(pi, 1e-12), 0.0) * r)",
        "test_ips_estimate",
        False,
    ),
    "IPS averages over the non-zero weights only": (
        "ips_estimate",
        "np.mean(pi / p * r)",
        "np.mean((pi / p * r)[pi > 0])",
        "test_ips_estimate",
        False,
    ),
    "IPS accepts a zero propensity": (
        "ips_estimate",
        "((p <= 0) | (p > 1))",
        "((p < 0) | (p > 1))",
        "test_ips_estimate",
        False,
    ),
    "IPS accepts a propensity above 1": (
        "ips_estimate",
        "((p <= 0) | (p > 1))",
        "(p <= 0)",
        "test_ips_estimate",
        True,
    ),
    "SNIPS divides by n": (
        "snips_estimate",
        "(weights * r).sum() / weights.sum()",
        "(weights * r).sum() / len(r)",
        "test_snips_estimate",
        False,
    ),
    "SNIPS accepts all-zero weights": (
        "snips_estimate",
        ZERO_WEIGHTS,
        "",
        "test_snips_estimate",
        False,
    ),
    "SNIPS accepts a target probability above 1": (
        "snips_estimate",
        "((pi < 0) | (pi > 1))",
        "(pi < 0)",
        "test_snips_estimate",
        True,
    ),
    "sample size without the factor 2": (
        "sample_size_per_group",
        "2 * std**2 * z**2",
        "std**2 * z**2",
        "test_sample_size_per_group",
        False,
    ),
    "sample size of a one-sided test": (
        "sample_size_per_group",
        "stats.norm.ppf(1 - alpha / 2)",
        "stats.norm.ppf(1 - alpha)",
        "test_sample_size_per_group",
        False,
    ),
    "sample size rounded to the nearest user": (
        "sample_size_per_group",
        "int(math.ceil(",
        "int(round(",
        "test_sample_size_per_group",
        False,
    ),
    "sample size ignores the power asked for": (
        "sample_size_per_group",
        "stats.norm.ppf(power)",
        "stats.norm.ppf(0.8)",
        "test_sample_size_per_group",
        True,
    ),
    "sample size keeps the sign of the effect": (
        "sample_size_per_group",
        "if min_effect == 0:",
        "if min_effect <= 0:",
        "test_sample_size_per_group",
        True,
    ),
    "policy shows the most popular items": (
        "my_policy",
        "return top_k_unseen(scores, observation.seen, k)",
        "return top_k_unseen(np.tile(self.popular, (len(last), 1)), observation.seen, k)",
        "test_my_policy",
        False,
    ),
    "policy reads the truth": (
        "my_policy",
        '    name = "mine"',
        '    name = "mine"\n    reads_truth = True',
        "test_my_policy",
        False,
    ),
}


ASSIGNMENT = Assignment(
    slug="08-online-experiments",
    points=EXPECTED_POINTS,
    calls=CALLS,
    wrong_answers=WRONG_ANSWERS,
    # a wrong check raises the ValueError a hidden test's valid input must not raise
    wrong_answer_errors=(AssertionError, ValueError),
)
