"""The fixed vocabulary ShopSim draws its catalogue from.

Everything random about the catalogue (which item gets which brand, colour,
price) comes from the seed; the vocabulary itself is fixed here so that every
seed produces a shop of the same shape: 6 departments, 30 categories, 2-3
subcategories each, a brand list per department, and directed complement
links between categories (a phone calls for a case and a charger).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecomrec import schema as S


@dataclass(frozen=True)
class Category:
    name: str
    department: str
    subcategories: tuple[str, ...]
    materials: tuple[str, ...]
    base_price: float  # median price of the category, in euros


DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "electronics": ("Voltra", "Nexio", "Kairo", "Lumen", "Ostra", "Pixon", "Zentek"),
    "fashion": ("Maren", "Ellery", "Bosque", "Tilde", "Corvo", "Saffi", "Nuvo"),
    "home": ("Hearth", "Linnea", "Oakly", "Brisa", "Casona", "Fjord", "Mezzo"),
    "beauty": ("Aurel", "Petalia", "Verde", "Solene", "Ivra", "Calma"),
    "sports": ("Stride", "Peakline", "Vento", "Arka", "Tempo", "Rallye", "Norte"),
    "kids": ("Pipo", "Bumble", "Tiko", "Lolli", "Nido", "Koda"),
}

CATEGORIES: tuple[Category, ...] = (
    # electronics
    Category(
        "phone",
        "electronics",
        ("smartphone", "compact phone", "rugged phone"),
        ("aluminium", "glass", "plastic"),
        420.0,
    ),
    Category(
        "phone case",
        "electronics",
        ("slim case", "wallet case", "bumper case"),
        ("silicone", "leather", "plastic"),
        18.0,
    ),
    Category(
        "charger",
        "electronics",
        ("wall charger", "wireless charger", "car charger"),
        ("plastic", "aluminium"),
        25.0,
    ),
    Category(
        "laptop",
        "electronics",
        ("ultrabook", "gaming laptop", "2-in-1 laptop"),
        ("aluminium", "plastic"),
        900.0,
    ),
    Category(
        "laptop bag",
        "electronics",
        ("laptop sleeve", "laptop backpack"),
        ("nylon", "leather", "canvas"),
        45.0,
    ),
    Category(
        "headphones",
        "electronics",
        ("earbuds", "over-ear headphones", "sports earphones"),
        ("plastic", "aluminium", "leather"),
        80.0,
    ),
    Category(
        "camera",
        "electronics",
        ("mirrorless camera", "action camera", "compact camera"),
        ("aluminium", "plastic"),
        550.0,
    ),
    Category("memory card", "electronics", ("microSD card", "SD card"), ("plastic",), 15.0),
    # fashion
    Category(
        "dress",
        "fashion",
        ("summer dress", "evening dress", "shirt dress"),
        ("cotton", "linen", "silk"),
        60.0,
    ),
    Category(
        "handbag",
        "fashion",
        ("tote bag", "crossbody bag", "clutch"),
        ("leather", "canvas", "suede"),
        75.0,
    ),
    Category(
        "sneakers",
        "fashion",
        ("low-top sneakers", "high-top sneakers", "slip-on sneakers"),
        ("canvas", "leather", "mesh"),
        70.0,
    ),
    Category("socks", "fashion", ("ankle socks", "crew socks"), ("cotton", "wool", "bamboo"), 9.0),
    Category(
        "jacket",
        "fashion",
        ("rain jacket", "denim jacket", "puffer jacket"),
        ("denim", "nylon", "wool"),
        95.0,
    ),
    Category("scarf", "fashion", ("knit scarf", "silk scarf"), ("wool", "silk", "cotton"), 25.0),
    # home
    Category(
        "coffee maker",
        "home",
        ("espresso machine", "drip coffee maker", "french press"),
        ("stainless steel", "glass", "plastic"),
        120.0,
    ),
    Category(
        "mug", "home", ("travel mug", "coffee mug"), ("ceramic", "stainless steel", "glass"), 12.0
    ),
    Category(
        "bedding",
        "home",
        ("duvet cover", "sheet set", "pillowcase set"),
        ("cotton", "linen", "bamboo"),
        55.0,
    ),
    Category("pillow", "home", ("memory foam pillow", "down pillow"), ("cotton", "bamboo"), 30.0),
    Category(
        "lamp",
        "home",
        ("desk lamp", "floor lamp", "bedside lamp"),
        ("metal", "wood", "glass"),
        45.0,
    ),
    Category("light bulb", "home", ("LED bulb", "smart bulb"), ("glass", "plastic"), 8.0),
    # beauty
    Category(
        "face cream",
        "beauty",
        ("day cream", "night cream", "moisturiser"),
        ("glass jar", "tube"),
        28.0,
    ),
    Category("cleanser", "beauty", ("foam cleanser", "cleansing oil"), ("tube", "glass jar"), 16.0),
    Category("perfume", "beauty", ("eau de parfum", "eau de toilette"), ("glass",), 65.0),
    Category(
        "hair dryer",
        "beauty",
        ("travel hair dryer", "ionic hair dryer"),
        ("plastic", "ceramic"),
        50.0,
    ),
    # sports
    Category(
        "running shoes",
        "sports",
        ("road running shoes", "trail running shoes"),
        ("mesh", "knit"),
        110.0,
    ),
    Category(
        "sports socks",
        "sports",
        ("running socks", "compression socks"),
        ("cotton", "nylon", "wool"),
        12.0,
    ),
    Category(
        "yoga mat",
        "sports",
        ("thick yoga mat", "travel yoga mat"),
        ("rubber", "cork", "foam"),
        35.0,
    ),
    Category(
        "water bottle",
        "sports",
        ("insulated bottle", "squeeze bottle"),
        ("stainless steel", "plastic", "glass"),
        18.0,
    ),
    # kids
    Category(
        "building blocks",
        "kids",
        ("starter set", "city set", "vehicle set"),
        ("plastic", "wood"),
        40.0,
    ),
    Category(
        "picture book", "kids", ("board book", "bedtime story book"), ("paper", "cardboard"), 12.0
    ),
)

# Directed complement links: buying the key suggests the listed categories next.
COMPLEMENTS: dict[str, tuple[str, ...]] = {
    "phone": ("phone case", "charger", "headphones"),
    "phone case": ("charger",),
    "laptop": ("laptop bag", "headphones", "charger"),
    "laptop bag": ("laptop",),
    "camera": ("memory card",),
    "memory card": ("camera",),
    "headphones": ("charger",),
    "dress": ("handbag", "scarf"),
    "handbag": ("scarf",),
    "sneakers": ("socks",),
    "jacket": ("scarf",),
    "coffee maker": ("mug",),
    "mug": ("coffee maker",),
    "bedding": ("pillow",),
    "pillow": ("bedding",),
    "lamp": ("light bulb",),
    "face cream": ("cleanser",),
    "cleanser": ("face cream",),
    "running shoes": ("sports socks", "water bottle"),
    "yoga mat": ("water bottle",),
    "building blocks": ("picture book",),
    "picture book": ("building blocks",),
}

COLORS: tuple[str, ...] = (
    "black",
    "white",
    "grey",
    "navy",
    "red",
    "green",
    "beige",
    "pink",
    "blue",
    "yellow",
)

# Synonyms the description grammar and the query generator choose among.
COLOR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "black": ("black", "jet black"),
    "white": ("white", "snow white"),
    "grey": ("grey", "slate grey"),
    "navy": ("navy", "navy blue"),
    "red": ("red", "crimson"),
    "green": ("green", "olive green"),
    "beige": ("beige", "sand"),
    "pink": ("pink", "blush pink"),
    "blue": ("blue", "sky blue"),
    "yellow": ("yellow", "mustard"),
}

TIER_PHRASES: dict[str, tuple[str, ...]] = {
    "budget": ("an affordable", "a budget-friendly", "a great-value"),
    "mid-range": ("a mid-range", "a well-priced", "a solid everyday"),
    "premium": ("a premium", "a high-end", "a luxury"),
}

SEGMENTS: tuple[str, ...] = (
    "tech enthusiast",
    "fashion lover",
    "home maker",
    "beauty fan",
    "athlete",
    "young parent",
)

# Each taste segment leans towards these departments (weights before noise).
SEGMENT_DEPARTMENTS: dict[str, dict[str, float]] = {
    "tech enthusiast": {"electronics": 6.0, "sports": 1.0, "home": 1.0},
    "fashion lover": {"fashion": 6.0, "beauty": 2.0, "home": 0.5},
    "home maker": {"home": 6.0, "kids": 1.0, "beauty": 1.0},
    "beauty fan": {"beauty": 6.0, "fashion": 2.0},
    "athlete": {"sports": 6.0, "electronics": 1.0, "fashion": 1.0},
    "young parent": {"kids": 6.0, "home": 2.0, "fashion": 0.5},
}


def describe_item(item: pd.Series, rng: np.random.Generator) -> tuple[str, str]:
    """Title and grammar-generated description that state the item's attributes.

    The simulator writes every item's text with it; the description lessons and
    assignments call it again (with a fixed `rng`) to see what a correct description
    of an item may say.
    """
    color = COLOR_SYNONYMS[item[S.COLOR]][rng.integers(2)]
    tier = TIER_PHRASES[item[S.PRICE_TIER]][rng.integers(3)]
    sub, brand, material = item[S.SUBCATEGORY], item[S.BRAND], item[S.MATERIAL]
    title = f"{brand} {item[S.COLOR]} {sub}"
    openers = (
        f"{tier.capitalize()} {sub} from {brand}, made of {material} in {color}.",
        f"This {color} {sub} by {brand} is {tier} pick in {material}.",
        f"Meet the {brand} {sub}: {tier} {material} design in {color}.",
    )
    middles = (
        f"A dependable choice in our {item[S.CATEGORY]} range.",
        f"Part of the {item[S.CATEGORY]} collection.",
        "Built for daily use.",
        "Easy to care for and made to last.",
        "",
    )
    closers = ("Ships in two days.", "Free returns within 30 days.", "")
    parts = [openers[rng.integers(len(openers))]]
    parts.append(middles[rng.integers(len(middles))])
    parts.append(closers[rng.integers(len(closers))])
    return title, " ".join(p for p in parts if p)
