"""Episodic vs semantic memory of a user (lesson 01, after PRIME).

Episodic memory recalls raw past interactions: the k most recent, or the k whose queries are
most similar to the current one. Semantic memory abstracts them: a per-topic summary of what
the user chose, or per-user parameters fitted to their whole history with torch.
"""
from __future__ import annotations

import numpy as np
import torch

from .models import PreferenceModel
from . import budget
from .profiles import (Layout, examples, gather, item_features, most_recent, similar_indices,
                       source_mask, split_users, summary_items)
from .world import Town, TownConfig, make_town

__all__ = ["MEMORIES", "LESSON_TOWN", "memory_items", "fit_parametric", "memory_comparison",
           "reproduce"]

#: lesson 01's town: tastes drift half a turn and a quarter over each history
LESSON_TOWN = TownConfig(n_users=2400, n_interactions=110, drift=1.5)
HALF_LIFE = 0.1

MEMORIES = ("episodic_similar", "episodic_recent", "semantic_summary", "semantic_parametric")


def memory_items(town: Town, users: np.ndarray, memory: str, k: int, n_history: int,
                 features=None, half_life: float = HALF_LIFE) -> np.ndarray:
    """Profiles recalled by an episodic or summary memory: (len(users), M, k, item_dim).

    Items show outputs (what the user chose) with their topic, the best source in lesson 01.
    """
    features = item_features(town) if features is None else features
    T, D = town.config.n_topics, town.config.n_dims
    M = town.topic.shape[1] - n_history
    mask = source_mask("outputs", D + 1, T, D)
    if memory == "episodic_recent":
        items = gather(features, users, most_recent(town.time[users, :n_history], k)) * mask
        return np.broadcast_to(items[:, None], (len(users), M) + items.shape[1:])
    if memory == "episodic_similar":
        uu = np.repeat(users, M)
        qq = np.tile(np.arange(n_history, n_history + M), len(users))
        idx = similar_indices(town, uu, qq, n_history, k)
        return (gather(features, uu, idx) * mask).reshape(len(users), M, k, -1)
    if memory == "semantic_summary":
        items = summary_items(town, n_history, k, half_life)[users]
        return np.broadcast_to(items[:, None], (len(users), M) + items.shape[1:])
    raise ValueError(f"memory must be one of {MEMORIES[:3]} (semantic_parametric is fitted "
                     f"with fit_parametric), got {memory!r}")


def fit_parametric(town: Town, users: np.ndarray, n_history: int, population: np.ndarray,
                   l2: float = 1.0, half_life: float = HALF_LIFE, steps: int = 150,
                   random_state: int = 0) -> np.ndarray:
    """Per-user parametric memory: a taste vector per topic, fitted to each user's history.

    Maximizes the recency-weighted log-likelihood of the user's past choices under
    ``P(first) = sigmoid((w_u[t] + population) . (a - b))`` with an L2 penalty ``l2`` on w,
    for all ``users`` at once (one batched optimization, no loop over users).

    Returns:
        (len(users), T, D) float32 taste vectors.
    """
    torch.manual_seed(random_state)
    T, D = town.config.n_topics, town.config.n_dims
    topic = torch.as_tensor(town.topic[users, :n_history])
    diff = torch.as_tensor(town.difference[users, :n_history])
    y = torch.as_tensor(town.choice[users, :n_history], dtype=torch.float32)
    t = torch.as_tensor(town.time[users, :n_history])
    weight = 0.5 ** ((t[:, -1:] - t) / half_life)
    pop = torch.as_tensor(population, dtype=torch.float32)
    w = torch.zeros(len(users), T, D, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.1)
    rows = torch.arange(len(users))[:, None]
    for _ in range(steps):
        logits = ((w[rows, topic] + pop) * diff).sum(-1)
        nll = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        loss = (weight * nll).sum() + l2 * (w ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach().numpy()


def _population(town: Town, users: np.ndarray, n_history: int) -> np.ndarray:
    """The population preference, fitted by logistic regression on the training users."""
    from sklearn.linear_model import LogisticRegression

    X = town.difference[users, :n_history].reshape(-1, town.config.n_dims)
    y = town.choice[users, :n_history].ravel()
    return LogisticRegression(fit_intercept=False, C=10.0).fit(X, y).coef_[0]


def _parametric_accuracy(town, train, test, n_history, half_life, random_state) -> float:
    population = _population(town, train, n_history)
    w = fit_parametric(town, test, n_history, population, half_life=half_life,
                       random_state=random_state)
    topic = town.topic[test, n_history:]
    rows = np.arange(len(test))[:, None]
    logits = ((w[rows, topic] + population) * town.difference[test, n_history:]).sum(-1)
    return float(((logits > 0) == (town.choice[test, n_history:] == 1)).mean())


def memory_comparison(town: Town, k: int = 8, n_queries: int = 10, half_life: float = HALF_LIFE,
                      random_state: int = 0, progress: bool = True, memories=MEMORIES) -> dict:
    """Accuracy on held-out users of each of ``memories`` (default: all), each recalled
    memory with a reader trained on it."""
    unknown = set(memories) - set(MEMORIES)
    if unknown:
        raise ValueError(f"memories must be among {MEMORIES}, got {sorted(unknown)}")
    n_history = town.topic.shape[1] - n_queries
    train, test = split_users(town.n_users, 0.5, random_state)
    features = item_features(town)
    layout = Layout.for_town(town, k)
    out = {}
    for memory in [m for m in MEMORIES[:3] if m in memories]:
        X, y = examples(town, train, memory_items(town, train, memory, k, n_history, features,
                                                  half_life), n_history, layout)
        model = PreferenceModel(layout, random_state=random_state, progress=progress).fit(X, y)
        X, y = examples(town, test, memory_items(town, test, memory, k, n_history, features,
                                                 half_life), n_history, layout)
        out[memory] = float((model.predict(X) == y).mean())
    if "semantic_parametric" in memories:
        out["semantic_parametric"] = _parametric_accuracy(town, train, test, n_history,
                                                          half_life, random_state)
    return out


def reproduce(seed: int = 0, progress: bool = False) -> dict:
    """Lesson 01's headline: profile sources under a budget, memories with and without drift,
    and profile sources of Beer Stack Exchange's real users (``{"skipped": reason}`` without
    the data)."""
    from dataclasses import replace

    from .datasets import or_skip

    town = make_town(replace(LESSON_TOWN, seed=seed))
    still = make_town(replace(LESSON_TOWN, seed=seed, drift=0.0))
    return {
        "profile_source": budget.source_comparison(town, random_state=seed, progress=progress),
        "budget_curve": budget.budget_curve(town, random_state=seed, progress=progress),
        "memory": memory_comparison(town, random_state=seed, progress=progress),
        "memory_no_drift": memory_comparison(still, random_state=seed, progress=progress),
        "real_data": or_skip(budget.real_users, seed),
    }
