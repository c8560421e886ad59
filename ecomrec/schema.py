"""Column names and value sets shared by every table of the course.

One module holds them so that a lesson, a baseline and a test never spell a
column two ways (the `recommenders` library does the same with its
constants module).
"""

import pandas as pd

# Identifiers: users and items are numbered 0..n-1 so they index arrays directly.
USER = "user_id"
ITEM = "item_id"
SESSION = "session_id"
TIMESTAMP = "timestamp"  # pandas datetime64[ns] after loading
EVENT_TYPE = "event_type"
RATING = "rating"  # explicit ratings (MovieLens: 1-5 stars); ShopSim has none

# The purchase funnel, in order. Every interaction starts with a view of one item.
EVENT_TYPES = ("view", "click", "cart", "purchase")

# items table
CATEGORY = "category"
SUBCATEGORY = "subcategory"
BRAND = "brand"
COLOR = "color"
MATERIAL = "material"
PRICE = "price"
PRICE_TIER = "price_tier"
PRICE_TIERS = ("budget", "mid-range", "premium")
TITLE = "title"
DESCRIPTION = "description"

# users table
AGE = "age"
GENDER = "gender"
CITY_TIER = "city_tier"
SIGNUP_DATE = "signup_date"

# queries table
QUERY_ID = "query_id"
QUERY = "query"
CLICKED_ITEM = "clicked_item_id"

# friendships table (undirected: user_a < user_b)
USER_A = "user_a"
USER_B = "user_b"
CREATED_AT = "created_at"

# ShopSim's time origin: the first moment of the simulated period. Users signed up and
# friendships formed before it; every event happens after it.
SIMULATION_START = pd.Timestamp("2026-01-01")
