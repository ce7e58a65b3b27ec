"""Which part of a profile personalizes: inputs, outputs or both, under a context budget
(lesson 01, after Wu et al. 2024)."""
from __future__ import annotations

import numpy as np

from .models import PreferenceModel
from .profiles import (Layout, examples, gather, item_features, recent_indices, source_mask,
                       split_users, tokens_per_item)
from .world import Town

__all__ = ["profile_examples", "train_source_model", "source_comparison", "budget_curve",
           "KS", "BUDGET_ITEMS"]

KS = (1, 2, 4, 8, 16, 24, 32)      # profile items requested in the budget curve
BUDGET_ITEMS = 32                   # the budget, in untruncated outputs


def budget_tokens(town: Town) -> int:
    return BUDGET_ITEMS * tokens_per_item("outputs", town.config.n_dims)


def profile_examples(town: Town, users, source: str, k, n_history: int, layout: Layout,
                     features=None):
    """Examples whose profile is each user's ``k`` most recent items of ``source``, every
    item cut to ``budget // k`` tokens. ``k`` may be an int or one int per user."""
    features = item_features(town) if features is None else features
    k = np.broadcast_to(np.asarray(k), (len(users),))
    items = np.zeros((len(users), layout.n_items, layout.item_dim), dtype=np.float32)
    T, D = town.config.n_topics, town.config.n_dims
    for kk in np.unique(k):  # a handful of distinct k values, not a loop over users
        if kk == 0 or source == "none":
            continue
        rows = np.flatnonzero(k == kk)
        idx = np.broadcast_to(recent_indices(n_history, kk), (len(rows), kk))
        mask = source_mask(source, budget_tokens(town) // kk, T, D)
        items[rows, :kk] = gather(features, users[rows], idx) * mask
    return examples(town, users, items, n_history, layout)


def train_source_model(town: Town, source: str, ks, n_history: int, train, random_state=0,
                       progress=True, epochs: int = 20, features=None) -> PreferenceModel:
    """Train a reader on ``source`` profiles, each training user drawing k from ``ks``."""
    rng = np.random.default_rng(random_state)
    layout = Layout.for_town(town, max(max(ks), 1))
    k = rng.choice(np.asarray(ks), size=len(train))
    X, y = profile_examples(town, train, source, k, n_history, layout, features)
    return PreferenceModel(layout, epochs=epochs, random_state=random_state,
                           progress=progress).fit(X, y)


def _accuracy(model, X, y) -> float:
    return float((model.predict(X) == y).mean())


def source_comparison(town: Town, n_queries: int = 10, random_state: int = 0,
                      progress: bool = True) -> dict:
    """Accuracy on held-out users when each source fills the budget with whole items."""
    n_history = town.topic.shape[1] - n_queries
    train, test = split_users(town.n_users, 0.5, random_state)
    features = item_features(town)
    out = {}
    for source in ("none", "inputs", "outputs", "both"):
        k = 0 if source == "none" else budget_tokens(town) // tokens_per_item(source, town.config.n_dims)
        model = train_source_model(town, source, [k], n_history, train, random_state, progress,
                                   features=features)
        out[source] = _accuracy(model, *profile_examples(town, test, source, k, n_history,
                                                         model.layout, features))
    return out


def budget_curve(town: Town, n_queries: int = 10, random_state: int = 0,
                 progress: bool = True, ks=KS) -> dict:
    """Accuracy against k for outputs-only and complete-pair profiles under the budget."""
    n_history = town.topic.shape[1] - n_queries
    train, test = split_users(town.n_users, 0.5, random_state)
    features = item_features(town)
    curve = {"k": list(ks)}
    for source in ("outputs", "both"):
        model = train_source_model(town, source, ks, n_history, train, random_state, progress,
                                   features=features)
        curve[source] = [_accuracy(model, *profile_examples(town, test, source, k, n_history,
                                                            model.layout, features)) for k in ks]
    return curve
