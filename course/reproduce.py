"""Registry of each lesson's headline experiment, run with the library's reference code.

Each lesson's issue adds one line to ``EXPERIMENTS``: the lesson id and the
``module:function`` that takes ``seed`` and returns a JSON-ready dict. Modules are imported
only when their experiment runs, so ``python -m course list`` stays fast.
"""
from __future__ import annotations

import importlib
from typing import Any

from . import lessons

__all__ = ["EXPERIMENTS", "run", "orientation"]

EXPERIMENTS: dict[str, str] = {
    "00_orientation": "course.reproduce:orientation",
    "01_profiles": "course.memory:reproduce",
    "02_near_miss": "course.nearmiss:reproduce",
    "03_abstention": "course.uncertainty:reproduce",
}


def run(lesson_id: str, seed: int = 0) -> dict[str, Any]:
    """Run a lesson's headline experiment; ``ValueError`` for an unknown or unready lesson."""
    lessons.get(lesson_id)  # raises with the list of known ids
    if lesson_id not in EXPERIMENTS:
        ready = ", ".join(EXPERIMENTS)
        raise ValueError(f"lesson {lesson_id!r} has no reproducible experiment yet; "
                         f"available: {ready}")
    module, func = EXPERIMENTS[lesson_id].split(":")
    result = getattr(importlib.import_module(module), func)(seed=seed)
    return {**result, "seed": seed}


def orientation(seed: int = 0, n_users: int = 300) -> dict[str, Any]:
    """Lesson 00: each user's nearest neighbour by topic usage, and whether it is a neighbour
    from the same community (the coarse grouping that topic usage reveals)."""
    from .similarity import cosine_similarity_matrix, nearest_neighbour
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
