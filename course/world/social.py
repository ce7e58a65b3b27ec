"""The town's social facet: a catalog, everyone's clicks, friendships and influence (lesson 05).

Generated from a :class:`~course.world.town.Town`: the same users, communities, topic interests
and tastes. Shapes use U users, I items, T topics, D taste dimensions.

How clicks happen
-----------------
* **Catalog.** Item ``i`` has non-negative topic loadings ``loadings[i]`` (T,) (mostly on one
  main topic), a feature vector ``features[i]`` in R^D (the town's taste dimensions) and an
  appeal ``appeal[i]`` (a population-wide popularity, log-normal).
* **Own clicks.** User ``u``'s own rate for item ``i`` is
  ``activity[u] * (topic_mix[u] . loadings[i]) * appeal[i] * exp(taste_strength * z)``, where
  ``z = (taste[u, main topic of i] + population) . features[i] / sqrt(2 D)`` is the town's
  taste match. A user clicks an item on their own with probability ``1 - exp(-rate)``, at a
  time drawn uniformly in [0, 1].
* **Friendships.** Each user starts about ``n_ties`` ties (the network is undirected, so a
  user has about ``2 n_ties`` friends). A tie goes to a uniformly random other user, or, with
  probability ``homophily``, to one of the user's ``homophily_pool`` most taste-similar users.
  With the default ``homophily = 0`` ties ignore taste (and community) entirely.
* **Influence, in time.** Every tie has two directed strengths ``w[u, v]``: the probability
  that ``u`` adopts an item after seeing friend ``v`` adopt it (Gamma-distributed around
  ``influence``, so a few ties carry most of it). When ``v`` adopts ``i`` at time ``t``, each
  friend ``u`` adopts it with probability ``w[u, v]`` at ``t`` plus an exponential delay, if
  that is still inside the window [0, 1]; an adoption can spread again, for up to
  ``generations`` steps. Influence ignores the adopter's own taste: what spreads is whatever
  friends happen to adopt. ``influence = 0`` switches it off.

An adoption that the user would also have made on their own keeps the origin "own": an
**influenced** click is one that happened *only* because of a friend. Each click keeps its
origin, the friend it came from and its time, for evaluation only: the models see the clicks
and the network, nothing else. This is a discrete adoption process, not SPF's Poisson
likelihood, which can only approximate it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from .town import Town, TownConfig, check_fields, make_town

__all__ = ["SocialConfig", "SocialTown", "make_social", "split_clicks", "OWN", "INFLUENCED",
           "TRAIN", "VALIDATION", "TEST"]

OWN, INFLUENCED = 0, 1
TRAIN, VALIDATION, TEST = 0, 1, 2


@dataclass(frozen=True)
class SocialConfig:
    """Parameters of the social facet. Every field has a documented default.

    Attributes:
        n_items: catalog size I.
        clicks_per_user: expected number of a user's own-taste clicks.
        activity_spread: log-normal spread of users' activity (how many own clicks).
        appeal_spread: log-normal spread of items' appeal (population-wide popularity).
        topic_focus: Gamma shape of an item's loadings on topics other than its main one
            (small = an item is about one topic).
        taste_strength: how much the town's within-topic tastes set the rate (0 = only
            topics and appeal matter).
        n_ties: ties each user starts; the undirected network gives about twice as many
            friends per user.
        homophily: share of ties that go to one of the user's most taste-similar users, in
            [0, 1] (0 = ties ignore taste).
        homophily_pool: how many most-similar users a homophilous tie picks from.
        influence: mean probability that a user adopts an item because a friend adopted it
            earlier, per tie and item (0 = no influence).
        influence_spread: Gamma shape of the per-tie strengths (small = a few strong ties).
        delay: mean delay between a friend's adoption and the one it causes (the window is
            [0, 1]).
        generations: how many times an influenced adoption can spread again.
        split: shares of each user's clicks in (train, validation, test).
        seed: seed of every random draw (the town's seed is the town's own).
    """

    n_items: int = 1000
    clicks_per_user: float = 30.0
    activity_spread: float = 0.5
    appeal_spread: float = 0.5
    topic_focus: float = 0.05
    taste_strength: float = 1.0
    n_ties: float = 8.5
    homophily: float = 0.0
    homophily_pool: int = 20
    influence: float = 0.02
    influence_spread: float = 0.2
    delay: float = 0.05
    generations: int = 3
    split: tuple[float, float, float] = (0.75, 0.05, 0.2)
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self, counts=("n_items", "homophily_pool"), shares=("homophily", "influence"),
                     positive=("clicks_per_user", "topic_focus", "influence_spread", "delay"),
                     non_negative=("activity_spread", "appeal_spread", "taste_strength", "n_ties",
                                   "generations"))
        if len(self.split) != 3 or min(self.split) < 0 or abs(sum(self.split) - 1) > 1e-9:
            raise ValueError(f"split must be three non-negative shares summing to 1, got {self.split}")


@dataclass(repr=False)
class SocialTown:
    """A generated social facet. Arrays only; clicks are parallel 1-D arrays.

    Attributes:
        config: the parameters it was generated with.
        town: the town it was generated from (same users).
        loadings: (I, T) non-negative topic loadings of each item.
        features: (I, D) taste features of each item.
        appeal: (I,) population-wide appeal of each item.
        own_rate: (U, I) float32, each user's own-taste rate (before influence).
        network: (U, U) CSR, 1 where two users are friends (symmetric, no self-ties).
        strength: (U, U) CSR, ``strength[u, v]`` = probability that ``u`` adopts an item after
            friend ``v`` did (the true influence; zero off the network).
        user, item: (n,) int, the clicks (one per user and item).
        time: (n,) float in [0, 1], when each click happened.
        origin: (n,) ``OWN`` or ``INFLUENCED`` (evaluation only).
        source: (n,) the friend an influenced click came from, -1 for own clicks.
        part: (n,) ``TRAIN``, ``VALIDATION`` or ``TEST``.
    """

    config: SocialConfig
    town: Town
    loadings: np.ndarray
    features: np.ndarray
    appeal: np.ndarray
    own_rate: np.ndarray
    network: sp.csr_matrix
    strength: sp.csr_matrix
    user: np.ndarray
    item: np.ndarray
    time: np.ndarray
    origin: np.ndarray
    source: np.ndarray
    part: np.ndarray

    def __repr__(self) -> str:
        return f"SocialTown({self.describe()})"

    @property
    def n_users(self) -> int:
        return self.own_rate.shape[0]

    @property
    def n_items(self) -> int:
        return self.own_rate.shape[1]

    def clicks(self, part: int | None = None, origin: int | None = None) -> sp.csr_matrix:
        """(U, I) CSR of 1s: the clicks in one part (default all), optionally of one origin."""
        keep = np.ones(self.user.size, dtype=bool)
        if part is not None:
            keep &= self.part == part
        if origin is not None:
            keep &= self.origin == origin
        return _ones(self.user[keep], self.item[keep], self.n_users, self.n_items)

    @property
    def train(self) -> sp.csr_matrix:
        return self.clicks(TRAIN)

    @property
    def validation(self) -> sp.csr_matrix:
        return self.clicks(VALIDATION)

    @property
    def test(self) -> sp.csr_matrix:
        return self.clicks(TEST)

    def oracle_scores(self) -> np.ndarray:
        """(U, I) the generator's true click rate: own taste plus the pull of every friend who
        adopted the item (``-log(1 - w)`` per friend, so ``1 - exp(-score)`` is the click
        probability). It knows all adoptions, held-out ones included: a ceiling, not a model."""
        pull = self.strength.copy()
        pull.data = -np.log1p(-np.minimum(pull.data, 1 - 1e-9))
        return self.own_rate + (pull @ self.clicks()).toarray()

    def describe(self) -> dict:
        """Counts for printing in a lesson."""
        friends = np.diff(self.network.indptr)
        return {"users": self.n_users, "items": self.n_items, "clicks": int(self.user.size),
                "train_clicks": int((self.part == TRAIN).sum()),
                "influenced_share": round(float((self.origin == INFLUENCED).mean()), 3),
                "friends_per_user": round(float(friends.mean()), 1),
                "ties": int(self.network.nnz // 2)}


def _ones(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_rows, n_cols))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _catalog(cfg: SocialConfig, town: Town, rng: np.random.Generator):
    """Items' topic loadings (I, T), features (I, D), appeal (I,) and main topic (I,)."""
    T, D = town.config.n_topics, town.config.n_dims
    main = rng.integers(0, T, cfg.n_items)
    loadings = rng.gamma(cfg.topic_focus, 1.0, (cfg.n_items, T))
    loadings[np.arange(cfg.n_items), main] += 1.0
    loadings /= loadings.sum(axis=1, keepdims=True)
    features = rng.standard_normal((cfg.n_items, D))
    appeal = np.exp(cfg.appeal_spread * rng.standard_normal(cfg.n_items))
    return loadings, features, appeal, main


def _own_rates(cfg: SocialConfig, town: Town, loadings, features, appeal, main,
               rng: np.random.Generator) -> np.ndarray:
    """(U, I) float32 own-taste rates, scaled so a user expects ``clicks_per_user`` clicks."""
    U, D = town.n_users, town.config.n_dims
    rate = (town.topic_mix @ loadings.T.astype(np.float32)) * appeal.astype(np.float32)
    taste = town.taste_start + town.population  # (U, T, D)
    for t in np.unique(main):  # one product per topic, not per user or item
        cols = np.flatnonzero(main == t)
        z = taste[:, t] @ features[cols].T.astype(np.float32) / np.sqrt(2 * D)
        rate[:, cols] *= np.exp(cfg.taste_strength * z)
    activity = np.exp(cfg.activity_spread * rng.standard_normal(U) - cfg.activity_spread ** 2 / 2)
    rate *= (cfg.clicks_per_user * activity / rate.sum(axis=1))[:, None].astype(np.float32)
    return rate.astype(np.float32)


def _taste_profile(cfg: SocialConfig, town: Town) -> np.ndarray:
    """(U, T (D + 1)) unit rows whose dot products say how alike two users' own rates are:
    per topic, the square root of interest times (1, within-topic taste)."""
    D = town.config.n_dims
    weight = np.sqrt(town.topic_mix)[..., None]
    taste = cfg.taste_strength * town.taste_start / np.sqrt(D)
    rows = (weight * np.concatenate([np.ones_like(taste[..., :1]), taste], axis=2))
    rows = rows.reshape(town.n_users, -1)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _most_similar(profile: np.ndarray, k: int, block: int = 2048) -> np.ndarray:
    """(U, k) the k most similar other users of each user, in blocks of rows."""
    U = profile.shape[0]
    k = min(k, U - 1)
    out = np.empty((U, k), dtype=np.int64)
    for start in range(0, U, block):  # blocks bound memory; each is one matrix product
        rows = np.arange(start, min(start + block, U))
        sim = profile[rows] @ profile.T
        sim[np.arange(rows.size), rows] = -np.inf
        out[rows] = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    return out


def _network(cfg: SocialConfig, town: Town, rng: np.random.Generator) -> sp.csr_matrix:
    """(U, U) symmetric 0/1 CSR of friendships."""
    U = town.n_users
    starts = rng.poisson(cfg.n_ties, U)
    u = np.repeat(np.arange(U), starts)
    v = (u + rng.integers(1, U, u.size)) % U  # a uniformly random *other* user
    similar = rng.random(u.size) < cfg.homophily
    if similar.any():
        pool = _most_similar(_taste_profile(cfg, town), cfg.homophily_pool)
        v[similar] = pool[u[similar], rng.integers(0, pool.shape[1], similar.sum())]
    net = _ones(np.concatenate([u, v]), np.concatenate([v, u]), U, U)
    net.setdiag(0)
    net.eliminate_zeros()
    return net


def _strengths(cfg: SocialConfig, net: sp.csr_matrix, rng: np.random.Generator) -> sp.csr_matrix:
    """Directed influence probabilities on the network's ties (row u listens to column v)."""
    k = cfg.influence_spread
    w = np.minimum(cfg.influence * rng.gamma(k, 1.0 / k, net.nnz), 1.0)
    return sp.csr_matrix((w, net.indices.copy(), net.indptr.copy()), shape=net.shape)


def _spread(cfg: SocialConfig, strength: sp.csr_matrix, user, item, time, n_items: int,
            rng: np.random.Generator):
    """Influenced adoptions: (user, item, time, source) arrays, generation by generation."""
    listen = strength.T.tocsr()  # row v lists the users who listen to v, with their strength
    taken = np.sort(user.astype(np.int64) * n_items + item)
    out_u, out_i, out_t, out_s = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0)], [np.empty(0, np.int64)]
    frontier = (user, item, time)
    for _ in range(cfg.generations):
        fu, fi, ft = frontier
        if fu.size == 0:
            break
        count = np.diff(listen.indptr)[fu]
        which = np.repeat(np.arange(fu.size), count)
        # position of each (adoption, listener) pair inside the listener lists
        offset = np.arange(which.size) - np.repeat(np.cumsum(count) - count, count)
        edge = listen.indptr[fu][which] + offset
        hit = rng.random(edge.size) < listen.data[edge]
        which, edge = which[hit], edge[hit]
        lu, li, src = listen.indices[edge], fi[which], fu[which]
        lt = ft[which] + rng.exponential(cfg.delay, which.size)
        keep = lt < 1.0
        lu, li, lt, src = lu[keep], li[keep], lt[keep], src[keep]
        key = lu.astype(np.int64) * n_items + li
        pos = np.searchsorted(taken, key).clip(max=max(taken.size - 1, 0))
        fresh = taken[pos] != key if taken.size else np.ones(key.size, bool)
        key, lu, li, lt, src = key[fresh], lu[fresh], li[fresh], lt[fresh], src[fresh]
        order = np.lexsort((lt, key))  # earliest adoption of each (user, item) wins
        first = order[np.r_[True, key[order][1:] != key[order][:-1]]] if key.size else order
        lu, li, lt, src = lu[first], li[first], lt[first], src[first]
        taken = np.sort(np.concatenate([taken, key[first]]))
        out_u.append(lu); out_i.append(li); out_t.append(lt); out_s.append(src)
        frontier = (lu, li, lt)
    return (np.concatenate(out_u), np.concatenate(out_i), np.concatenate(out_s),
            np.concatenate(out_t))


def split_clicks(user: np.ndarray, shares: tuple[float, float, float],
                 rng: np.random.Generator) -> np.ndarray:
    """``TRAIN``, ``VALIDATION`` or ``TEST`` for each click, per user (``shares`` = train,
    validation, test): each user's n clicks in random order, about ``shares[2] n`` of them to
    test, then about ``shares[1] n`` to validation, the rest to train. Fractions are rounded
    up or down at random, so the shares hold on average even for users with few clicks."""
    user = np.asarray(user)
    order = np.lexsort((rng.random(user.size), user))
    counts = np.bincount(user, minlength=user.max(initial=-1) + 1)
    rank = np.empty(user.size, dtype=np.int64)
    rank[order] = np.arange(user.size) - (np.cumsum(counts) - counts)[user[order]]
    test_cut = np.floor(shares[2] * counts + rng.random(counts.size))
    val_cut = np.floor((shares[2] + shares[1]) * counts + rng.random(counts.size))
    test_cut, val_cut = test_cut[user], np.maximum(val_cut, test_cut)[user]
    return np.where(rank < test_cut, TEST,
                    np.where(rank < val_cut, VALIDATION, TRAIN)).astype(np.int8)


def make_social(town: Town | None = None, config: SocialConfig | None = None,
                **overrides) -> SocialTown:
    """Generate the social facet of a town.

    Args:
        town: the town (default: ``make_town(TownConfig(seed=config.seed))``).
        config: parameters; defaults to ``SocialConfig()``.
        **overrides: fields of ``SocialConfig`` to change, e.g. ``influence=0``.

    Returns:
        A :class:`SocialTown`; 2,000 users and 1,000 items take well under a second.
    """
    cfg = replace(config or SocialConfig(), **overrides)
    town = town if town is not None else make_town(TownConfig(n_interactions=1, seed=cfg.seed))
    rng = np.random.default_rng([cfg.seed, 5])
    loadings, features, appeal, main = _catalog(cfg, town, rng)
    own_rate = _own_rates(cfg, town, loadings, features, appeal, main, rng)
    own = rng.random(own_rate.shape, dtype=np.float32) < -np.expm1(-own_rate)
    ou, oi = np.nonzero(own)
    ot = rng.random(ou.size)
    net = _network(cfg, town, rng)
    strength = _strengths(cfg, net, rng)
    iu, ii, isrc, it = _spread(cfg, strength, ou, oi, ot, cfg.n_items, rng)
    user = np.concatenate([ou, iu]).astype(np.int64)
    item = np.concatenate([oi, ii]).astype(np.int64)
    origin = np.concatenate([np.full(ou.size, OWN), np.full(iu.size, INFLUENCED)]).astype(np.int8)
    source = np.concatenate([np.full(ou.size, -1), isrc]).astype(np.int64)
    time = np.concatenate([ot, it])
    order = np.lexsort((item, user))
    user, item, origin, source, time = (a[order] for a in (user, item, origin, source, time))
    return SocialTown(config=cfg, town=town, loadings=loadings, features=features,
                      appeal=appeal, own_rate=own_rate, network=net, strength=strength,
                      user=user, item=item, time=time, origin=origin, source=source,
                      part=split_clicks(user, cfg.split, rng))
