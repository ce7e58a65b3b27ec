"""Profiles: what a personalized model is shown about a user (lesson 01).

A profile is a set of *items*, each one past interaction of the user:

* its **input**, the query: a topic token followed by the D numbers of the query vector;
* its **output**, what the user chose: a topic token followed by the D features of the
  chosen item.

So an input costs ``D + 1`` tokens, an output ``D + 1`` and a complete pair twice that.
Under a context budget of ``budget`` tokens, ``k`` requested items each get
``budget // k`` tokens and an item longer than that is cut at the end, as LaMP's prompt
builder does: a complete pair loses its output first.

Every item becomes one feature row (``item_dim`` numbers)::

    [present | topic one-hot (T) | query (D) | output (D) | share of query kept | share of output kept]

Episodic memory recalls raw items (the most recent, or the most similar to the query);
semantic memory abstracts them (a per-topic summary, or per-user parameters fitted with torch).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import twin
from .world import Town

__all__ = ["SOURCES", "Layout", "item_features", "kept_tokens", "source_mask", "tokens_per_item",
           "most_recent", "most_similar", "topic_summary", "recent_indices", "similar_indices", "gather", "summary_items",
           "query_features", "split_users", "examples", "held_out", "Episodes"]

SOURCES = ("none", "inputs", "outputs", "both")


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")


@dataclass(frozen=True)
class Layout:
    """The sizes a model reads: up to ``n_items`` profile items of ``item_dim`` numbers, a
    query of ``query_dim`` numbers (topic one-hot and query vector) and the ``n_dims``
    numbers of the difference between the two candidates."""

    n_items: int
    n_topics: int
    n_dims: int

    @property
    def item_dim(self) -> int:
        return 1 + self.n_topics + 2 * self.n_dims + 2

    @property
    def query_dim(self) -> int:
        return self.n_topics + self.n_dims

    @classmethod
    def for_town(cls, town: Town, n_items: int) -> "Layout":
        return cls(n_items, town.config.n_topics, town.config.n_dims)


def item_features(town: Town) -> np.ndarray:
    """(U, N, item_dim) float32: every interaction as a complete, untruncated item."""
    U, N = town.topic.shape
    T, D = town.config.n_topics, town.config.n_dims
    feat = np.zeros((U, N, 1 + T + 2 * D + 2), dtype=np.float32)
    feat[..., 0] = 1.0
    feat[..., 1:1 + T] = np.eye(T, dtype=np.float32)[town.topic]
    feat[..., 1 + T:1 + T + D] = town.query
    feat[..., 1 + T + D:1 + T + 2 * D] = town.output
    feat[..., -2:] = 1.0
    return feat


def tokens_per_item(source: str, n_dims: int) -> int:
    """Tokens an untruncated item of this source costs."""
    _check_source(source)
    return {"none": 0, "inputs": n_dims + 1, "outputs": n_dims + 1, "both": 2 * (n_dims + 1)}[source]


@twin
def kept_tokens(source: str, tokens: int, n_dims: int) -> tuple[int, int]:
    """How many query numbers and output numbers survive when an item is cut to ``tokens``.

    Tokens run input first (topic, then ``n_dims`` query numbers), then output (topic, then
    ``n_dims`` output numbers); an ``outputs`` item has only the output run, an ``inputs``
    item only the input run, a ``none`` item nothing.

    Returns:
        ``(query_numbers_kept, output_numbers_kept)``, each in [0, n_dims].
    """
    _check_source(source)
    if tokens < 0:
        raise ValueError(f"tokens must be non-negative, got {tokens}")
    run = n_dims + 1
    if source == "inputs":
        return int(np.clip(tokens - 1, 0, n_dims)), 0
    if source == "outputs":
        return 0, int(np.clip(tokens - 1, 0, n_dims))
    if source == "both":
        return int(np.clip(tokens - 1, 0, n_dims)), int(np.clip(tokens - run - 1, 0, n_dims))
    return 0, 0


def source_mask(source: str, tokens: int, n_topics: int, n_dims: int) -> np.ndarray:
    """(item_dim,) multiplier keeping what an item of ``source`` cut to ``tokens`` shows.

    Tokens run: input (topic, then query numbers), then output (topic, then output numbers);
    an ``outputs`` item has only the second run, an ``inputs`` item only the first.
    """
    T, D = n_topics, n_dims
    n_query, n_output = kept_tokens(source, tokens, D)
    mask = np.zeros(1 + T + 2 * D + 2, dtype=np.float32)
    mask[0] = 1.0
    mask[1:1 + T] = float(source != "none" and tokens >= 1)  # the first topic token survives
    mask[1 + T:1 + T + n_query] = 1.0
    mask[1 + T + D:1 + T + D + n_output] = 1.0
    mask[-2:] = n_query / D, n_output / D
    return mask


@twin
def most_recent(time: np.ndarray, k: int) -> np.ndarray:
    """Indices of each user's k most recent interactions, oldest of them first.

    Args:
        time: (U, H) time stamps, in any order along each row.
        k: items to recall, 1 <= k <= H.

    Returns:
        (U, k) int array.
    """
    time = np.asarray(time)
    if time.ndim != 2 or not 1 <= k <= time.shape[1]:
        raise ValueError(f"time must be (U, H) and k in [1, H]; got shape {time.shape}, k={k}")
    return np.argsort(time, axis=1, kind="stable")[:, -k:]


@twin
def most_similar(past: np.ndarray, now: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k past queries most similar (cosine) to the current one, least similar
    of them first.

    Args:
        past: (B, H, D) past query vectors.
        now: (B, D) current query vectors.
        k: items to recall, 1 <= k <= H.

    Returns:
        (B, k) int array.
    """
    if past.ndim != 3 or now.shape != (past.shape[0], past.shape[2]) or not 1 <= k <= past.shape[1]:
        raise ValueError(f"past must be (B, H, D), now (B, D) and k in [1, H]; got "
                         f"{past.shape}, {now.shape}, k={k}")
    past = past / np.linalg.norm(past, axis=2, keepdims=True)
    now = now / np.linalg.norm(now, axis=1, keepdims=True)
    sim = np.einsum("bhd,bd->bh", past, now)
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(sim, top, axis=1).argsort(axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def recent_indices(n_history: int, k: int) -> np.ndarray:
    """(k,) indices of the k most recent items of a history of ``n_history`` items."""
    if not 1 <= k <= n_history:
        raise ValueError(f"k must be between 1 and the history length {n_history}, got {k}")
    return np.arange(n_history - k, n_history)


def similar_indices(town: Town, users: np.ndarray, queries: np.ndarray, n_history: int,
                    k: int) -> np.ndarray:
    """(B, k) indices of the k past items whose queries are most similar to each query.

    Args:
        town: the town.
        users: (B,) user ids.
        queries: (B,) interaction index of each query (at or after ``n_history``).
        n_history: items before this index form the history.
        k: items to recall.
    """
    if not 1 <= k <= n_history:
        raise ValueError(f"k must be between 1 and the history length {n_history}, got {k}")
    return most_similar(town.query[users, :n_history], town.query[users, queries], k)


def gather(features: np.ndarray, owners: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(B, K, item_dim) items ``idx`` (B, K) of each owner's history; -1 pads with zeros."""
    out = features[owners[:, None], np.maximum(idx, 0)]
    out[idx < 0] = 0.0
    return out


@twin
def topic_summary(topic: np.ndarray, output: np.ndarray, time: np.ndarray, n_topics: int,
                  half_life: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-topic preference summary of each user's history.

    Args:
        topic: (U, H) topic of each past interaction.
        output: (U, H, D) what the user chose (chosen minus rejected features).
        time: (U, H) time stamps; the newest of each row has weight 1, and weights halve
            every ``half_life`` before it.
        n_topics: T.
        half_life: in the units of ``time``, > 0.

    Returns:
        ``summary`` (U, T, D): the weighted sum of outputs on each topic divided by (the
        total weight on it + 1), so thin evidence shrinks towards zero; and ``weight``
        (U, T): the total weight on each topic.
    """
    if half_life <= 0:
        raise ValueError(f"half_life must be positive, got {half_life}")
    w = 0.5 ** ((time.max(axis=1, keepdims=True) - time) / half_life)        # (U, H)
    onehot = np.eye(n_topics, dtype=np.float32)[topic]                       # (U, H, T)
    total = np.einsum("uh,uht->ut", w, onehot)
    summary = np.einsum("uh,uht,uhd->utd", w, onehot, output) / (total + 1.0)[..., None]
    return summary, total


def summary_items(town: Town, n_history: int, k: int, half_life: float = 0.15) -> np.ndarray:
    """(U, k, item_dim) semantic summary: per topic, a recency-weighted mean of outputs.

    The summary abstracts the whole history into one item per topic, for the ``k`` topics
    the user asked about most (recent questions count more): the weighted mean of what
    they chose on it, weights halving every ``half_life`` of the history's time span, and
    shrunk towards zero by one pseudo-count so that a topic seen once is not taken as sure.
    """
    if not 1 <= k <= town.config.n_topics:
        raise ValueError(f"k must be between 1 and the number of topics {town.config.n_topics}, got {k}")
    T, D = town.config.n_topics, town.config.n_dims
    U = town.n_users
    mean_out, total = topic_summary(town.topic[:, :n_history], town.output[:, :n_history],
                                    town.time[:, :n_history], T, half_life)
    items = np.zeros((U, T, 1 + T + 2 * D + 2), dtype=np.float32)
    seen = total > 0
    items[..., 0] = seen
    items[..., 1:1 + T] = np.eye(T, dtype=np.float32)[None] * seen[..., None]
    items[..., 1 + T + D:1 + T + 2 * D] = mean_out
    items[..., -1] = seen
    top = np.argsort(-total, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(items, top[..., None], axis=1)


def query_features(town: Town, users: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The query (B, T + D) and candidate difference (B, D) of interactions ``queries``."""
    T = town.config.n_topics
    q = np.concatenate([np.eye(T, dtype=np.float32)[town.topic[users, queries]],
                        town.query[users, queries]], axis=1)
    diff = town.candidates[users, queries, 0] - town.candidates[users, queries, 1]
    return q, diff


@dataclass(frozen=True)
class Episodes:
    """Profiles and the questions they are read for: B groups of M queries, group ``b``
    reading profile ``profile[b]``.

    A model encodes each profile once, however many queries and groups read it: a user's
    held-out queries share their profile, and in lesson 02 one user's profile is lent to
    many others. Examples are ordered group-major: example ``i`` is query ``i % M`` of
    group ``i // M``.

    Attributes:
        items: (P, K, item_dim) float32, the profiles' items; absent items are all zero.
        query: (B, M, query_dim) float32, each question's topic one-hot and query vector.
        diff: (B, M, n_dims) float32, first candidate minus second.
        profile: (B,) ints in [0, P), the profile each group reads; None means group ``b``
            reads profile ``b`` (P == B).
    """

    items: np.ndarray
    query: np.ndarray
    diff: np.ndarray
    profile: np.ndarray | None = None

    def __post_init__(self):
        B = self.query.shape[0]
        if self.diff.shape[:2] != self.query.shape[:2] or self.items.ndim != 3:
            raise ValueError(f"items must be (P, K, F), query (B, M, Q) and diff (B, M, D), "
                             f"got {self.items.shape}, {self.query.shape}, {self.diff.shape}")
        if self.profile is None and self.items.shape[0] != B:
            raise ValueError(f"without profile indices there must be one profile per group: "
                             f"{self.items.shape[0]} profiles, {B} groups")
        if self.profile is not None and (self.profile.shape != (B,) or B and not (
                0 <= self.profile.min() and self.profile.max() < self.items.shape[0])):
            raise ValueError(f"profile must be ({B},) indices into {self.items.shape[0]} profiles")

    @property
    def n_queries(self) -> int:
        return self.query.shape[1]

    def __len__(self) -> int:
        return self.query.shape[0] * self.query.shape[1]

    def subset(self, groups) -> "Episodes":
        """The episodes of the given groups (a slice or an index array)."""
        if self.profile is None:
            return Episodes(self.items[groups], self.query[groups], self.diff[groups])
        return Episodes(self.items, self.query[groups], self.diff[groups], self.profile[groups])


def split_users(n_users: int, test_share: float = 0.5, random_state: int = 0):
    """Shuffle user ids into (train, test) arrays; the model never sees test users' choices."""
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be in (0, 1), got {test_share}")
    order = np.random.default_rng(random_state).permutation(n_users)
    cut = int(round(n_users * (1 - test_share)))
    return np.sort(order[:cut]), np.sort(order[cut:])


def examples(town: Town, users: np.ndarray, items: np.ndarray, n_history: int,
             layout: Layout) -> tuple[Episodes, np.ndarray]:
    """Model inputs and labels for the held-out queries of ``users``.

    Args:
        town: the town.
        users: (B,) user ids whose queries are predicted.
        items: (B, K, F) one profile per user, shown with each of their M held-out queries
            (interactions ``n_history`` to the end of each history), or (B, M, K, F) a
            profile per query.
        n_history: index of the first held-out interaction.
        layout: the model's layout (K <= layout.n_items, F == layout.item_dim).

    Returns:
        ``X`` :class:`Episodes` of B profiles with M queries each (B * M profiles of one
        query when profiles differ per query) and ``y`` (B * M,), user-major.
    """
    M = town.topic.shape[1] - n_history
    if items.shape[0] != len(users) or items.ndim not in (3, 4) or (items.ndim == 4 and items.shape[1] != M):
        raise ValueError(f"items must have shape ({len(users)}, K, F) or ({len(users)}, {M}, K, F), "
                         f"got {items.shape}")
    if items.shape[-2] > layout.n_items or items.shape[-1] != layout.item_dim:
        raise ValueError(f"items must end with (<= {layout.n_items}, {layout.item_dim}), got {items.shape}")
    q, d, y = held_out(town, users, n_history)
    if items.ndim == 4:  # a profile per query: groups of one query
        q, d = q.reshape(-1, 1, q.shape[2]), d.reshape(-1, 1, d.shape[2])
    items = np.ascontiguousarray(items.reshape((-1,) + items.shape[-2:]), dtype=np.float32)
    return Episodes(items, q, d), y.ravel()


def held_out(town: Town, users: np.ndarray, n_history: int):
    """The held-out queries of ``users`` (interactions ``n_history`` to the end).

    Returns:
        ``query`` (B, M, query_dim), ``diff`` (B, M, n_dims) float32, ``y`` (B, M) choices.
    """
    M = town.topic.shape[1] - n_history
    uu = np.repeat(users, M)
    qq = np.tile(np.arange(n_history, n_history + M), len(users))
    q, d = query_features(town, uu, qq)
    B = len(users)
    return (q.reshape(B, M, -1), d.reshape(B, M, -1).astype(np.float32),
            town.choice[uu, qq].reshape(B, M))
