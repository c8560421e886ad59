"""ShopSim search: queries of three kinds, graded ESCI relevance and the search click model.

Some sessions start with a search. The searcher has an *intent*: the category of the
session's first item, and some of that item's attributes (subcategory, colour, brand,
material, price tier). The query is written from the intent in one of three ways
(`query_type`):

* ``keyword``: attribute words as a shopper types them ("navy blue voltra slim case");
* ``natural``: a need in the shopper's own words, from phrases written per category that
  share few words with the listings ("something to protect my new phone");
* ``synonym``: a category synonym ("cellphone", "trainers") and often a typo.

Every (query, item) pair gets an ESCI label (Amazon Shopping Queries, Reddy et al. 2022):
Exact (the item's category is the intended one and every intended attribute matches),
Substitute (intended category, an intended attribute differs), Complement (a category that
goes with the intended one, `catalogue.COMPLEMENTS`), Irrelevant (the rest).

Which result the searcher clicks follows the same truth as the recommendation lessons: the
chance of clicking an item is proportional to its ESCI click weight (Exact 1, Substitute
0.02, else 0) times the user's price-tier preference, favourite-brand boost and the square
root of the item's popularity. The search oracle ranks by exactly this probability.

The queries come from their own random stream (seeded with the shop's seed and
`QUERY_STREAM`), so changing them never moves any other ShopSim file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.datasets.catalogue import CATEGORIES, COLOR_SYNONYMS, COMPLEMENTS
from ecomrec.datasets.truth import ShopSimTruth

QUERY_STREAM = 6  # second entropy word of the queries' seed sequence (lesson 06)
QUERY_TYPE = "query_type"
QUERY_TYPES = ("keyword", "natural", "synonym")
QUERY_TYPE_SHARES = (0.40, 0.34, 0.26)  # about a third natural-language
# the attributes a query may intend, in the order of the query-truth table's columns
INTENT_COLUMNS = (S.CATEGORY, S.SUBCATEGORY, S.COLOR, S.BRAND, S.MATERIAL, S.PRICE_TIER)
ESCI_LABELS = ("E", "S", "C", "I")
# nDCG gains of the KDD Cup 2022 (Amazon Shopping Queries, task 1)
ESCI_GAINS = {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}

# How shoppers state a need without naming the product. Written for ShopSim; each
# category has four, most of which share no word with its listings.
NEED_PHRASES: dict[str, tuple[str, ...]] = {
    "phone": (
        "something to call and text my family",
        "a new mobile to replace my broken one",
        "a pocket device for maps messages and photos",
        "an upgrade for my old handset",
    ),
    "phone case": (
        "something to protect my new phone",
        "a cover so my mobile survives drops",
        "keep my handset safe from scratches",
        "a shell for my smartphone that also holds cards",
    ),
    "charger": (
        "my battery always dies and i need to power up",
        "something to top up my devices overnight",
        "a spare power supply for the car",
        "juice for my gadgets when they run flat",
    ),
    "laptop": (
        "a computer for working from home",
        "something portable to write my thesis on",
        "a machine for video games and coding",
        "a portable computer for university",
    ),
    "laptop bag": (
        "a way to carry my computer to the office",
        "protect my notebook computer on the commute",
        "something to carry my work computer and papers",
        "padded carrier for a 14 inch computer",
    ),
    "headphones": (
        "something to listen to music on the train",
        "block out noise in the office",
        "wireless audio for podcasts while i work out",
        "a gift for someone who loves music",
    ),
    "camera": (
        "something to take photos on holiday",
        "capture my kids football matches",
        "record my bike rides and dives",
        "a gift for someone getting into photography",
    ),
    "memory card": (
        "more storage for my photos",
        "extra space for videos on my drone",
        "my device is full and i need room for pictures",
        "storage for a trail cam",
    ),
    "dress": (
        "something to wear to a wedding",
        "an outfit for a summer party",
        "what to wear on a date night",
        "a light frock for warm days",
    ),
    "handbag": (
        "something to carry my essentials when i go out",
        "a gift for my wife who loves accessories",
        "a purse for work that fits a notebook",
        "somewhere to keep my keys and wallet on a night out",
    ),
    "sneakers": (
        "comfortable shoes for walking around the city",
        "casual footwear to wear with jeans",
        "kicks for the weekend",
        "everyday shoes that go with everything",
    ),
    "socks": (
        "keep my feet warm in winter",
        "something soft for my feet around the house",
        "a stocking filler for my dad",
        "warm socks for winter hikes",
    ),
    "jacket": (
        "something to keep me dry in the rain",
        "an outer layer for chilly autumn evenings",
        "a warm coat for the winter commute",
        "a layer to throw on over a t-shirt",
    ),
    "scarf": (
        "something to keep my neck warm",
        "an accessory to brighten up my winter coat",
        "a soft wrap for cold mornings",
        "a gift for my grandmother who is always cold",
    ),
    "coffee maker": (
        "a gift for someone who loves coffee",
        "make cafe style espresso at home",
        "something to brew my morning cup",
        "stop buying takeaway lattes",
    ),
    "mug": (
        "something to drink my tea from at the office",
        "keep my drink hot on the commute",
        "a cup for my morning brew",
        "a present for a coworker who loves tea",
    ),
    "bedding": (
        "make my bed feel like a hotel",
        "fresh covers for the guest room",
        "something cool to sleep under in summer",
        "new sheets for a double bed",
    ),
    "pillow": (
        "i wake up with a stiff neck",
        "something soft to rest my head on",
        "better support for side sleepers",
        "help me sleep better at night",
    ),
    "lamp": (
        "light for reading in bed",
        "brighten a dark corner of the living room",
        "something to light my workspace",
        "a warm glow for the bedroom",
    ),
    "light bulb": (
        "replace the dead one in my hallway ceiling",
        "something to make my room brighter",
        "energy saving lighting for the kitchen",
        "lighting i can control from my phone",
    ),
    "face cream": (
        "my skin feels dry and tight",
        "something to keep my skin soft in winter",
        "hydration for my face before bed",
        "help with fine lines around my eyes",
    ),
    "cleanser": (
        "something to remove my makeup at night",
        "wash away oil and dirt from my face",
        "a gentle face wash for sensitive skin",
        "clear up my skin in the morning",
    ),
    "perfume": (
        "a gift for someone who loves nice scents",
        "smell nice for a night out",
        "a signature fragrance for my wife",
        "a fresh scent for the office",
    ),
    "hair dryer": (
        "dry my hair quickly in the morning",
        "something to blow dry my hair when travelling",
        "a salon blow out at home",
        "less frizz after washing my hair",
    ),
    "running shoes": (
        "shoes for my first marathon",
        "something to jog in on the trails",
        "footwear for training for a 10k",
        "cushioned shoes for daily jogging",
    ),
    "sports socks": (
        "stop blisters on long runs",
        "something for my feet during marathon training",
        "support for my calves on long runs",
        "sweat wicking foot wear for the gym",
    ),
    "yoga mat": (
        "a non slip surface for stretching",
        "cushioning for pilates on the floor",
        "somewhere soft to do my floor exercises",
        "a gift for someone who just started yoga",
    ),
    "water bottle": (
        "stay hydrated at the gym",
        "something to carry drinks on a hike",
        "keep my water cold all day",
        "a reusable way to carry drinks to school",
    ),
    "building blocks": (
        "a toy that lets my son build things",
        "a creative gift for a six year old",
        "something to keep the kids busy on a rainy day",
        "construction toys for a curious child",
    ),
    "picture book": (
        "something to read to my toddler at bedtime",
        "a first story for a baby",
        "a gift for a child learning to read",
        "illustrated stories for a three year old",
    ),
}

# Other names shoppers use for each category.
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "phone": ("cellphone", "mobile phone", "handset"),
    "phone case": ("phone cover", "mobile case"),
    "charger": ("power adapter", "charging cable"),
    "laptop": ("notebook computer", "notebook pc"),
    "laptop bag": ("computer bag", "laptop case"),
    "headphones": ("headset", "earphones"),
    "camera": ("digicam", "photo camera"),
    "memory card": ("storage card", "flash card"),
    "dress": ("frock", "gown"),
    "handbag": ("purse", "shoulder bag"),
    "sneakers": ("trainers", "kicks"),
    "socks": ("hosiery", "stockings"),
    "jacket": ("coat", "anorak"),
    "scarf": ("shawl", "muffler"),
    "coffee maker": ("coffee machine", "espresso maker"),
    "mug": ("cup", "tumbler"),
    "bedding": ("bed linen", "duvet set"),
    "pillow": ("cushion", "head rest"),
    "lamp": ("light fixture", "lantern"),
    "light bulb": ("lightbulb", "bulb"),
    "face cream": ("face lotion", "moisturizer"),
    "cleanser": ("face wash", "facial wash"),
    "perfume": ("fragrance", "cologne"),
    "hair dryer": ("blow dryer", "hairdryer"),
    "running shoes": ("jogging shoes", "runners"),
    "sports socks": ("athletic socks", "gym socks"),
    "yoga mat": ("exercise mat", "pilates mat"),
    "water bottle": ("drinks bottle", "flask"),
    "building blocks": ("construction toy", "toy bricks"),
    "picture book": ("storybook", "kids book"),
}

_BUDGET_WORDS = ("on a budget", "that is cheap", "for not much money")


@dataclass(frozen=True)
class SearchClickParams:
    """Weight of an item in the click model by its ESCI label (the rest is the user's taste)."""

    exact: float = 1.0
    substitute: float = 0.02
    # a searcher picks among results by taste more than by what everyone views: popularity
    # enters as its square root (browsing, in the recommendation lessons, uses it whole)
    popularity_power: float = 0.5


def make_typo(word: str, rng: np.random.Generator) -> str:
    """One slip of the keyboard in a word of 4+ letters: swap, drop or double a letter
    (never the first); the result always differs from the word."""
    if len(word) < 4:
        return word
    j = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(3))
    if kind == 0 and word[j] != word[j + 1]:  # swapping equal letters would change nothing
        return word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    if kind <= 1:
        return word[:j] + word[j + 1 :]
    return word[:j] + word[j] + word[j:]


def _intent_and_text(item: pd.Series, kind: str, rng: np.random.Generator) -> tuple[dict, str]:
    """The intended attributes and the query text for one search (all draws from `rng`)."""
    cat = item[S.CATEGORY]
    intent = dict.fromkeys(INTENT_COLUMNS, "")
    intent[S.CATEGORY] = cat
    color_word = COLOR_SYNONYMS[item[S.COLOR]][rng.integers(2)]
    if kind == "keyword":
        intent[S.SUBCATEGORY] = item[S.SUBCATEGORY]
        words = [item[S.SUBCATEGORY]]
        if rng.random() < 0.6:
            words.insert(0, color_word)
            intent[S.COLOR] = item[S.COLOR]
        if rng.random() < 0.35:
            words.insert(0, item[S.BRAND])
            intent[S.BRAND] = item[S.BRAND]
        if rng.random() < 0.3:
            words.append(item[S.MATERIAL])
            intent[S.MATERIAL] = item[S.MATERIAL]
        if rng.random() < 0.15 and item[S.PRICE_TIER] != "mid-range":
            words.append("cheap" if item[S.PRICE_TIER] == "budget" else "best")
            intent[S.PRICE_TIER] = item[S.PRICE_TIER]
        return intent, " ".join(words).lower()
    if kind == "natural":
        phrases = NEED_PHRASES[cat]
        text = phrases[rng.integers(len(phrases))]
        if rng.random() < 0.3:
            text += f" in {color_word}"
            intent[S.COLOR] = item[S.COLOR]
        if rng.random() < 0.15 and item[S.PRICE_TIER] == "budget":
            text += " " + _BUDGET_WORDS[rng.integers(len(_BUDGET_WORDS))]
            intent[S.PRICE_TIER] = "budget"
        return intent, text
    # synonym: another name for the category, or the subcategory with a typo in its name
    use_synonym = rng.random() < 0.75
    if use_synonym:
        names = CATEGORY_SYNONYMS[cat]
        words = names[rng.integers(len(names))].split()
    else:
        words = item[S.SUBCATEGORY].lower().split()
        intent[S.SUBCATEGORY] = item[S.SUBCATEGORY]
    if not use_synonym or rng.random() < 0.5:
        long_words = [k for k, w in enumerate(words) if len(w) >= 4]
        if long_words:
            k = long_words[rng.integers(len(long_words))]
            words[k] = make_typo(words[k], rng)
    if rng.random() < 0.5:
        words.insert(0, color_word)
        intent[S.COLOR] = item[S.COLOR]
    if rng.random() < 0.25:
        words.insert(0, item[S.BRAND].lower())
        intent[S.BRAND] = item[S.BRAND]
    return intent, " ".join(words).lower()


# --------------------------------------------------------------------------- relevance
def _intent_frame(intents: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in INTENT_COLUMNS if c not in intents.columns]
    if missing:
        raise ValueError(
            f"the intents table lacks the columns {missing}; it needs {list(INTENT_COLUMNS)} "
            "(load it with ShopSim.load_query_truth())"
        )
    unknown = set(intents[S.CATEGORY]) - {c.name for c in CATEGORIES}
    if unknown:
        raise ValueError(
            f"unknown intended categories {sorted(unknown)}: every query intends one of the "
            "30 ShopSim categories"
        )
    return intents[list(INTENT_COLUMNS)].fillna("").astype(str)


def esci_labels(intents: pd.DataFrame, items: pd.DataFrame) -> np.ndarray:
    """ESCI label index (0 E, 1 S, 2 C, 3 I; see `ESCI_LABELS`) of every (query, item) pair.

    intents: one row per query with the columns `INTENT_COLUMNS` ("" = not intended), such
    as `ShopSim.load_query_truth()`; items: the ShopSim items table. Returns an int8 array
    of shape (len(intents), len(items)).
    """
    intents = _intent_frame(intents)
    item_cols = {c: items[c].astype(str).to_numpy() for c in INTENT_COLUMNS}
    labels = np.full((len(intents), len(items)), 3, dtype=np.int8)
    # queries with the same intent share a row of labels: compute each distinct intent once
    keys = pd.MultiIndex.from_frame(intents)
    codes, uniques = pd.factorize(keys)
    for u, key in enumerate(uniques):
        want = dict(zip(INTENT_COLUMNS, key, strict=True))
        in_cat = item_cols[S.CATEGORY] == want[S.CATEGORY]
        matches = in_cat.copy()
        for col in INTENT_COLUMNS[1:]:
            if want[col]:
                matches &= item_cols[col] == want[col]
        comp = np.isin(item_cols[S.CATEGORY], COMPLEMENTS.get(want[S.CATEGORY], ()))
        row = np.full(len(items), 3, dtype=np.int8)
        row[comp] = 2
        row[in_cat] = 1
        row[matches] = 0
        labels[codes == u] = row
    return labels


def esci_gains(labels: np.ndarray) -> np.ndarray:
    """The KDD Cup 2022 gain (E 1, S 0.1, C 0.01, I 0) of each label index."""
    table = np.array([ESCI_GAINS[k] for k in ESCI_LABELS])
    return table[np.asarray(labels)]


def search_click_probabilities(
    truth: ShopSimTruth,
    users: np.ndarray,
    labels: np.ndarray,
    params: SearchClickParams | None = None,
) -> np.ndarray:
    """True probability that each searcher clicks each item (rows sum to 1).

    users: the searcher of each query; labels: `esci_labels` of the same queries. The
    search oracle ranks by these probabilities; the simulator draws the clicks from them.
    """
    params = params or SearchClickParams()
    users = np.asarray(users, dtype=np.int64)
    weight = np.zeros(len(ESCI_LABELS))
    weight[0], weight[1] = params.exact, params.substitute
    out = weight[np.asarray(labels)] * truth.popularity**params.popularity_power
    for row, u in enumerate(users):
        out[row] *= truth.tier_preference(int(u))[truth.item_tier] * truth.brand_weight(int(u))
    return out / out.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- generation
def make_queries(
    events: pd.DataFrame,
    items: pd.DataFrame,
    truth: ShopSimTruth,
    seed: int,
    query_share: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The queries table and its evaluation-only truth (intended attributes per query).

    About `query_share` of sessions start with a search, a few seconds before their first
    view; the intent comes from that first item, the click from the click model.
    """
    rng = np.random.default_rng([seed, QUERY_STREAM])
    views = events[events[S.EVENT_TYPE] == "view"]
    firsts = views.groupby(S.SESSION, sort=True).head(1)
    chosen = firsts[rng.random(len(firsts)) < query_share]
    kinds = rng.choice(len(QUERY_TYPES), p=QUERY_TYPE_SHARES, size=len(chosen))
    intents, texts, times = [], [], []
    for row, kind in zip(chosen.itertuples(index=False), kinds, strict=True):
        intent, text = _intent_and_text(items.iloc[getattr(row, S.ITEM)], QUERY_TYPES[kind], rng)
        intents.append(intent)
        texts.append(text)
        times.append(
            pd.Timestamp(getattr(row, S.TIMESTAMP)) - pd.Timedelta(seconds=int(rng.integers(3, 30)))
        )
    intents = pd.DataFrame(intents, columns=list(INTENT_COLUMNS))
    users = chosen[S.USER].to_numpy()
    probs = search_click_probabilities(truth, users, esci_labels(intents, items))
    draws = rng.random(len(chosen))
    clicked = np.minimum((probs.cumsum(axis=1) < draws[:, None]).sum(axis=1), len(items) - 1)
    qids = np.arange(len(chosen))
    queries = pd.DataFrame(
        {
            S.QUERY_ID: qids,
            S.USER: users,
            S.TIMESTAMP: [t.strftime("%Y-%m-%dT%H:%M:%S") for t in times],
            S.QUERY: texts,
            QUERY_TYPE: [QUERY_TYPES[k] for k in kinds],
            S.CLICKED_ITEM: clicked,
        }
    )
    intents.insert(0, S.QUERY_ID, qids)
    return queries, intents
