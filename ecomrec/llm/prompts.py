"""Prompt builders for an instruction-tuned chat model (lesson 07).

An instruction-tuned model was fine-tuned on conversations written in one format, its
*chat template*. SmolLM2 uses ChatML::

    <|im_start|>system
    You are a helpful AI assistant ...<|im_end|>
    <|im_start|>user
    Describe this product ...<|im_end|>
    <|im_start|>assistant

A prompt that ends with the assistant's opening line asks the model to write the answer.
The template travels with the tokenizer (``tokenizer.chat_template``), so :func:`chat`
applies it instead of pasting the markers by hand. Few-shot examples are earlier
(user, assistant) turns of the same conversation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ecomrec import schema as S

# The attributes a description must state (ecomrec.text.attributes.REQUIRED), as a shopper says them
ATTRIBUTE_LABELS = {
    S.SUBCATEGORY: "product",
    S.BRAND: "brand",
    S.COLOR: "colour",
    S.MATERIAL: "material",
    S.PRICE_TIER: "price",
}
DESCRIBE_INSTRUCTION = (
    "Write a one-sentence product description for an online shop. "
    "State every attribute below and nothing else."
)


def chat(
    tokenizer,
    user: str,
    *,
    system: str | None = None,
    examples: Sequence[tuple[str, str]] = (),
    answer_start: str = "",
) -> str:
    """The chat-template text of one user turn after optional few-shot `examples`
    ((user, assistant) pairs), ending where the assistant's answer begins.

    `answer_start` is appended after the assistant's opening line (e.g. to make the model
    continue a given beginning). Raises ValueError if the tokenizer has no chat template.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "this tokenizer has no chat template; load the instruction-tuned model with "
            "ecomrec.llm.load_model()"
        )
    messages = [] if system is None else [{"role": "system", "content": system}]
    for question, answer in examples:
        messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    messages.append({"role": "user", "content": user})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text + answer_start


def attribute_lines(item: Mapping[str, object]) -> str:
    """``product: smartphone; brand: Pixon; colour: black; material: glass; price: budget``."""
    missing = [a for a in ATTRIBUTE_LABELS if a not in item]
    if missing:
        raise KeyError(f"the item has no {missing} (needs {list(ATTRIBUTE_LABELS)})")
    return "; ".join(f"{label}: {item[a]}" for a, label in ATTRIBUTE_LABELS.items())


def describe_request(item: Mapping[str, object]) -> str:
    """The user turn that asks for a description of `item` from its attributes."""
    return f"{DESCRIBE_INSTRUCTION}\nAttributes: {attribute_lines(item)}"


def description_prompt(
    tokenizer,
    item: Mapping[str, object],
    examples: Sequence[Mapping[str, object]] = (),
    system: str | None = None,
) -> str:
    """Zero-shot (no `examples`) or few-shot description prompt: each example item (with a
    ``description``) becomes a (request, description) pair before the item's request."""
    shots = [(describe_request(e), str(e[S.DESCRIPTION])) for e in examples]
    return chat(tokenizer, describe_request(item), system=system, examples=shots)


def history_text(titles: Sequence[str]) -> str:
    """A shopper's recent views, oldest first, as numbered lines."""
    if len(titles) == 0:
        raise ValueError("a history needs at least one viewed item")
    return "\n".join(f"{i}. {t}" for i, t in enumerate(titles, start=1))


def next_item_prompt(tokenizer, titles: Sequence[str], system: str | None = None) -> str:
    """Asks which product the shopper views next; the answer is a title (scored, not parsed)."""
    user = (
        "A shopper viewed these products, oldest first:\n"
        f"{history_text(titles)}\n"
        "Which product will they view next? Answer with the product name only."
    )
    return chat(tokenizer, user, system=system)


def listing_prompt(
    tokenizer, titles: Sequence[str], candidates: Sequence[str], system: str | None = None
) -> str:
    """Like :func:`next_item_prompt`, with the candidates listed in the prompt in the order
    given: the order is what a position-bias measurement shuffles."""
    options = "\n".join(f"- {c}" for c in candidates)
    user = (
        "A shopper viewed these products, oldest first:\n"
        f"{history_text(titles)}\n"
        f"Candidates:\n{options}\n"
        "Which candidate will they view next? Answer with the product name only."
    )
    return chat(tokenizer, user, system=system)


def yes_no_prompt(
    tokenizer, titles: Sequence[str], candidate: str, system: str | None = None
) -> str:
    """TALLRec's question (Bao et al. 2023): will this shopper view `candidate` next?
    The answer is read as log p("Yes") - log p("No"). The instruction comes first (every
    prompt shares it) and the candidate last, so the prompts of one shopper's candidates
    share every token before it (scored once, see :func:`ecomrec.llm.scoring.yes_no_scores`)."""
    user = (
        "Will the shopper view the product below next? Answer Yes or No.\n"
        "They viewed, oldest first:\n"
        f"{history_text(titles)}\n"
        f"Product: {candidate}"
    )
    return chat(tokenizer, user, system=system)


def rewrite_prompt(tokenizer, query: str, system: str | None = None) -> str:
    """Asks to turn a shopper's request into a short keyword query for a search engine."""
    user = (
        "Rewrite this shopping request as a short keyword search query "
        "(colour, product, material, brand; no other words).\n"
        f"Request: {query}"
    )
    return chat(tokenizer, user, system=system)
