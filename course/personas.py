"""One account, several tastes: a single user vector vs candidate-conditioned personas (lesson 04).

Models (:class:`PersonaRecommender`, a scikit-learn estimator trained with PyTorch):

* ``"single"``: matrix factorization, one vector ``u`` per user; score ``u . v_i + b_i``.
* ``"amp"``: AMP-CF's idea (Barkan et al., RecSys 2020) in a small faithful form: K persona
  vectors per user, attention ``a_k(i) = softmax_k(u_k . v_i / T)`` conditioned on the
  candidate ``i``, score ``(sum_k a_k(i) u_k) . v_i + b_i``. With K = 1 it *is* ``"single"``.
  (The paper's architecture beyond its abstract is not verified here; this is the course's
  version, see ``../shared/RESEARCH_NOTES.md``.)
* ``"max"``: K personas, score ``max_k u_k . v_i + b_i`` (the limit T -> 0 of ``"amp"``).

All are trained the same way: a softmax over the whole catalog per user (the multinomial
likelihood of the user's clicks; sampled softmax with every item sampled), Adam, an L2 prior,
full-catalog evaluation. Nothing in a model knows the true personas; they are used only to
split results and to judge explanations.
"""
from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn
from tqdm.auto import tqdm

from . import metrics
from .checks import twin
from .world import TownConfig, make_town
from .world.personas import MAX_PERSONAS, PersonaConfig, PersonaWorld, make_personas

__all__ = ["persona_attention", "amp_scores", "ndcg_at_k", "hit_rate_at_k", "match_personas",
           "taste_distance", "PersonaRecommender", "MODELS", "LESSON_TOWN", "N_DIMS",
           "N_PERSONAS", "lesson_world", "fit_models", "select_l2", "rank_counts", "evaluate",
           "top_personas", "explanations", "recommended_categories", "describe_persona",
           "ndcg_parts", "recommendation_explanations", "explain_recommendations",
           "per_user_ndcg", "summarize", "reproduce"]

#: the lesson's town: the library defaults with 1,000 users (the facet adds 640 items)
LESSON_TOWN = TownConfig(n_users=1000)
#: dimension d of a persona (and of the small single vector)
N_DIMS = 8
#: personas K per user in the persona models (the most a user of the town has)
N_PERSONAS = MAX_PERSONAS
#: the four models of the lesson. Each L2 strength was chosen per model by :func:`select_l2`
#: on two validation towns (seeds 100 and 101, never used for results) from
#: {1, 2, 3, 4, 5, 6, 7, 10}, by NDCG@10 over all users, so that the single vectors are not
#: handicapped by the persona models' setting.
MODELS = {
    "single": dict(model="single", n_dims=N_DIMS, l2=5.0),
    "single_kd": dict(model="single", n_dims=N_PERSONAS * N_DIMS, l2=6.0),
    "amp": dict(model="amp", n_dims=N_DIMS, n_personas=N_PERSONAS, l2=4.0),
    "max": dict(model="max", n_dims=N_DIMS, n_personas=N_PERSONAS, l2=4.0),
}
_KINDS = ("single", "amp", "max")


# ---------------------------------------------------------------- the exercises' twins (NumPy)

def _check_temperature(temperature: float) -> None:
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number, got {temperature}")


# The helpers that compute an exercise's answer are twins too: a student who calls them (or a
# library function built on them, such as ``evaluate``) inside ``checking()`` is refused.

@twin
def _attention(dots: np.ndarray, temperature: float, axis: int = -1) -> np.ndarray:
    """Softmax over ``axis`` of ``dots / temperature``, stable for huge logits."""
    z = dots / temperature
    z = np.exp(z - z.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def _persona_dots(personas, items) -> np.ndarray:
    personas, items = np.asarray(personas, dtype=float), np.asarray(items, dtype=float)
    if personas.ndim != 3 or items.ndim != 2 or personas.shape[2] != items.shape[1]:
        raise ValueError(f"personas must be (B, K, d) and items (M, d) with the same d, got "
                         f"{personas.shape} and {items.shape}")
    return np.einsum("bkd,md->bmk", personas, items)


@twin
def persona_attention(personas, items, temperature: float = 1.0) -> np.ndarray:
    """Attention of each user's personas on each candidate item.

    Args:
        personas: (B, K, d) K persona vectors for each of B users.
        items: (M, d) item vectors.
        temperature: T > 0; small T makes the attention nearly one-hot.

    Returns:
        (B, M, K) weights ``softmax_k(u_k . v_i / T)``; each (b, i) row sums to 1.
    """
    _check_temperature(temperature)
    return _attention(_persona_dots(personas, items), temperature)


@twin
def amp_scores(personas, items, temperature: float = 1.0) -> np.ndarray:
    """AMP-CF's score ``(sum_k a_k(i) u_k) . v_i`` for every user and item: (B, M)."""
    _check_temperature(temperature)
    dots = _persona_dots(personas, items)
    return (_attention(dots, temperature) * dots).sum(axis=-1)


_DISCOUNT = 1.0 / np.log2(np.arange(2, 10_002))        # 1 / log2(position + 1), positions 1..


@twin
def _expected_at_k(greater, ties, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected (NDCG@k, HR@k) of one relevant item with ``greater`` items scored above it and
    ``ties`` others scored equal, when ties are broken uniformly at random."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    cum = np.concatenate([[0.0], np.cumsum(_DISCOUNT[:k])])
    first, last = np.minimum(greater, k), np.minimum(greater + ties + 1, k)
    return (cum[last] - cum[first]) / (ties + 1), (last - first) / (ties + 1)


def _row_counts(scores, target) -> tuple[np.ndarray, np.ndarray]:
    scores, target = np.asarray(scores, dtype=float), np.asarray(target)
    if scores.ndim != 2 or target.shape != (scores.shape[0],):
        raise ValueError(f"scores must be (n, M) and target (n,), got {scores.shape} and {target.shape}")
    if target.size and (target.min() < 0 or target.max() >= scores.shape[1]):
        raise ValueError(f"target must hold item ids in [0, {scores.shape[1]}), "
                         f"got values from {target.min()} to {target.max()}")
    mine = scores[np.arange(len(target)), target]
    if np.isnan(scores).any() or not np.isfinite(mine).all():
        raise ValueError("scores must not be NaN and the target items' scores must be finite "
                         "(use -inf only to exclude other items)")
    greater = (scores > mine[:, None]).sum(axis=1)
    ties = (scores == mine[:, None]).sum(axis=1) - 1
    return greater, ties


@twin
def ndcg_at_k(scores, target, k: int = 10) -> np.ndarray:
    """NDCG@k of one relevant item per row, ranking the whole row; ties broken at random.

    Args:
        scores: (n, M) a score for every item; ``-inf`` excludes an item (e.g. already seen).
        target: (n,) the relevant item of each row.
        k: cut-off.

    Returns:
        (n,) the *expected* NDCG@k when items tied with the target are ordered uniformly at
        random: ``mean over positions p in [g+1, g+t+1] of [p <= k] / log2(p + 1)``, with g
        items scored above the target and t others tied with it. (A constant scorer gets the
        chance value, not 1.)
    """
    return _expected_at_k(*_row_counts(scores, target), k)[0]


def hit_rate_at_k(scores, target, k: int = 10) -> np.ndarray:
    """(n,) expected HR@k (the target in the top k), same conventions as :func:`ndcg_at_k`."""
    return _expected_at_k(*_row_counts(scores, target), k)[1]


@twin
def _best_matching(counts: np.ndarray) -> np.ndarray:
    K = counts.shape[1]
    perms = np.array(list(itertools.permutations(range(K))))              # (K!, K)
    total = counts[:, np.arange(K)[None, :], perms].sum(axis=2)            # (U, K!)
    return perms[total.argmax(axis=1)]


@twin
def match_personas(counts) -> np.ndarray:
    """Match each user's learned personas to true ones (an assignment problem per user).

    Args:
        counts: (U, K, K) ``counts[u, k, j]`` = how often learned persona k and true persona
            j go together (e.g. on the user's training clicks). Pad with zero columns when a
            user has fewer true personas.

    Returns:
        (U, K) int: ``match[u, k]`` is the true persona matched to learned persona k, a
        permutation per user maximizing ``sum_k counts[u, k, match[u, k]]`` (what
        ``scipy.optimize.linear_sum_assignment(counts[u], maximize=True)`` solves one user at a
        time). All K! matchings are tried at once, exact and batched for small K.
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 3 or counts.shape[1] != counts.shape[2]:
        raise ValueError(f"counts must be (U, K, K), got shape {counts.shape}")
    if counts.shape[1] > 6:
        raise ValueError(f"match_personas tries all K! matchings: K must be at most 6, "
                         f"got {counts.shape[1]}")
    return _best_matching(counts)


@twin
def _category_shares(cats: np.ndarray, n_categories: int) -> np.ndarray:
    rows = np.arange(cats.shape[0])[:, None]
    flat = (rows * n_categories + cats).ravel()
    hist = np.bincount(flat, minlength=cats.shape[0] * n_categories)
    return hist.reshape(cats.shape[0], n_categories) / cats.shape[1]


def _tv(history: np.ndarray, recommended: np.ndarray, n_categories: int) -> np.ndarray:
    return 0.5 * np.abs(_category_shares(history, n_categories)
                        - _category_shares(recommended, n_categories)).sum(axis=1)


@twin
def taste_distance(history, recommended, n_categories: int) -> np.ndarray:
    """Distance between the tastes of a user's history and of their recommendations.

    Args:
        history: (U, n_h) category of each item in each user's history.
        recommended: (U, n_r) category of each recommended item.
        n_categories: number of categories G (ids in [0, G)).

    Returns:
        (U,) total variation distance between the two category distributions, in [0, 1]:
        ``0.5 * sum_g |share of g in history - share of g in recommendations|``.
    """
    history, recommended = np.asarray(history), np.asarray(recommended)
    for name, a in (("history", history), ("recommended", recommended)):
        if a.ndim != 2 or a.shape[1] == 0 or a.min() < 0 or a.max() >= n_categories:
            raise ValueError(f"{name} must be (U, n) with n >= 1 and category ids in "
                             f"[0, {n_categories}), got shape {a.shape}")
    if history.shape[0] != recommended.shape[0]:
        raise ValueError(f"history and recommended must have one row per user, got "
                         f"{history.shape[0]} and {recommended.shape[0]} rows")
    return _tv(history, recommended, n_categories)


# ---------------------------------------------------------------------------- the estimator

class _Net(nn.Module):
    def __init__(self, n_users: int, n_items: int, n_dims: int, n_personas: int, kind: str,
                 temperature: float, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        # one draw for (U, K, d): with K = 1 the same numbers as a single vector's (U, d)
        self.users = nn.Parameter(0.1 * torch.randn(n_users, n_personas, n_dims, generator=g))
        self.items = nn.Parameter(0.1 * torch.randn(n_items, n_dims, generator=g))
        self.bias = nn.Parameter(torch.zeros(n_items))
        self.kind, self.temperature = kind, temperature

    def forward(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores (B, M) and attention (B, K, M) of a batch of users over the catalog."""
        dots = torch.einsum("bkd,md->bkm", self.users[users], self.items)
        if self.kind == "single":
            weights = torch.ones_like(dots[:, :1])
            scores = dots[:, 0]
        elif self.kind == "max":
            scores, top = dots.max(dim=1)
            weights = nn.functional.one_hot(top, dots.shape[1]).transpose(1, 2).to(dots.dtype)
        else:
            weights = torch.softmax(dots / self.temperature, dim=1)
            scores = (weights * dots).sum(dim=1)
        return scores + self.bias, weights


class PersonaRecommender(BaseEstimator):
    """Implicit-feedback recommender with one vector or K personas per user (scikit-learn contract).

    Args:
        model: ``"single"`` (one vector), ``"amp"`` (candidate-conditioned attention over
            personas) or ``"max"`` (the best persona per item); see the module docstring.
        n_dims: dimension d of each user vector, persona and item vector.
        n_personas: personas K per user for ``"amp"`` and ``"max"`` (``"single"`` has one).
        temperature: T > 0 of the attention (``"amp"`` only).
        l2: strength of the Gaussian prior on user and item vectors, in clicks (the penalty
            ``l2 * squared norms`` is added to the summed negative log-likelihood).
        epochs: passes over the users (Adam steps when ``batch_size`` covers every user).
        lr: Adam's learning rate.
        batch_size: users per step.
        random_state: seed of initialization and shuffling.
        progress: show a progress bar while training.

    ``X`` is a (U, M) array of click counts (user u clicked item i ``X[u, i]`` times). The
    model learns one row of vectors per user of ``X``, so it predicts for those users, by
    index (``users``: ids in [0, U), default all).
    """

    def __init__(self, model: str = "amp", n_dims: int = N_DIMS, n_personas: int = N_PERSONAS,
                 temperature: float = 1.0, l2: float = 3.0, epochs: int = 150, lr: float = 0.05,
                 batch_size: int = 1024, random_state: int | None = 0, progress: bool = False):
        self.model = model
        self.n_dims = n_dims
        self.n_personas = n_personas
        self.temperature = temperature
        self.l2 = l2
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state
        self.progress = progress

    def _validate(self) -> None:
        if self.model not in _KINDS:
            raise ValueError(f"model must be one of {', '.join(map(repr, _KINDS))}, got {self.model!r}")
        for name in ("n_dims", "n_personas", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
        _check_temperature(self.temperature)
        if self.l2 < 0 or self.lr <= 0:
            raise ValueError(f"l2 must be >= 0 and lr > 0, got l2={self.l2}, lr={self.lr}")

    @property
    def personas_(self) -> int:
        return 1 if self.model == "single" else self.n_personas

    def fit(self, X, y=None) -> "PersonaRecommender":
        """Learn user and item vectors from click counts ``X`` (U, M); ``y`` is ignored."""
        self._validate()
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or not np.isfinite(X).all() or (X < 0).any():
            raise ValueError(f"X must be a (U, M) array of non-negative click counts, got shape "
                             f"{X.shape}")
        counts = torch.as_tensor(X)
        clicks = counts.sum(dim=1)
        total = float(clicks.sum())
        if total == 0:
            raise ValueError("X holds no clicks")
        seed = 0 if self.random_state is None else int(self.random_state)
        self.n_users_, self.n_items_ = X.shape
        self.net_ = _Net(*X.shape, self.n_dims, self.personas_, self.model, self.temperature, seed)
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr)
        gen = torch.Generator().manual_seed(seed)
        steps = self.epochs * -(-X.shape[0] // self.batch_size)
        with tqdm(total=steps, desc=f"training {self.model}", disable=not self.progress) as bar:
            for _ in range(self.epochs):
                for batch in torch.randperm(X.shape[0], generator=gen).split(self.batch_size):
                    scores, _ = self.net_(batch)
                    nll = (clicks[batch] * torch.logsumexp(scores, 1)).sum() - (counts[batch] * scores).sum()
                    n = float(clicks[batch].sum())
                    prior = (self.net_.users[batch].pow(2).sum()
                             + self.net_.items.pow(2).sum() * n / total)
                    loss = (nll + self.l2 * prior) / max(n, 1.0)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    bar.update()
        return self

    def _users(self, users) -> torch.Tensor:
        if not hasattr(self, "net_"):
            raise ValueError("this PersonaRecommender is not fitted yet: call fit(X) first")
        if users is None:
            return torch.arange(self.n_users_)
        users = np.asarray(users)
        if users.ndim != 1 or not np.issubdtype(users.dtype, np.integer) or (
                users.size and (users.min() < 0 or users.max() >= self.n_users_)):
            raise ValueError(f"users must be a 1-D array of integer ids in [0, {self.n_users_}), "
                             f"got {users if users.size < 10 else users.shape}")
        return torch.as_tensor(users)

    @torch.no_grad()
    def decision_function(self, users=None) -> np.ndarray:
        """(n, M) score of every item for each user (higher = recommended first)."""
        return np.concatenate([self.net_(b)[0].numpy() for b in self._users(users).split(4096)])

    @torch.no_grad()
    def attention(self, users=None) -> np.ndarray:
        """(n, M, K) weight of each persona for each candidate item (one-hot for ``"max"``)."""
        return np.concatenate([self.net_(b)[1].transpose(1, 2).numpy()
                               for b in self._users(users).split(4096)])

    def predict(self, users=None, k: int = 10, exclude=None) -> np.ndarray:
        """(n, k) the top-k items for each user, best first; ``exclude`` (n, M) > 0 removes
        items (e.g. the clicks ``X`` it was trained on). Ties go to the lower item id."""
        scores = self.decision_function(users).astype(float)
        if exclude is not None:
            scores[np.asarray(exclude) > 0] = -np.inf
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]

    def user_vectors(self) -> np.ndarray:
        """(U, K, d) learned persona vectors (K = 1 for ``"single"``)."""
        return self.net_.users.detach().numpy().copy()

    def item_vectors(self) -> np.ndarray:
        """(M, d) learned item vectors."""
        return self.net_.items.detach().numpy().copy()


# ------------------------------------------------------------------------ experiments

def lesson_world(seed: int = 0, **overrides) -> PersonaWorld:
    """The lesson's facet of the town ``LESSON_TOWN`` with ``seed`` (both seeded by it)."""
    return make_personas(make_town(replace(LESSON_TOWN, seed=seed)), PersonaConfig(seed=seed),
                         **overrides)


def fit_models(world: PersonaWorld, names=tuple(MODELS), random_state: int = 0,
               progress: bool = False, **params) -> dict[str, PersonaRecommender]:
    """Fit the named models of :data:`MODELS` on the world's training clicks."""
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown model name(s) {unknown}; known: {', '.join(MODELS)}")
    X = world.counts()
    return {name: PersonaRecommender(**{**MODELS[name], **params}, random_state=random_state,
                                     progress=progress).fit(X) for name in names}


def select_l2(grid=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 10.0), seeds=(100, 101),
              names=tuple(MODELS)) -> dict[str, dict[float, float]]:
    """How :data:`MODELS`' L2 strengths were chosen: mean NDCG@10 over all users of each model
    at each strength, averaged over validation towns (seeds never used for results)."""
    table = {name: {} for name in names}
    for seed in seeds:
        world = lesson_world(seed)
        for name in names:
            for l2 in grid:
                model = fit_models(world, [name], random_state=seed, l2=l2)[name]
                score = evaluate(model.decision_function(), world)["ndcg"].mean() / len(seeds)
                table[name][l2] = table[name].get(l2, 0.0) + float(score)
    return table


def rank_counts(scores: np.ndarray, world: PersonaWorld) -> tuple[np.ndarray, np.ndarray]:
    """For every held-out click (U, n_test): how many candidate items score above it and how
    many tie with it. Candidates are the items the user never clicked (train or test)."""
    scores = np.asarray(scores, dtype=float)
    seen = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(seen, world.clicks, True, axis=1)
    target = np.take_along_axis(scores, world.test, axis=1)                # (U, n)
    greater = np.empty(target.shape, dtype=np.int64)
    ties = np.empty(target.shape, dtype=np.int64)
    for rows in np.array_split(np.arange(scores.shape[0]), max(1, scores.shape[0] // 256)):
        s, t, free = scores[rows, None, :], target[rows, :, None], ~seen[rows, None, :]
        greater[rows] = ((s > t) & free).sum(axis=2)
        ties[rows] = ((s == t) & free).sum(axis=2)
    return greater, ties


def evaluate(scores: np.ndarray, world: PersonaWorld, k: int = 10) -> dict[str, np.ndarray]:
    """Per-user NDCG@k and HR@k (means over the user's held-out clicks) and per-click NDCG.

    Args:
        scores: (U, M) every user's score of every item.
        world: the facet (held-out clicks and what each user clicked).

    Returns:
        ``{"ndcg": (U,), "hr": (U,), "ndcg_click": (U, n_test)}``.
    """
    ndcg, hr = _expected_at_k(*rank_counts(scores, world), k)
    return {"ndcg": ndcg.mean(axis=1), "hr": hr.mean(axis=1), "ndcg_click": ndcg}


def top_personas(model: PersonaRecommender, items: np.ndarray) -> np.ndarray:
    """(U, n) the persona with the largest attention on each user's listed items (U, n)."""
    weights = model.attention()                                            # (U, M, K)
    return np.take_along_axis(weights.argmax(axis=2), items, axis=1)


def explanations(model: PersonaRecommender, world: PersonaWorld) -> dict:
    """Explanation faithfulness on users with two or more true personas.

    Learned personas are matched to true ones per user on the *training* clicks (which
    learned persona has the top attention vs which true persona made the click); an
    explanation of a held-out click (the top-attention persona) is faithful when it is
    matched to the persona that truly made it.

    Returns:
        ``faithfulness``; ``chance``: the rate of naming a persona at random with the user's
        training frequencies; ``majority``: the rate of always naming the user's most active
        persona; ``n_clicks``: held-out clicks judged; ``match``: (U, P) the matching.
    """
    K = max(model.personas_, MAX_PERSONAS)
    learned = top_personas(model, world.clicks)
    n_test = world.config.n_test
    rows = np.arange(world.n_users)[:, None]
    counts = np.zeros((world.n_users, K, K))
    np.add.at(counts, (rows, learned[:, n_test:], world.train_persona), 1)
    match = _best_matching(counts)
    named = np.take_along_axis(match, learned[:, :n_test], axis=1)
    share = counts.sum(axis=1) / counts.sum(axis=(1, 2))[:, None]          # (U, K) true shares
    multi = world.n_personas >= 2
    truth = world.test_persona[multi]
    return {"faithfulness": float((named[multi] == truth).mean()),
            "chance": float(np.take_along_axis(share[multi], truth, axis=1).mean()),
            "majority": float((truth == share[multi].argmax(axis=1)[:, None]).mean()),
            "n_clicks": int(truth.size), "match": match}


def recommended_categories(model: PersonaRecommender, world: PersonaWorld, k: int = 10) -> np.ndarray:
    """(U, k) categories of each user's top-k recommendations (clicked items excluded)."""
    seen = np.zeros((world.n_users, world.n_items))
    np.put_along_axis(seen, world.clicks, 1.0, axis=1)
    return world.category[model.predict(k=k, exclude=seen)]


def describe_persona(model: PersonaRecommender, world: PersonaWorld, user: int, persona: int,
                     top: int = 2) -> str:
    """"the one who clicks jazz and blues": the categories where ``persona`` of ``user`` has the
    top attention most often among the user's training clicks."""
    weights = model.attention(np.array([user]))[0]                         # (M, K)
    items = world.train[user]
    mine = items[weights[items].argmax(axis=1) == persona]
    if mine.size == 0:
        return "a persona that none of the user's clicks calls on"
    hist = np.bincount(world.category[mine], minlength=len(world.category_names))
    names = [world.category_names[g] for g in np.argsort(-hist, kind="stable")[:top] if hist[g]]
    return "the one who clicks " + " and ".join(names)


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = x.max(axis=axis, keepdims=True)
    return top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))


def ndcg_parts(scores: np.ndarray, world: PersonaWorld, k: int = 10) -> dict[str, np.ndarray]:
    """Split a model's ranking into its two decisions and score each alone (NDCG@k per user).

    A score ranks by *which categories* (the model's share of each category, the softmax mass
    of its items) and by *which items inside a category* (the softmax within it). ``"within"``
    keeps the model's order inside categories and takes the category mix from the truth;
    ``"across"`` keeps the model's category mix and takes the order inside categories from
    the truth. The oracle scores the same in both.

    Returns:
        ``{"within": (U,), "across": (U,)}``.
    """
    U, G = world.n_users, len(world.category_names)
    grouped = np.asarray(scores, dtype=float).reshape(U, G, -1)     # items grouped by category
    mass = _logsumexp(grouped, axis=2)                                # (U, G, 1) log category mass
    inside = grouped - mass
    share = mass[:, :, 0] - _logsumexp(mass[:, :, 0], axis=1)
    true_share = np.log(world.category_mix + 1e-12)
    true_inside = world.log_prob().reshape(U, G, -1) - true_share[:, :, None]
    return {"within": evaluate((true_share[:, :, None] + inside).reshape(U, -1), world, k)["ndcg"],
            "across": evaluate((share[:, :, None] + true_inside).reshape(U, -1), world, k)["ndcg"]}


def recommendation_explanations(model: PersonaRecommender, world: PersonaWorld,
                                match: np.ndarray, k: int = 5) -> dict:
    """Are the explanations of *recommendations* right? Each user's top-k recommendations
    (clicked items excluded) and the persona with the top attention on each, numbered by
    ``match`` (learned -> true, from :func:`explanations`), against the true owner of the
    item's category: the persona who would click it.

    Returns:
        ``items``, ``named``, ``owner``: (U, k) ints; ``right``: (U, k) bool; and on users with
        two or more true personas ``faithfulness`` (the share right) and ``chance`` (naming a
        persona at random with the user's training frequencies).
    """
    seen = np.zeros((world.n_users, world.n_items))
    np.put_along_axis(seen, world.clicks, 1.0, axis=1)
    items = model.predict(k=k, exclude=seen)
    named = np.take_along_axis(match, top_personas(model, items), axis=1)
    owner = np.take_along_axis(world.owner, world.category[items], axis=1)
    share = np.stack([(world.train_persona == j).mean(axis=1) for j in range(match.shape[1])], axis=1)
    multi, right = world.n_personas >= 2, named == owner
    return {"items": items, "named": named, "owner": owner, "right": right,
            "faithfulness": float(right[multi].mean()),
            "chance": float(np.take_along_axis(share, owner, axis=1)[multi].mean())}


def explain_recommendations(model: PersonaRecommender, world: PersonaWorld, user: int,
                            recs: dict) -> list[str]:
    """One sentence per recommendation of ``user`` in ``recs`` (from
    :func:`recommendation_explanations`): the item, the persona named (described by what its
    learned persona attends to), and whether that persona owns the item's category in the
    ground truth."""
    items = recs["items"][user]
    learned = model.attention(np.array([user]))[0, items].argmax(axis=1)
    lines = []
    for item, k_, named, owner in zip(items, learned, recs["named"][user], recs["owner"][user]):
        where = world.category_names[world.category[item]]
        rank = item - np.flatnonzero(world.category == world.category[item])[0]
        verdict = "right" if named == owner else f"wrong: {where} is persona {owner + 1}'s"
        lines.append(f"{where} #{rank}: recommended because of persona {named + 1}, "
                     f"{describe_persona(model, world, user, k_)} ({verdict})")
    return lines


def _by_personas(values: np.ndarray, world: PersonaWorld) -> list[float]:
    return [float(values[world.n_personas == p].mean()) if (world.n_personas == p).any()
            else float("nan") for p in range(1, MAX_PERSONAS + 1)]


def per_user_ndcg(world: PersonaWorld, fitted: dict[str, PersonaRecommender],
                  k: int = 10) -> dict[str, np.ndarray]:
    """``{name: (U,) NDCG@k}`` for every fitted model, and ``"oracle"`` (the true probabilities)."""
    scores = {name: m.decision_function() for name, m in fitted.items()}
    return {name: evaluate(s, world, k)["ndcg"]
            for name, s in {**scores, "oracle": world.log_prob()}.items()}


def summarize(world: PersonaWorld, fitted: dict[str, PersonaRecommender], k: int = 10,
              n_boot: int = 2000, random_state: int = 0) -> dict:
    """The lesson's table: NDCG@k by true number of personas for every fitted model (and the
    oracle), the AMP - single gains with paired bootstrap intervals, explanations and taste
    distances. ``fitted`` must hold ``"single"`` and ``"amp"``."""
    ndcg = per_user_ndcg(world, fitted, k)
    multi = world.n_personas >= 2
    gain = {f"gain_{part}": metrics.paired_bootstrap_gap(
                ndcg["amp"][mask], ndcg["single"][mask], n_boot, random_state)
            if mask.any() else {"mean": float("nan"), "ci95": [float("nan")] * 2}
            for part, mask in (("multi", multi), ("single", ~multi))}
    history = world.category[world.train]
    G = len(world.category_names)
    expl = explanations(fitted["amp"], world)
    recs = recommendation_explanations(fitted["amp"], world, expl["match"])
    return {
        "by_personas": {"n_personas": list(range(1, MAX_PERSONAS + 1)),
                        **{name: _by_personas(r, world) for name, r in ndcg.items()},
                        "users": [int((world.n_personas == p).sum()) for p in range(1, MAX_PERSONAS + 1)]},
        **gain,
        "explanation": {key: expl[key] for key in ("faithfulness", "chance", "majority", "n_clicks")},
        "recommendation_explanation": {key: recs[key] for key in ("faithfulness", "chance")},
        "taste_distance": {name: _by_personas(_tv(history, recommended_categories(m, world, k), G),
                                              world) for name, m in fitted.items()},
        "ndcg": {name: float(r.mean()) for name, r in ndcg.items()},
    }


def _mean_ndcg(model: PersonaRecommender, world: PersonaWorld) -> float:
    return float(evaluate(model.decision_function(), world)["ndcg"].mean())


def reproduce(seed: int = 0, progress: bool = False) -> dict:
    """The lesson's headline: NDCG@10 by true number of personas for the four models, the
    AMP - single gains, explanation faithfulness, and the two ways to break the effect."""
    from .persona_chat import persona_chat_or_skip

    world = lesson_world(seed)
    fitted = fit_models(world, random_state=seed, progress=progress)
    result = summarize(world, fitted, random_state=seed)
    flat = lesson_world(seed, single_taste=True)
    flat_fitted = fit_models(flat, ("single", "amp"), random_state=seed, progress=progress)
    k1 = fit_models(world, ("amp",), random_state=seed, progress=progress, n_personas=1,
                    l2=MODELS["single"]["l2"])["amp"]
    return {**result,
            "single_taste_town": {name: _mean_ndcg(m, flat) for name, m in flat_fitted.items()},
            "k1_equals_single": {"amp": _mean_ndcg(k1, world), "single": result["ndcg"]["single"]},
            "real_data": persona_chat_or_skip(seed)}
