"""Attribute accuracy: does a description state the item's attributes, and only those?

ShopSim writes descriptions from a grammar over a fixed vocabulary
(:mod:`ecomrec.datasets.catalogue`): every description names the subcategory, brand,
colour (one of two synonyms), material and price tier (one of three phrases), and may name
the category. Because the vocabulary is closed, a description can be checked exactly:

1. find every attribute phrase in it, scanning left to right and taking the longest phrase
   that matches at each position ("laptop sleeve" is a subcategory, "laptop" alone a
   category; "jet black" is the colour black);
2. the description is **correct** when every *required* attribute (subcategory, brand,
   colour, material, price tier) is stated at least once, and every stated attribute,
   the category included, has the item's value.

Every real ShopSim description is correct under this rule (a test checks all 1,500).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ecomrec import schema as S
from ecomrec.datasets.catalogue import CATEGORIES, COLOR_SYNONYMS, DEPARTMENTS, TIER_PHRASES
from ecomrec.text.tokenizer import tokenize

ATTRIBUTES = (S.CATEGORY, S.SUBCATEGORY, S.BRAND, S.COLOR, S.MATERIAL, S.PRICE_TIER)
REQUIRED = (S.SUBCATEGORY, S.BRAND, S.COLOR, S.MATERIAL, S.PRICE_TIER)


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(token.lower() for token in tokenize(text))


def build_lexicon() -> dict[tuple[str, ...], tuple[str, str]]:
    """Lower-cased token phrase -> (attribute, canonical value), from the catalogue."""
    entries: list[tuple[str, str, str]] = []
    for category in CATEGORIES:
        entries.append((category.name, S.CATEGORY, category.name))
        entries += [(sub, S.SUBCATEGORY, sub) for sub in category.subcategories]
        entries += [(material, S.MATERIAL, material) for material in category.materials]
    entries += [(brand, S.BRAND, brand) for brands in DEPARTMENTS.values() for brand in brands]
    for color, synonyms in COLOR_SYNONYMS.items():
        entries += [(synonym, S.COLOR, color) for synonym in synonyms]
    for tier, phrases in TIER_PHRASES.items():
        # "an affordable" -> "affordable": the article is not part of the attribute
        entries += [(phrase.split(" ", 1)[1], S.PRICE_TIER, tier) for phrase in phrases]
    lexicon: dict[tuple[str, ...], tuple[str, str]] = {}
    for text, attribute, value in entries:
        key = _phrase(text)
        if lexicon.setdefault(key, (attribute, value)) != (attribute, value):
            raise ValueError(f"phrase {text!r} names two attributes: {lexicon[key]}, {attribute}")
    return lexicon


LEXICON = build_lexicon()
_LONGEST = max(len(key) for key in LEXICON)


def find_attributes(tokens: Sequence[str]) -> list[tuple[str, str]]:
    """The (attribute, value) pairs stated in `tokens`, in order, longest match first."""
    lowered = [token.lower() for token in tokens]
    found, i = [], 0
    while i < len(lowered):
        for width in range(min(_LONGEST, len(lowered) - i), 0, -1):
            hit = LEXICON.get(tuple(lowered[i : i + width]))
            if hit is not None:
                found.append(hit)
                i += width
                break
        else:
            i += 1
    return found


def check_attributes(tokens: Sequence[str], item: Mapping[str, str]) -> dict[str, bool]:
    """Per attribute, whether `tokens` state it rightly, plus ``"all"`` (the description is
    correct). A required attribute is right when stated and never stated wrongly; the
    category is right unless a wrong category is stated."""
    stated: dict[str, set[str]] = {}
    for attribute, value in find_attributes(tokens):
        stated.setdefault(attribute, set()).add(value)
    result = {}
    for attribute in ATTRIBUTES:
        values = stated.get(attribute, set())
        truth = str(item[attribute])
        if attribute in REQUIRED:
            result[attribute] = values == {truth}
        else:
            result[attribute] = values <= {truth}
    result["all"] = all(result[a] for a in ATTRIBUTES)
    return result


def attribute_report(samples: Sequence[Sequence[str]], items: pd.DataFrame) -> dict[str, float]:
    """Share of `samples` (tokenized, one per row of `items`) right on each attribute and on
    all of them (``"attribute_accuracy"``)."""
    if len(samples) != len(items):
        raise ValueError(f"{len(samples)} samples for {len(items)} items")
    rows = items[list(ATTRIBUTES)].to_dict("records")
    checks = [check_attributes(s, row) for s, row in zip(samples, rows, strict=True)]
    report = {a: sum(c[a] for c in checks) / len(checks) for a in ATTRIBUTES}
    report["attribute_accuracy"] = sum(c["all"] for c in checks) / len(checks)
    return report


def wrong_statements(tokens: Sequence[str], item: Mapping[str, str]) -> tuple[int, int]:
    """(wrong, stated): how many attribute phrases in `tokens` contradict `item` (a colour,
    brand, material, ... the item does not have), out of all attribute phrases stated."""
    stated = find_attributes(tokens)
    wrong = sum(value != str(item[attribute]) for attribute, value in stated)
    return wrong, len(stated)


def hallucination_rate(samples: Sequence[Sequence[str]], items: pd.DataFrame) -> float:
    """Share of all stated attribute phrases (over `samples`, one per row of `items`) that
    are wrong for their item; 0 when nothing is stated. Omissions are not counted here:
    attribute accuracy counts those."""
    if len(samples) != len(items):
        raise ValueError(f"{len(samples)} samples for {len(items)} items")
    rows = items[list(ATTRIBUTES)].to_dict("records")
    counts = [wrong_statements(s, row) for s, row in zip(samples, rows, strict=True)]
    stated = sum(n for _, n in counts)
    return sum(w for w, _ in counts) / stated if stated else 0.0


def attribute_accuracy(samples: Sequence[Sequence[str]], items: pd.DataFrame) -> float:
    """Share of samples that state every required attribute rightly and nothing wrong."""
    return attribute_report(samples, items)["attribute_accuracy"]
