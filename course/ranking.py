"""Ranking metrics for held-out clicks: NCRR and NDCG with fair ties (lesson 05).

For each user, the candidates (items not clicked in training) are ranked by a score, highest
first, and the held-out clicks are looked up in that ranking. Tied scores share the ranks they
occupy evenly, which is the expectation over random tie-breaks, so ties never favour a method
(the popularity baseline and social-only factorization score many items equally).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .checks import twin

__all__ = ["Positions", "positions", "rank_scores", "ncrr", "ndcg", "candidates_mask"]


@dataclass
class Positions:
    """Where each relevant item sits among its user's candidates, ties included.

    Attributes:
        n_users, n_items: the (U, I) shape ranked.
        users, items: (n,) the relevant entries, grouped by user.
        values: (n,) their scores.
        above: (n,) how many candidates score strictly higher.
        tied: (n,) how many candidates score the same, the entry itself included; the entry
            takes each rank above + 1 .. above + tied with equal probability.
    """

    n_users: int
    n_items: int
    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    above: np.ndarray
    tied: np.ndarray

    def gain(self, kind: str = "reciprocal") -> np.ndarray:
        """(U,) normalized cumulative gain per user, NaN for users without entries: NCRR for
        ``"reciprocal"`` (1 / rank), NDCG for ``"log"`` (1 / log2(rank + 1))."""
        if kind not in ("reciprocal", "log"):
            raise ValueError(f"kind must be 'reciprocal' or 'log', got {kind!r}")
        ranks = np.arange(1, self.n_items + 1, dtype=float)
        per_rank = 1.0 / ranks if kind == "reciprocal" else 1.0 / np.log2(ranks + 1)
        table = np.concatenate([[0.0], np.cumsum(per_rank)])  # table[n]: ranks 1..n together
        mean_gain = (table[self.above + self.tied] - table[self.above]) / self.tied
        got = np.bincount(self.users, mean_gain, minlength=self.n_users)
        n = np.bincount(self.users, minlength=self.n_users)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, got / table[n], np.nan)

    def without(self, drop: np.ndarray) -> "Positions":
        """The positions of the other entries once the entries where ``drop`` (n,) is True
        leave the candidates (compared within each user, on a (U, m, m) grid)."""
        drop = np.asarray(drop, bool)
        counts = np.bincount(self.users, minlength=self.n_users)
        slot = np.arange(self.users.size) - (np.cumsum(counts) - counts)[self.users]
        m = int(counts.max(initial=1))
        value = np.full((self.n_users, m), np.nan)
        value[self.users, slot] = np.where(drop, self.values, np.nan)  # only dropped entries
        mine = self.values[:, None]
        higher = (value[self.users] > mine).sum(axis=1)
        same = (value[self.users] == mine).sum(axis=1)
        keep = ~drop
        return Positions(self.n_users, self.n_items, self.users[keep], self.items[keep],
                         self.values[keep], self.above[keep] - higher[keep],
                         self.tied[keep] - same[keep])


@twin
def positions(scores, relevant, candidates, block: int = 4096) -> Positions:
    """For every relevant entry (U, I bool), count the candidates scored above it and tied
    with it (the library's core of :func:`ncrr` and :func:`ndcg`)."""
    scores, relevant, candidates = (np.asarray(scores, float), np.asarray(relevant, bool),
                                    np.asarray(candidates, bool))
    if not scores.shape == relevant.shape == candidates.shape or scores.ndim != 2:
        raise ValueError(f"scores, relevant and candidates must share one (U, I) shape, "
                         f"got {scores.shape}, {relevant.shape}, {candidates.shape}")
    if (relevant & ~candidates).any():
        raise ValueError("every relevant item must be a candidate")
    if not np.isfinite(scores[candidates]).all():
        raise ValueError("scores of candidates must be finite")
    masked = np.where(candidates, scores, -np.inf)  # non-candidates rank below everything
    users, items = np.nonzero(relevant)
    values = masked[users, items]
    above, tied = np.empty(users.size, np.int64), np.empty(users.size, np.int64)
    for start in range(0, users.size, block):  # blocks of entries bound the memory
        part = slice(start, start + block)
        rows, mine = masked[users[part]], values[part, None]
        above[part] = (rows > mine).sum(axis=1)
        tied[part] = (rows == mine).sum(axis=1)
    return Positions(scores.shape[0], scores.shape[1], users, items, values, above, tied)


def rank_scores(scores: np.ndarray, relevant: np.ndarray, candidates: np.ndarray,
                gain: str = "reciprocal") -> np.ndarray:
    """Per-user normalized cumulative gain of the relevant items' ranks among the candidates.

    Args:
        scores: (U, I) higher = recommended first.
        relevant: (U, I) bool, the held-out clicks (each must also be a candidate).
        candidates: (U, I) bool, the items ranked for each user.
        gain: ``"reciprocal"`` (1 / rank: NCRR) or ``"log"`` (1 / log2(rank + 1): NDCG).

    Returns:
        (U,) float, NaN for users with no relevant item. Tied scores share their ranks
        evenly (the mean gain over the tied positions: the expectation over random
        tie-breaks), so ties never favour a method.
    """
    return positions(scores, relevant, candidates).gain(gain)


@twin
def ncrr(scores: np.ndarray, relevant: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(U,) normalized cumulative reciprocal rank per user (NaN without relevant items).

    Per user: the sum of 1 / rank of each relevant item among the candidates, divided by
    1 + 1/2 + ... + 1/n for n relevant items (its best value), as in Chaney et al. and their
    evaluation code. Ties are split evenly (the mean of 1/rank over the tied positions).
    """
    return rank_scores(scores, relevant, candidates, "reciprocal")


def ndcg(scores: np.ndarray, relevant: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(U,) normalized discounted cumulative gain per user, binary relevance, ties split evenly."""
    return rank_scores(scores, relevant, candidates, "log")


def candidates_mask(seen: sp.spmatrix, items: np.ndarray | None = None) -> np.ndarray:
    """(U, I) bool: the items each user is ranked on, all items (or ``items``, a (I,) bool
    mask such as "appears in the test set") minus the ones the user has already clicked."""
    mask = ~(sp.csr_matrix(seen).toarray() > 0)
    if items is not None:
        mask &= np.asarray(items, bool)[None, :]
    return mask
