"""A click model: will this view be clicked? Features from the past only, an MLP, calibration.

Every feature of a view is computed from what happened *before* that view: the user's
earlier views and their outcomes, and every user's earlier views of the item. (In
ShopSim an item's click, cart and purchase always come before the user's next view,
so "the outcome of every earlier view" is known in time.) Computing a rate over the
whole log instead would let the label leak into its own feature.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ecomrec import schema as S

NUMERIC_FEATURES = (
    "user_past_views",
    "user_click_rate",
    "user_purchase_rate",
    "user_category_share",
    "user_brand_share",
    "price_vs_user",
    "log_price",
    "item_past_views",
    "item_click_rate",
    "session_position",
)
"""Numeric inputs of the click model, in the order :func:`click_features` returns them."""

CATEGORICAL_FEATURES = (S.CATEGORY, S.PRICE_TIER)
"""Categorical inputs, embedded by the MLP."""


def _shrunk_rate(hits: np.ndarray, trials: np.ndarray, prior: float, strength: float) -> np.ndarray:
    """(hits + strength * prior) / (trials + strength): a rate that starts at the prior."""
    return (hits + strength * prior) / (trials + strength)


def click_features(
    events: pd.DataFrame, items: pd.DataFrame, strength: float = 5.0
) -> pd.DataFrame:
    """One row per view: past-only user and item features, and the view's outcomes.

    Returns a frame sorted by time with user, item, timestamp, the columns of
    `NUMERIC_FEATURES` and `CATEGORICAL_FEATURES` (category and price tier as integer
    codes), and the labels ``clicked`` and ``purchased`` (0/1). Rates are shrunk
    towards the shop-wide rate so far with `strength` pseudo-views, so a user or item
    with little history gets the average rather than 0 or 1. Views with the same
    timestamp are ordered by user; no feature of a row reads that row's outcome or any
    later row.
    """
    item_info = items.set_index(S.ITEM)
    views = events[events[S.EVENT_TYPE] == "view"][[S.USER, S.ITEM, S.SESSION, S.TIMESTAMP]]
    views = views.sort_values([S.TIMESTAMP, S.USER], kind="stable").reset_index(drop=True)
    for outcome, label in (("click", "clicked"), ("purchase", "purchased")):
        done = events.loc[events[S.EVENT_TYPE] == outcome, [S.USER, S.ITEM]].drop_duplicates()
        done = done.assign(**{label: 1})
        views = views.merge(done, on=[S.USER, S.ITEM], how="left")
        views[label] = views[label].fillna(0).astype(np.int64)
    views[S.CATEGORY] = item_info.loc[views[S.ITEM], S.CATEGORY].to_numpy()
    views[S.BRAND] = item_info.loc[views[S.ITEM], S.BRAND].to_numpy()
    views[S.PRICE_TIER] = item_info.loc[views[S.ITEM], S.PRICE_TIER].astype(str).to_numpy()
    log_price = np.log(item_info.loc[views[S.ITEM], S.PRICE].to_numpy())

    # Cumulative sums minus the row itself = "before this view" (within a group, or shop-wide).
    def before(column: str, by: Sequence[str] | str | None = None) -> np.ndarray:
        values = views[column] if by is None else views.groupby(by, sort=False)[column]
        return (values.cumsum() - views[column]).to_numpy(dtype=np.float64)

    views["_one"] = 1.0
    views["_log_price"] = log_price
    # The shop-wide rates so far (with one pseudo-click and one pseudo-miss), also past-only.
    shop_n = before("_one")
    click_prior = (before("clicked") + 1.0) / (shop_n + 2.0)
    purchase_prior = (before("purchased") + 1.0) / (shop_n + 2.0)
    user_n = before("_one", S.USER)
    features = pd.DataFrame(
        {
            S.USER: views[S.USER],
            S.ITEM: views[S.ITEM],
            S.TIMESTAMP: views[S.TIMESTAMP],
            "user_past_views": np.log1p(user_n),
            "user_click_rate": _shrunk_rate(
                before("clicked", S.USER), user_n, click_prior, strength
            ),
            "user_purchase_rate": _shrunk_rate(
                before("purchased", S.USER), user_n, purchase_prior, strength
            ),
            "user_category_share": before("_one", [S.USER, S.CATEGORY]) / np.maximum(user_n, 1),
            "user_brand_share": before("_one", [S.USER, S.BRAND]) / np.maximum(user_n, 1),
            # this item's log price minus the mean log price the user viewed so far (0 if none)
            "price_vs_user": np.where(
                user_n > 0, log_price - before("_log_price", S.USER) / np.maximum(user_n, 1), 0.0
            ),
            "log_price": log_price,
            "item_past_views": np.log1p(before("_one", S.ITEM)),
            "item_click_rate": _shrunk_rate(
                before("clicked", S.ITEM), before("_one", S.ITEM), click_prior, strength
            ),
            "session_position": np.log1p(before("_one", S.SESSION)),
            S.CATEGORY: pd.factorize(views[S.CATEGORY], sort=True)[0],
            S.PRICE_TIER: views[S.PRICE_TIER].map({t: i for i, t in enumerate(S.PRICE_TIERS)}),
            "clicked": views["clicked"],
            "purchased": views["purchased"],
        }
    )
    return features


class ClickMLP(nn.Module):
    """Embeddings of the categorical features + standardised numeric features -> MLP -> logit.

    ``loss(batch)`` is the binary cross-entropy (log-loss) of a batch
    ``(numeric, categorical, label)``, so the model trains with
    :func:`ecomrec.training.train`. Standardisation statistics come from
    the training rows (:meth:`fit_scaler`), never from the rows evaluated.
    """

    def __init__(
        self,
        n_numeric: int,
        cardinalities: Sequence[int],
        embedding_dim: int = 8,
        hidden: Sequence[int] = (64, 32),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(n, embedding_dim) for n in cardinalities)
        self.register_buffer("mean", torch.zeros(n_numeric))
        self.register_buffer("std", torch.ones(n_numeric))
        layers: list[nn.Module] = []
        width = n_numeric + embedding_dim * len(cardinalities)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def fit_scaler(self, numeric: torch.Tensor) -> ClickMLP:
        """Remember the mean and standard deviation of the training rows' numeric features."""
        self.mean.copy_(numeric.mean(dim=0))
        self.std.copy_(numeric.std(dim=0).clamp(min=1e-6))
        return self

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """Click logits, shape (B,)."""
        parts = [(numeric - self.mean) / self.std]
        parts += [emb(categorical[:, j]) for j, emb in enumerate(self.embeddings)]
        return self.mlp(torch.cat(parts, dim=1)).squeeze(1)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        numeric, categorical, label = batch
        return nn.functional.binary_cross_entropy_with_logits(self(numeric, categorical), label)

    @torch.no_grad()
    def predict_proba(self, numeric: torch.Tensor, categorical: torch.Tensor) -> np.ndarray:
        """Click probabilities (B,) in eval mode."""
        was_training = self.training
        self.eval()
        proba = torch.sigmoid(self(numeric, categorical)).numpy().astype(np.float64)
        self.train(was_training)
        return proba


def click_tensors(
    frame: pd.DataFrame, label: str = "clicked"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tensors (numeric float32, categorical int64, label float32) of a `click_features` frame."""
    return (
        torch.tensor(frame[list(NUMERIC_FEATURES)].to_numpy(dtype=np.float32)),
        torch.tensor(frame[list(CATEGORICAL_FEATURES)].to_numpy(dtype=np.int64)),
        torch.tensor(frame[label].to_numpy(dtype=np.float32)),
    )


def calibration_table(y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against observed rate, in bins of equal count.

    A calibrated model lies on the diagonal: of the views given 0.3, about 30% are clicked.

    Example:
        >>> calibration_table(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.7, 0.9]), n_bins=2)
           predicted  observed  count
        0       0.15       0.5      2
        1       0.80       0.5      2
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    order = np.argsort(y_prob, kind="stable")
    bins = np.array_split(order, n_bins)
    return pd.DataFrame(
        {
            "predicted": [y_prob[b].mean() for b in bins],
            "observed": [y_true[b].mean() for b in bins],
            "count": [len(b) for b in bins],
        }
    )
