"""Assignment 07-generative-language-models: points, which answers each test cell uses, and
the wrong answers its tests must catch (checked by tests/test_assignment_structure.py)."""

from assignments.spec import Assignment

# grade_id -> points, as in the syllabus: 2 + 3 + 2 + 3 autograded, 2 by hand
EXPECTED_POINTS = {
    "test_description_messages": 2,
    "test_continuation_logprobs": 3,
    "test_position_bias": 2,
    "test_hallucinated_attributes": 3,
    "written_answer": 2,
}

CALLS = {
    "test_description_messages": {"description_messages"},
    "test_continuation_logprobs": {"continuation_logprobs"},
    "test_position_bias": {"position_bias"},
    "test_hallucinated_attributes": {"hallucinated_attributes"},
}

PAD_ID_MASK = """
def continuation_logprobs(model, tokenizer, prompt, continuations):
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    prompt_ids = tokenizer(prompt)["input_ids"]
    if not prompt_ids or len(continuations) == 0:
        raise ValueError("nothing to score")
    pieces = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
    if not all(pieces):
        raise ValueError("a continuation has no tokens")
    n, longest = len(prompt_ids), max(len(ids) for ids in pieces)
    batch = torch.full((len(pieces), n + longest), pad, dtype=torch.long)
    for row, ids in enumerate(pieces):
        batch[row, : n + len(ids)] = torch.tensor(prompt_ids + ids)
    real = (batch != pad).long()  # wrong: a real token can have the padding id
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=batch, attention_mask=real).logits.double()
    log_p = torch.log_softmax(logits[:, n - 1 : -1], dim=-1)
    picked = log_p.gather(-1, batch[:, n:].unsqueeze(-1)).squeeze(-1)
    return (picked * real[:, n:]).sum(dim=1).numpy()
"""

ONE_AT_A_TIME_JOINT = (
    'pieces = [tokenizer(prompt + c)["input_ids"][len(prompt_ids) :] for c in continuations]'
)

# (answer cell, text replaced (None: whole cell), replacement, test cell that must fail,
#  caught by the hidden tests only)
WRONG_ANSWERS = {
    "prompt with every field of the item": (
        "description_messages",
        "for attribute in ATTRIBUTES:\n"
        "            value = row[attribute] if attribute in row else None",
        "for attribute in list(row.keys()):\n            value = row[attribute]",
        "test_description_messages",
        False,
    ),
    "prompt with the column name price_tier": (
        "description_messages",
        "f\"{attribute.replace('_', ' ')}: {value}\"",
        'f"{attribute}: {value}"',
        "test_description_messages",
        False,
    ),
    "prompt with the examples after the item": (
        "description_messages",
        'messages.append({"role": "user", "content": describe(item)})\n    return messages',
        'return messages[:1] + [{"role": "user", "content": describe(item)}] + messages[1:]',
        "test_description_messages",
        False,
    ),
    "prompt iterates a DataFrame's columns": (
        "description_messages",
        "    if isinstance(examples, pd.DataFrame):\n"
        "        examples = [row for _, row in examples.iterrows()]\n",
        "",
        "test_description_messages",
        True,
    ),
    "prompt writes a missing value as nan": (
        "description_messages",
        'if value is None or (isinstance(value, float) and np.isnan(value)) or str(value) == "":',
        "if value is None:",
        "test_description_messages",
        True,
    ),
    "score tokenizes prompt and continuation together": (
        "continuation_logprobs",
        'pieces = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]',
        ONE_AT_A_TIME_JOINT,
        "test_continuation_logprobs",
        True,
    ),
    "score adds a start token to each continuation": (
        "continuation_logprobs",
        'tokenizer(c, add_special_tokens=False)["input_ids"]',
        'tokenizer(c)["input_ids"]',
        "test_continuation_logprobs",
        False,
    ),
    "score reads the logits one position late": (
        "continuation_logprobs",
        "logits[:, n - 1 : -1]",
        "logits[:, n:]",
        "test_continuation_logprobs",
        False,
    ),
    "score is the mean over tokens": (
        "continuation_logprobs",
        "return (picked * real[:, n:]).sum(dim=1).numpy()",
        "return ((picked * real[:, n:]).sum(dim=1) / real[:, n:].sum(dim=1)).numpy()",
        "test_continuation_logprobs",
        True,
    ),
    "score sums the padding positions": (
        "continuation_logprobs",
        "return (picked * real[:, n:]).sum(dim=1).numpy()",
        "return picked.sum(dim=1).numpy()",
        "test_continuation_logprobs",
        False,
    ),
    "score finds padding by the padding id": (
        "continuation_logprobs",
        None,
        PAD_ID_MASK,
        "test_continuation_logprobs",
        False,
    ),
    "score with dropout left on": (
        "continuation_logprobs",
        "    model.eval()\n",
        "",
        "test_continuation_logprobs",
        True,
    ),
    "position bias counts the item, not the position": (
        "position_bias",
        "counts[position] += 1",
        "counts[candidates.index(listing[position])] += 1",
        "test_position_bias",
        False,
    ),
    "position bias without the one half": (
        "position_bias",
        '"bias": float(0.5 * np.abs(share - 1 / m).sum())',
        '"bias": float(np.abs(share - 1 / m).sum())',
        "test_position_bias",
        False,
    ),
    "position bias compares with the first candidate": (
        "position_bias",
        "original = candidates[pick(candidates)]",
        "original = candidates[0]",
        "test_position_bias",
        False,
    ),
    "position bias shuffles with the global generator": (
        "position_bias",
        "rng.permutation(m)",
        "np.random.permutation(m)",
        "test_position_bias",
        True,
    ),
    "position bias accepts any returned index": (
        "position_bias",
        "if not 0 <= position < m:",
        "if position >= m:",
        "test_position_bias",
        True,
    ),
    "checker compares the phrase, not its canonical value": (
        "hallucinated_attributes",
        "if value != str(item[attribute]):",
        'if " ".join(lowered[i : i + width]) != str(item[attribute]).lower():',
        "test_hallucinated_attributes",
        False,
    ),
    "checker takes the shortest phrase": (
        "hallucinated_attributes",
        "range(min(longest, len(tokens) - i), 0, -1)",
        "range(1, min(longest, len(tokens) - i) + 1)",
        "test_hallucinated_attributes",
        True,
    ),
    "checker is case-sensitive": (
        "hallucinated_attributes",
        "LEXICON.get(tuple(lowered[i : i + w]))",
        "LEXICON.get(tuple(tokens[i : i + w]))",
        "test_hallucinated_attributes",
        False,
    ),
    "checker takes sentence starts for brands": (
        "hallucinated_attributes",
        " and i > 0 and tokens[i - 1] not in SENTENCE_ENDS",
        "",
        "test_hallucinated_attributes",
        False,
    ),
    "checker ends sentences at full stops only": (
        "hallucinated_attributes",
        "tokens[i - 1] not in SENTENCE_ENDS",
        'tokens[i - 1] != "."',
        "test_hallucinated_attributes",
        True,
    ),
    "checker ignores invented brands": (
        "hallucinated_attributes",
        "elif tokens[i][0].isupper()",
        "elif False and tokens[i][0].isupper()",
        "test_hallucinated_attributes",
        False,
    ),
    "checker reports every mention": (
        "hallucinated_attributes",
        "return list(dict.fromkeys(found))",
        "return found",
        "test_hallucinated_attributes",
        True,
    ),
}

ASSIGNMENT = Assignment(
    slug="07-generative-language-models",
    points=EXPECTED_POINTS,
    calls=CALLS,
    wrong_answers=WRONG_ANSWERS,
    # a wrong answer may fail on its own ValueError (a DataFrame read as column names)
    wrong_answer_errors=(AssertionError, ValueError, TypeError),
)
