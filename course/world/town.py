"""The simulated town: users, communities, tastes and interaction histories.

Every lesson draws its data from :func:`make_town`, so students meet the same town
again and again. Nothing here encodes a result a lesson reports; the generator only
sets up *tastes* and *habits*, and the lessons' models learn from the histories.

Shapes use these letters: U users, N interactions per user, T topics, C communities,
D taste dimensions (features of an item), A persona attributes.

How a choice is made
--------------------
At interaction ``i`` a user ``u`` asks a query on topic ``t`` (their *input*), is shown two
candidate items ``a`` and ``b`` (vectors in R^D) and picks one (their *output*). The
utility difference is ``(s_u[t](time) + pi) . (a - b)``, where

* ``s_u[t]`` is the user's taste on topic ``t``: a share ``shared_taste`` of its variance
  comes from the community, a share ``general_taste`` of the rest is the same across
  topics, and the remainder is specific to the topic;
* ``pi`` is the population-wide preference (popularity) that every user shares;
* with ``drift > 0`` each taste rotates over the user's history, by ``drift`` quarter
  turns between the first and the last interaction.

The user picks ``a`` with probability ``sigmoid(utility / choice_noise)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["TownConfig", "Town", "make_town", "topic_usage", "check_fields"]


@dataclass(frozen=True)
class TownConfig:
    """Parameters of the town. Every field has a documented default.

    Attributes:
        n_users: number of users U.
        n_interactions: interactions per user N, ordered in time.
        n_topics: number of topics T a query can be about.
        n_communities: number of communities C (coarse groups of users).
        n_dims: taste dimensions D (features of a candidate item).
        topic_focus: Dirichlet concentration of a community's topic interests
            (small = each community talks about few topics).
        user_topic_spread: how far a user's own topic mix strays from the community's
            (Dirichlet concentration is ``1 / user_topic_spread`` times the community mix).
        exploration: share of a user's queries on a topic drawn uniformly at random
            (people sometimes ask outside their usual interests).
        shared_taste: share of taste variance shared within a community, in [0, 1].
        general_taste: share of an individual's own taste that is the same on every topic.
        population_strength: norm of the population preference ``pi`` relative to the
            typical norm of a user's taste (1.0 = as strong as individual taste).
        choice_noise: temperature of the logistic choice (0 = deterministic).
        drift: taste rotation over a user's history, in quarter turns (0 = no drift).
        query_noise: noise in a query vector around its topic's centre.
        n_attributes: persona attributes A (lesson 03).
        attribute_noise: noise in how an attribute reflects the user's general taste.
        seed: seed of every random draw.
    """

    n_users: int = 2000
    n_interactions: int = 120
    n_topics: int = 16
    n_communities: int = 6
    n_dims: int = 4
    topic_focus: float = 0.15
    user_topic_spread: float = 0.3
    exploration: float = 0.1
    shared_taste: float = 0.0
    general_taste: float = 0.0
    population_strength: float = 1.0
    choice_noise: float = 0.1
    drift: float = 0.0
    query_noise: float = 0.5
    n_attributes: int = 8
    attribute_noise: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self, counts=("n_users", "n_interactions", "n_topics", "n_communities", "n_dims"),
                     shares=("shared_taste", "general_taste", "exploration"),
                     positive=("topic_focus", "user_topic_spread"),
                     non_negative=("population_strength", "choice_noise", "drift", "query_noise",
                                   "attribute_noise"))


#: the rule each kind of field of a configuration obeys, and how a violation is named
_RULES = {"counts": (lambda v: v >= 1, "at least 1"), "shares": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
          "positive": (lambda v: v > 0, "positive"), "non_negative": (lambda v: v >= 0, "non-negative")}


def check_fields(config, **kinds: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the first field of ``config`` that breaks its kind's rule.

    Args:
        config: a dataclass of parameters (a town's or a facet's).
        **kinds: field names by kind: ``counts`` (>= 1), ``shares`` (in [0, 1]),
            ``positive`` (> 0), ``non_negative`` (>= 0).
    """
    for kind, names in kinds.items():
        rule, accepted = _RULES[kind]
        for name in names:
            if not rule(getattr(config, name)):
                raise ValueError(f"{name} must be {accepted}, got {getattr(config, name)}")


@dataclass
class Town:
    """A generated town. Arrays only: no Python object per user or interaction.

    Attributes:
        config: the parameters it was generated with.
        community: (U,) int, each user's community.
        topic_mix: (U, T) float, each user's probability of asking about each topic
            (exploration included).
        taste_start: (U, T, D) float, taste at the first interaction.
        taste_end: (U, T, D) float, taste at the last interaction (equal to
            ``taste_start`` when there is no drift).
        population: (D,) float, the population-wide preference ``pi``.
        attributes: (U, A) int in {0, 1}, persona attributes (noisy views of taste).
        attribute_weights: (A, D) float, the taste direction each attribute reflects.
        topic: (U, N) int, topic of each query (the input).
        query: (U, N, D) float, the query vector (topic centre plus noise; the input).
        time: (U, N) float in [0, 1], increasing along each history.
        candidates: (U, N, 2, D) float, the two items shown.
        choice: (U, N) int, 1 if the user picked candidate 0, else 0.
        p_first: (U, N) float, the true probability of picking candidate 0.
    """

    config: TownConfig
    community: np.ndarray
    topic_mix: np.ndarray
    taste_start: np.ndarray
    taste_end: np.ndarray
    population: np.ndarray
    attributes: np.ndarray
    attribute_weights: np.ndarray
    topic: np.ndarray
    query: np.ndarray
    time: np.ndarray
    candidates: np.ndarray
    choice: np.ndarray
    p_first: np.ndarray
    topic_centres: np.ndarray = field(repr=False, default=None)

    @property
    def n_users(self) -> int:
        return self.community.shape[0]

    @property
    def chosen(self) -> np.ndarray:
        """(U, N, D) features of the item each user picked."""
        pick = np.where(self.choice[..., None] == 1, 0, 1)
        return np.take_along_axis(self.candidates, pick[..., None], axis=2)[:, :, 0]

    @property
    def output(self) -> np.ndarray:
        """(U, N, D) each user's *output*: the picked item's features minus the other's."""
        sign = (2 * self.choice - 1).astype(np.float32)[..., None]
        return sign * self.difference

    @property
    def difference(self) -> np.ndarray:
        """(U, N, D) candidate 0 minus candidate 1."""
        return self.candidates[:, :, 0] - self.candidates[:, :, 1]

    def taste_at(self, time: np.ndarray) -> np.ndarray:
        """Taste of every user on every topic at ``time``: (U, T, D) for ``time`` (U,)."""
        angle = (np.pi / 2) * self.config.drift * np.asarray(time, dtype=float)
        shape = angle.shape + (1, 1)
        return (np.cos(angle).reshape(shape) * self.taste_start
                + np.sin(angle).reshape(shape) * self.taste_end)

    def describe(self) -> dict:
        """A small summary of the town for printing in a lesson."""
        sizes = np.bincount(self.community, minlength=self.config.n_communities)
        return {
            "users": int(self.n_users),
            "interactions_per_user": int(self.topic.shape[1]),
            "topics": int(self.config.n_topics),
            "communities": int(self.config.n_communities),
            "community_sizes": sizes.tolist(),
            "share_choosing_first": float(self.choice.mean()),
        }


def _tastes(cfg: TownConfig, rng: np.random.Generator, community: np.ndarray) -> np.ndarray:
    """(U, T, D) tastes: community share, then general vs topic-specific individual part."""
    U, T, D, C = cfg.n_users, cfg.n_topics, cfg.n_dims, cfg.n_communities
    community_taste = rng.standard_normal((C, T, D))[community]
    general = rng.standard_normal((U, 1, D))
    specific = rng.standard_normal((U, T, D))
    own = np.sqrt(cfg.general_taste) * general + np.sqrt(1 - cfg.general_taste) * specific
    return np.sqrt(cfg.shared_taste) * community_taste + np.sqrt(1 - cfg.shared_taste) * own


def _sample_topics(rng: np.random.Generator, mix: np.ndarray, n: int) -> np.ndarray:
    """(U, n) topics drawn from each user's (U, T) mix, vectorized by inverse CDF."""
    cdf = np.cumsum(mix, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random((mix.shape[0], n))
    return (u[:, :, None] > cdf[:, None, :]).sum(axis=2)


def make_town(config: TownConfig | None = None, **overrides) -> Town:
    """Generate a town.

    Args:
        config: parameters; defaults to ``TownConfig()``.
        **overrides: fields of ``TownConfig`` to change, e.g. ``make_town(drift=1.0)``.

    Returns:
        A :class:`Town`. 10,000 users x 200 interactions take about a second.
    """
    cfg = replace(config or TownConfig(), **overrides)
    rng = np.random.default_rng(cfg.seed)
    U, N, T, D, C, A = (cfg.n_users, cfg.n_interactions, cfg.n_topics, cfg.n_dims,
                        cfg.n_communities, cfg.n_attributes)

    community = rng.integers(0, C, size=U)
    community_mix = rng.dirichlet(np.full(T, cfg.topic_focus), size=C)
    # a user's mix stays near the community's: Dirichlet centred on it
    alpha = community_mix[community] / cfg.user_topic_spread + 1e-3
    topic_mix = rng.gamma(alpha)
    topic_mix /= topic_mix.sum(axis=1, keepdims=True)
    topic_mix = (1 - cfg.exploration) * topic_mix + cfg.exploration / T

    taste_start = _tastes(cfg, rng, community)
    taste_end = _tastes(cfg, rng, community) if cfg.drift > 0 else taste_start.copy()
    # a fixed strength in a random direction, so seeds differ in direction, not in how much
    # the population agrees (a user's taste has the same expected squared norm, D)
    direction = rng.standard_normal(D)
    population = cfg.population_strength * np.sqrt(D) * direction / np.linalg.norm(direction)

    topic_centres = rng.standard_normal((T, D))
    topic = _sample_topics(rng, topic_mix, N)
    f32 = np.float32
    query = topic_centres[topic].astype(f32) + f32(cfg.query_noise) * rng.standard_normal((U, N, D), dtype=f32)
    time = np.sort(rng.random((U, N), dtype=f32), axis=1)

    candidates = rng.standard_normal((U, N, 2, D), dtype=f32)
    angle = f32(np.pi / 2 * cfg.drift) * time
    rows = np.arange(U)[:, None]
    start, end = taste_start.astype(f32), taste_end.astype(f32)
    taste_now = np.cos(angle)[..., None] * start[rows, topic]
    if cfg.drift > 0:
        taste_now += np.sin(angle)[..., None] * end[rows, topic]
    utility = np.einsum("und,und->un", taste_now + population.astype(f32),
                        candidates[:, :, 0] - candidates[:, :, 1])
    if cfg.choice_noise > 0:
        p_first = 0.5 * (1.0 + np.tanh(utility / (2 * cfg.choice_noise)))  # sigmoid, no overflow
    else:
        p_first = (utility > 0).astype(float)
    choice = (rng.random((U, N), dtype=f32) < p_first).astype(np.int64)

    # persona attributes: each a noisy sign of the user's general taste along a direction
    attribute_weights = rng.standard_normal((A, D)) / np.sqrt(D)
    mean_taste = taste_start.mean(axis=1)
    signal = mean_taste @ attribute_weights.T
    signal /= signal.std(axis=0, keepdims=True) + 1e-12
    attributes = (signal + cfg.attribute_noise * rng.standard_normal((U, A)) > 0).astype(np.int64)

    return Town(
        config=cfg, community=community, topic_mix=topic_mix.astype(f32),
        taste_start=start, taste_end=end,
        population=population.astype(f32), attributes=attributes,
        attribute_weights=attribute_weights.astype(f32), topic=topic,
        query=query, time=time, candidates=candidates,
        choice=choice, p_first=p_first.astype(f32), topic_centres=topic_centres.astype(f32),
    )


def topic_usage(town: Town, upto: int | None = None) -> np.ndarray:
    """(U, T) share of each user's queries on each topic: a coarse, input-side profile.

    Args:
        town: the town.
        upto: use only the first ``upto`` interactions of each history (default: all).
    """
    topics = town.topic if upto is None else town.topic[:, :upto]
    U, T = topics.shape[0], town.config.n_topics
    flat = (np.arange(U)[:, None] * T + topics).ravel()
    return np.bincount(flat, minlength=U * T).reshape(U, T) / topics.shape[1]

