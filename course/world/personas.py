"""Multi-persona users: a facet of the town in which one account holds several tastes (lesson 04).

The users and communities are the town's (:func:`course.world.make_town`); this facet adds a
catalog of items and, for every user, 1, 2 or 3 *personas* (say, the account holder, a
partner and a teenager sharing one streaming account). Nothing here encodes what a model
will achieve: the generator sets up regions and tastes, draws clicks, and the lesson's models
learn from the clicks alone.

Shapes use these letters: U users, G categories (the town's topics), M items, S style
dimensions, P the most personas a user can have (3), N clicks per user.

The catalog
-----------
The G categories sit in order around a ring ("the map" of the catalog): neighbours are
alike (jazz beside blues), so a stretch of the ring is a *region* of item space. Every item
belongs to one category and has S *style* features (calm or energetic, old or new, ...), drawn
independently. An item's latent features are its category's position on the ring
``(cos, sin)`` followed by its style: ``item_features`` (M, 2 + S).

The personas
------------
* A share ``persona_shares`` of users has 1, 2 or 3 personas; ``single_taste=True`` gives
  every user one (the lesson's "break it").
* A persona has a *home* on the ring and a *taste*, a vector in style space. The first
  persona is the town's user: its home is the direction of the user's topic interests in the
  town (topics laid out on the ring, so it follows the community), its taste the direction
  of the user's mean town taste (standardised). Further personas get a home uniformly on the ring and a
  taste of their own.
* A persona's interest in category ``g`` falls off with the distance from its home:
  ``exp(focus * cos(angle_g - home))``, normalised over categories. The user's category mix
  averages the personas' interests with equal weight.
* Each category is *owned* by the persona whose home is nearest (its interest there is the
  highest): every click on an item of that category is made by that persona. Which persona
  speaks therefore depends on the candidate's region of the catalog.

A click
-------
The user's clicks are drawn without replacement (nobody buys the same film twice) from
``P(i) = mix[u, g(i)] * softmax over items j of g(i) of (taste_strength * w . x_j / sqrt(S))``
where ``w`` is the taste of the persona that owns ``g(i)`` and ``x_j`` the style of item j.
The generating persona of every click is kept (``persona``) as ground truth, for judging
explanations; models never see it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .town import Town, check_fields

__all__ = ["PersonaConfig", "PersonaWorld", "make_personas", "RING_NAMES", "MAX_PERSONAS"]

#: most personas a user can have
MAX_PERSONAS = 3
#: names of the 16 categories in ring order (a town with another number of topics gets numbers)
RING_NAMES = ("classical", "opera", "jazz", "blues", "rock", "metal", "hip-hop", "action films",
              "sci-fi", "fantasy", "strategy games", "puzzle games", "crime novels", "history",
              "documentaries", "poetry")


@dataclass(frozen=True)
class PersonaConfig:
    """Parameters of the multi-persona facet. Every field has a documented default.

    Attributes:
        items_per_category: items in each of the G categories (M = G x this).
        n_style: style dimensions S of an item (what a taste is about).
        persona_shares: shares of users with 1, 2 and 3 personas (sum 1).
        single_taste: give every user exactly one persona, whatever ``persona_shares`` says.
        focus: how tightly a persona's interests cluster around its home on the ring
            (von Mises concentration: 0 = all categories alike; 3 = a few neighbouring ones).
        taste_strength: standard deviation of a persona's preference between items of one
            category, in logits (0 = picks at random within a category).
        n_clicks: clicks N per user (distinct items).
        n_test: clicks per user held out for evaluation (a random subset of the N).
        seed: seed of the facet's own draws (the town has its own).
    """

    items_per_category: int = 40
    n_style: int = 4
    persona_shares: tuple[float, float, float] = (0.4, 0.3, 0.3)
    single_taste: bool = False
    focus: float = 3.0
    taste_strength: float = 2.0
    n_clicks: int = 100
    n_test: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self, counts=("items_per_category", "n_style", "n_clicks", "n_test"),
                     non_negative=("focus", "taste_strength"))
        shares = np.asarray(self.persona_shares, dtype=float)
        if shares.shape != (MAX_PERSONAS,) or np.any(shares < 0) or abs(shares.sum() - 1) > 1e-9:
            raise ValueError(f"persona_shares must be {MAX_PERSONAS} non-negative shares summing "
                             f"to 1 (users with 1, 2, 3 personas), got {self.persona_shares}")
        if self.n_test >= self.n_clicks:
            raise ValueError(f"n_test must be below n_clicks ({self.n_clicks}), got {self.n_test}")


@dataclass
class PersonaWorld:
    """The facet: a catalog, every user's personas, and their clicks. Arrays only.

    Attributes:
        config: the parameters it was generated with.
        town: the town whose users these are.
        category: (M,) int, each item's category (items are grouped by category).
        item_features: (M, 2 + S) float, ring position (cos, sin) then style.
        category_names: (G,) names of the categories, in ring order.
        n_personas: (U,) int in {1, 2, 3}, each user's true number of personas.
        home: (U, P) float, each persona's home angle on the ring (NaN where absent).
        taste: (U, P, S) float, each persona's taste (NaN where absent).
        owner: (U, G) int, the persona that clicks in each category for each user.
        category_mix: (U, G) float, share of each user's clicks in each category.
        clicks: (U, N) int, the items each user clicked, in random order.
        persona: (U, N) int, the persona that made each click (ground truth, never shown
            to a model).
    """

    config: PersonaConfig
    town: Town = field(repr=False)
    category: np.ndarray
    item_features: np.ndarray
    category_names: tuple[str, ...]
    n_personas: np.ndarray
    home: np.ndarray
    taste: np.ndarray
    owner: np.ndarray
    category_mix: np.ndarray
    clicks: np.ndarray
    persona: np.ndarray

    @property
    def n_users(self) -> int:
        return self.clicks.shape[0]

    @property
    def n_items(self) -> int:
        return self.category.shape[0]

    @property
    def train(self) -> np.ndarray:
        """(U, N - n_test) the clicks a model learns from."""
        return self.clicks[:, self.config.n_test:]

    @property
    def test(self) -> np.ndarray:
        """(U, n_test) the held-out clicks a model is judged on."""
        return self.clicks[:, :self.config.n_test]

    @property
    def train_persona(self) -> np.ndarray:
        return self.persona[:, self.config.n_test:]

    @property
    def test_persona(self) -> np.ndarray:
        return self.persona[:, :self.config.n_test]

    def counts(self) -> np.ndarray:
        """(U, M) float32 training clicks per user and item (the models' input)."""
        out = np.zeros((self.n_users, self.n_items), dtype=np.float32)
        np.put_along_axis(out, self.train, 1.0, axis=1)
        return out

    def preference(self) -> np.ndarray:
        """(U, M) how much the persona that owns each item's category likes the item, in logits
        (``taste_strength * w . x / sqrt(S)``): what decides between items of one category."""
        rows = np.arange(self.n_users)[:, None]
        speaker = self.taste[rows, self.owner[:, self.category]]           # (U, M, S)
        style = self.item_features[:, 2:]
        return (self.config.taste_strength / np.sqrt(self.config.n_style)
                * np.einsum("ums,ms->um", speaker, style))

    def log_prob(self) -> np.ndarray:
        """(U, M) the true log-probability of each user's next click on each item (before
        removing items already clicked): the ranking an oracle that knows the personas uses."""
        U, G = self.n_users, len(self.category_names)
        grouped = self.preference().reshape(U, G, -1)                       # items grouped by category
        top = grouped.max(axis=2, keepdims=True)
        within = grouped - top - np.log(np.exp(grouped - top).sum(axis=2, keepdims=True))
        return np.log(self.category_mix[:, self.category] + 1e-12) + within.reshape(U, -1)


def make_personas(town: Town, config: PersonaConfig | None = None, **overrides) -> PersonaWorld:
    """Generate the multi-persona facet of a town.

    Args:
        town: the town (its users, communities, topic interests and tastes are used).
        config: parameters; defaults to ``PersonaConfig()``.
        **overrides: fields of ``PersonaConfig`` to change, e.g. ``single_taste=True``.

    Returns:
        A :class:`PersonaWorld`. 1,000 users x 640 items take well under a second.
    """
    cfg = replace(config or PersonaConfig(), **overrides)
    rng = np.random.default_rng([cfg.seed, town.config.seed])
    U, G, S, P = town.n_users, town.config.n_topics, cfg.n_style, MAX_PERSONAS
    names = RING_NAMES if G == len(RING_NAMES) else tuple(f"category {g}" for g in range(G))

    angle = 2 * np.pi * np.arange(G) / G                                  # categories on the ring
    category = np.repeat(np.arange(G), cfg.items_per_category)
    style = rng.standard_normal((category.size, S))
    features = np.column_stack([np.cos(angle[category]), np.sin(angle[category]), style])

    n_personas = 1 + rng.choice(P, size=U, p=cfg.persona_shares)
    if cfg.single_taste:
        n_personas[:] = 1
    present = np.arange(P)[None, :] < n_personas[:, None]                # (U, P)

    # persona 1 is the town's user: home where its topics point, taste its mean town taste
    first_home = np.angle(town.topic_mix @ np.exp(1j * angle))
    home = np.column_stack([first_home, rng.uniform(0, 2 * np.pi, size=(U, P - 1))])
    taste = rng.standard_normal((U, P, S))
    D = min(S, town.config.n_dims)
    town_taste = town.taste_start.mean(axis=1)[:, :D]                     # (U, D)
    taste[:, 0, :D] = town_taste / (town_taste.std(axis=0) + 1e-12)       # entries ~ N(0, 1)

    interest = np.exp(cfg.focus * np.cos(angle[None, None, :] - home[:, :, None]))  # (U, P, G)
    interest /= interest.sum(axis=2, keepdims=True)
    interest = np.where(present[:, :, None], interest, 0.0)
    owner = interest.argmax(axis=1)                                       # nearest home
    category_mix = interest.sum(axis=1) / n_personas[:, None]

    world = PersonaWorld(
        config=cfg, town=town, category=category, item_features=features,
        category_names=names, n_personas=n_personas,
        home=np.where(present, home, np.nan), taste=np.where(present[:, :, None], taste, np.nan),
        owner=owner, category_mix=category_mix,
        clicks=np.empty((U, cfg.n_clicks), dtype=np.int64),
        persona=np.empty((U, cfg.n_clicks), dtype=np.int64))
    # draws without replacement in proportion to P(i): Gumbel top-N, then a random order
    keys = world.log_prob() + rng.gumbel(size=(U, category.size))
    chosen = np.argpartition(-keys, cfg.n_clicks - 1, axis=1)[:, :cfg.n_clicks]
    world.clicks = rng.permuted(chosen, axis=1)
    world.persona = np.take_along_axis(owner, category[world.clicks], axis=1)
    return world
