"""Similarity between user profiles (taught in lesson 00, reused by lesson 02)."""
from __future__ import annotations

import numpy as np

from .checks import twin

__all__ = ["cosine_similarity_matrix", "nearest_neighbour", "reproduce"]


def _as_matrix(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (users x features), got shape {X.shape}")
    return X


@twin
def cosine_similarity_matrix(X) -> np.ndarray:
    """Cosine similarity between every pair of rows.

    Args:
        X: (U, F) array, one profile vector per user.

    Returns:
        (U, U) array ``S`` with ``S[i, j] = x_i . x_j / (|x_i| |x_j|)``; a row of zeros has
        similarity 0 to everyone (no division by zero).
    """
    X = _as_matrix(X)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    unit = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    return unit @ unit.T


@twin
def nearest_neighbour(S) -> np.ndarray:
    """Index of each user's most similar *other* user.

    Args:
        S: (U, U) similarity matrix.

    Returns:
        (U,) int array; ties go to the lower index.
    """
    S = _as_matrix(S, "S")
    if S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be square (users x users), got shape {S.shape}")
    masked = S.copy()
    np.fill_diagonal(masked, -np.inf)
    return masked.argmax(axis=1)


def reproduce(seed: int = 0, n_users: int = 300) -> dict:
    """Lesson 00: each user's nearest neighbour by topic usage, and whether it is a neighbour
    from the same community (the coarse grouping that topic usage reveals)."""
    from .world import make_town, topic_usage

    town = make_town(n_users=n_users, n_interactions=60, seed=seed)
    S = cosine_similarity_matrix(topic_usage(town))
    nn = nearest_neighbour(S)
    rows = range(min(10, n_users))
    return {
        "users": n_users,
        "same_community_rate": float((town.community[nn] == town.community).mean()),
        "mean_nearest_similarity": float(S[range(n_users), nn].mean()),
        "table": [{"user": i, "nearest": int(nn[i]), "similarity": round(float(S[i, nn[i]]), 4),
                   "same_community": bool(town.community[i] == town.community[nn[i]])}
                  for i in rows],
    }
