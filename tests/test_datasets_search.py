"""ShopSim search (`ecomrec.datasets.search`): query types, shares, determinism, ESCI labels,
the click model and integrity errors of the query files."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from ecomrec import schema as S
from ecomrec.datasets import SHIPPED_DIR, DatasetError, load_shopsim
from ecomrec.datasets.search import (
    CATEGORY_SYNONYMS,
    ESCI_LABELS,
    INTENT_COLUMNS,
    NEED_PHRASES,
    QUERY_TYPE,
    QUERY_TYPE_SHARES,
    QUERY_TYPES,
    esci_gains,
    esci_labels,
    make_queries,
    make_typo,
    search_click_probabilities,
)

E, SUB, C, IRR = range(4)


@pytest.fixture(scope="module")
def data():
    return load_shopsim()


@pytest.fixture(scope="module")
def intents(data):
    return data.load_query_truth()


@pytest.fixture(scope="module")
def labels(data, intents):
    return esci_labels(intents, data.items)


def test_every_category_has_need_phrases_and_synonyms():
    from ecomrec.datasets.catalogue import CATEGORIES

    names = {c.name for c in CATEGORIES}
    assert set(NEED_PHRASES) == names and set(CATEGORY_SYNONYMS) == names
    assert all(len(p) >= 4 for p in NEED_PHRASES.values())
    assert all(len(s) >= 2 for s in CATEGORY_SYNONYMS.values())


def test_query_types_and_their_shares(data):
    q = data.queries
    assert list(q.columns) == [S.QUERY_ID, S.USER, S.TIMESTAMP, S.QUERY, QUERY_TYPE, S.CLICKED_ITEM]
    assert set(q[QUERY_TYPE]) == set(QUERY_TYPES)
    shares = q[QUERY_TYPE].value_counts(normalize=True)
    for kind, share in zip(QUERY_TYPES, QUERY_TYPE_SHARES, strict=True):
        assert shares[kind] == pytest.approx(share, abs=0.03), kind
    assert 0.28 < shares["natural"] < 0.39, "about a third of queries are natural-language"
    assert (q[S.QUERY].str.len() > 0).all() and (q[S.QUERY] == q[S.QUERY].str.lower()).all()


def test_each_type_is_written_as_described(data, intents):
    q = data.queries.merge(intents, on=S.QUERY_ID)
    kw = q[q[QUERY_TYPE] == "keyword"]
    assert all(s.lower() in t for s, t in zip(kw[S.SUBCATEGORY], kw[S.QUERY], strict=True))
    nat = q[q[QUERY_TYPE] == "natural"]
    starts = [
        any(t.startswith(p) for p in NEED_PHRASES[c])
        for c, t in zip(nat[S.CATEGORY], nat[S.QUERY], strict=True)
    ]
    assert all(starts), "every natural query starts with one of its category's need phrases"
    syn = q[q[QUERY_TYPE] == "synonym"]
    # no synonym query states its subcategory correctly: it uses a synonym or carries a typo
    pairs = zip(syn[S.SUBCATEGORY], syn[S.QUERY], strict=True)
    assert not any(f" {s.lower()} " in f" {t} " for s, t in pairs if s)


def test_natural_queries_share_few_words_with_the_listing(data):
    q = data.queries.merge(data.items, left_on=S.CLICKED_ITEM, right_on=S.ITEM)

    def content(text):  # words that carry meaning: no short function words
        return {w.strip(".,:") for w in text.lower().split() if len(w) > 3} - {"that", "with"}

    def overlap(rows):
        pairs = zip(rows[S.QUERY], rows[S.TITLE] + " " + rows[S.DESCRIPTION], strict=True)
        return np.mean([len(content(a) & content(b)) for a, b in pairs])

    kinds = {k: overlap(q[q[QUERY_TYPE] == k]) for k in QUERY_TYPES}
    assert kinds["natural"] < 0.5 * kinds["keyword"], kinds


def test_queries_are_deterministic_and_from_their_own_stream(data):
    from ecomrec.datasets.shopsim import load_truth

    truth = load_truth(verify_files=False)
    sample = data.events[data.events[S.SESSION] < 3000]
    a = make_queries(sample, data.items, truth, seed=7, query_share=0.3)
    b = make_queries(sample, data.items, truth, seed=7, query_share=0.3)
    c = make_queries(sample, data.items, truth, seed=8, query_share=0.3)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert not a[0][S.QUERY].equals(c[0][S.QUERY])
    # the numpy global state and any caller's generator are never touched
    rng = np.random.default_rng(1)
    before = rng.bit_generator.state
    make_queries(sample, data.items, truth, seed=7, query_share=0.3)
    assert rng.bit_generator.state == before


def test_make_typo_is_one_small_edit():
    rng = np.random.default_rng(0)
    for word in ["charger", "sneakers", "lightbulb", "mug", "coffee", "fee"] * 20:
        typo = make_typo(word, rng)
        if len(word) < 4:
            assert typo == word
        else:
            assert typo != word and abs(len(typo) - len(word)) <= 1 and typo[0] == word[0]


# ---------------------------------------------------------------------------- ESCI
@pytest.fixture
def tiny_items():
    rows = [
        ("phone case", "slim case", "black", "Voltra", "silicone", "budget"),
        ("phone case", "slim case", "red", "Voltra", "silicone", "budget"),
        ("phone case", "wallet case", "black", "Nexio", "leather", "premium"),
        ("charger", "wall charger", "black", "Voltra", "plastic", "budget"),
        ("mug", "travel mug", "black", "Hearth", "ceramic", "budget"),
        ("phone", "smartphone", "black", "Voltra", "glass", "premium"),
    ]
    return pd.DataFrame(rows, columns=list(INTENT_COLUMNS))


def _intent(**kw):
    row = dict.fromkeys(INTENT_COLUMNS, "")
    row.update(kw)
    return pd.DataFrame([row])


def test_esci_hand_made_cases(tiny_items):
    # "black slim case": category phone case, subcategory and colour intended
    got = esci_labels(
        _intent(category="phone case", subcategory="slim case", color="black"), tiny_items
    )
    # exact; red differs (S); wallet case differs (S); charger complements phone case (C);
    # a mug is irrelevant; a phone is not a complement *of a case* (links are directed)
    assert got.tolist() == [[E, SUB, SUB, C, IRR, IRR]]
    # a need query intends only the category: every case is exact
    got = esci_labels(_intent(category="phone case"), tiny_items)
    assert got.tolist() == [[E, E, E, C, IRR, IRR]]
    # searching for a phone: cases and chargers are complements, the phone is exact
    got = esci_labels(_intent(category="phone", brand="Voltra"), tiny_items)
    assert got.tolist() == [[C, C, C, C, IRR, E]]
    # a price intent: only the budget case is exact
    got = esci_labels(_intent(category="phone case", price_tier="premium"), tiny_items)
    assert got.tolist() == [[SUB, SUB, E, C, IRR, IRR]]


def test_esci_gains_are_the_kdd_cup_ones():
    assert esci_gains(np.array([E, SUB, C, IRR])).tolist() == [1.0, 0.1, 0.01, 0.0]
    assert ESCI_LABELS == ("E", "S", "C", "I")


def test_esci_labels_reject_bad_intents(tiny_items):
    with pytest.raises(ValueError, match="lacks the columns"):
        esci_labels(pd.DataFrame({"category": ["mug"]}), tiny_items)
    with pytest.raises(ValueError, match="unknown intended categories"):
        esci_labels(_intent(category="spaceship"), tiny_items)


def test_every_query_has_exact_items_and_clicks_a_matching_one(data, labels):
    assert (labels == E).any(axis=1).all()
    clicked = labels[np.arange(len(labels)), data.queries[S.CLICKED_ITEM].to_numpy()]
    assert set(np.unique(clicked)) <= {E, SUB}
    assert (clicked == E).mean() > 0.8  # about 85%; the rest are substitutes


# ---------------------------------------------------------------- the click model
def test_click_probabilities_follow_the_searchers_taste(data, intents, labels):
    truth = data.load_truth()
    users = data.queries[S.USER].to_numpy()
    probs = search_click_probabilities(truth, users[:500], labels[:500])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs[labels[:500] >= C] == 0).all()
    # without a brand in the query, the clicked item is the user's favourite brand far more often
    # than the exact matches are on average: brand loyalty decides which match is clicked
    no_brand = np.flatnonzero(intents[S.BRAND].to_numpy() == "")
    fav_share, base_share = [], []
    clicked = data.queries[S.CLICKED_ITEM].to_numpy()
    for q in no_brand[:2000]:
        fav = truth.brand_weight(int(users[q])) > 1.0
        fav_share.append(fav[clicked[q]])
        base_share.append(fav[labels[q] == E].mean())
    assert np.mean(fav_share) > 1.5 * np.mean(base_share)


def test_the_search_oracle_beats_popularity_on_the_clicked_item(data, labels):
    truth = data.load_truth()
    n = 2000
    users = data.queries[S.USER].to_numpy()[:n]
    clicked = data.queries[S.CLICKED_ITEM].to_numpy()[:n]
    oracle = search_click_probabilities(truth, users, labels[:n])
    popular = (labels[:n] == E) * truth.popularity  # non-personal: exact matches by popularity

    def mrr(scores):
        own = scores[np.arange(n), clicked]
        return np.mean(1.0 / (1 + (scores > own[:, None]).sum(axis=1)))

    assert mrr(oracle) > 1.1 * mrr(popular)


# ---------------------------------------------------------------------- integrity
def test_altered_query_truth_is_caught(tmp_path):
    dst = tmp_path / "shopsim"
    shutil.copytree(SHIPPED_DIR, dst)
    path = dst / "truth" / "query_truth.csv.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="query_truth.csv.gz.*truncated"):
        load_shopsim(dst)


def test_missing_query_truth_says_how_to_restore(tmp_path):
    dst = tmp_path / "shopsim"
    shutil.copytree(SHIPPED_DIR, dst)
    (dst / "truth" / "query_truth.csv.gz").unlink()
    data = load_shopsim(dst, verify_files=False)
    with pytest.raises(DatasetError, match="query_truth.csv.gz is missing.*regenerate"):
        data.load_query_truth()
