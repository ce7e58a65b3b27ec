"""Lesson 07: a near-miss guard for a personalization system, judged on worlds it never saw.

The scenario
------------
A deployed system answers *requests*. A request is a user in a session, the profile the system
retrieved for them, a query with two candidate items, and the user's most recent choices in
this session (which are theirs for sure: they were just made). The system's model is lesson
02's profile reader (:func:`course.nearmiss.train_reader`), trained on the town's own users.

Sometimes retrieval hands over the wrong profile. Each session's profile is, in the shares
``KIND_SHARES`` (documented, fixed; a guard never sees the kind):

* ``own``: the user's own profile (their ``PROFILE_ITEMS`` most recent outputs);
* ``near_twin``: the profile of the user most similar by lesson 02's coarse similarity (cosine
  of topic usage over the history, rank 1): a cold-start or retrieval match on what users ask;
* ``random``: the profile of a uniformly random other user (a plain mix-up of ids);
* ``persona``: a shared account (lesson 04: several people behind one account). The retrieved
  profile holds the user's own most recent half and the most recent half of another member of
  the household, who is an independent person (lesson 04's further personas are unrelated to
  the account holder), drawn uniformly from the other users.

What a guard may look at (:class:`Evidence`, one row per request): the model's P(first
candidate) with the retrieved profile and with no profile at all, its *trust* (attention off
the null slot, lesson 02), its stated certainty (lesson 03), and an identity score of the
retrieved profile against the session's recent choices (lesson 03), plus the raw predictions
on those recent choices. A guard returns ``w`` in [0, 1] per request (or ``(w, abstain)``);
the guarded prediction is ``w * p_profile + (1 - w) * p_prior``.

The judge scores log-loss and accuracy by kind. An abstained request is served the prior
(``w = 0``) in both, so abstaining never hides a loss; coverage counts the requests answered.
A guard *passes* a world when (``verdict``) it loses at most ``OWN_MARGIN`` nats on own-profile
requests against trusting every profile (``w = 1``), gains at least ``WRONG_GAIN`` on
wrong-profile requests, and beats by ``BLIND_GAIN`` the best *constant* weight, chosen with
hindsight on that very world: a guard must use the evidence, not only hedge.

Unseen worlds (:func:`unseen_world`) shift the town's parameters within ``UNSEEN_RANGES``.
Nothing here encodes a result: the town sets up tastes and habits, the reader learns from
choices, and the guards learn from evidence on the practice town only.

Shapes: n requests, R recent choices per session, K profile items, F item features.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace

import numpy as np
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression

from . import metrics, nearmiss
from .checks import twin
from .profiles import Episodes, held_out, split_users
from .similarity import cosine_similarity_matrix
from .uncertainty import HIGH, identity_score, stated_certainty
from .world import Town, TownConfig, make_town

__all__ = ["KINDS", "KIND_SHARES", "PROFILE_ITEMS", "N_RECENT", "N_REQUESTS", "EPOCHS",
           "PRACTICE_TOWN", "UNSEEN_USERS", "UNSEEN_RANGES", "GRID", "N_BINS", "OWN_MARGIN",
           "WRONG_GAIN", "BLIND_GAIN", "Evidence", "Requests", "Practice", "system",
           "retrieve", "make_requests", "practice", "unseen_config", "unseen_world",
           "unseen_requests", "unseen_seeds", "guard_output", "guarded", "log_loss_by_kind",
           "best_weight", "weights_by_bin", "BinnedGuard", "binned_guard", "apply_binned_guard",
           "ReferenceGuard", "fit_reference_guard", "reference_weights", "guard_features",
           "guard_none", "guard_never", "guard_certainty", "guard_identity", "reference_guards",
           "score", "session_losses", "paired_gap", "verdict", "evaluate", "reproduce"]

#: what a retrieved profile can be, in this order (``Requests.kind`` indexes it)
KINDS = ("own", "near_twin", "random", "persona")
#: share of sessions of each kind (exact counts, rounded down; the remainder is ``own``)
KIND_SHARES = (0.5, 0.2, 0.15, 0.15)
#: items in a profile (lesson 02's reader reads the 32 most recent outputs)
PROFILE_ITEMS = 32
#: the session's recent choices a guard may check a profile against
N_RECENT = 20
#: requests scored per session, after the recent choices
N_REQUESTS = 10
#: training epochs of the system's reader (a small reader: the lesson trains several)
EPOCHS = 10
#: the practice town: lesson 02's town with 1,600 users (800 train the reader; 400 sessions
#: are validation, 400 the practice test)
PRACTICE_TOWN = replace(nearmiss.LESSON_TOWN, n_users=1600)
#: users of an unseen world (600 train its reader, 600 sessions are scored)
UNSEEN_USERS = 1200
#: the documented ranges of an unseen world's parameters (ints: inclusive integer ranges;
#: floats: uniform). The practice town (the defaults) lies inside them. Beyond them the task
#: changes: with shared taste near 1 a near-twin is a good stand-in and no guard is needed
#: (lesson 02's "break it").
UNSEEN_RANGES = {
    "n_communities": (4, 9), "n_topics": (12, 20), "topic_focus": (0.10, 0.25),
    "user_topic_spread": (0.2, 0.4), "exploration": (0.05, 0.15), "shared_taste": (0.0, 0.3),
    "general_taste": (0.0, 0.3), "population_strength": (0.7, 1.3),
    "choice_noise": (0.05, 0.2), "drift": (0.0, 0.3), "query_noise": (0.3, 0.7),
}
#: the weights a guard's weight per bin is chosen from
GRID = np.linspace(0.0, 1.0, 101)
#: bins of the identity score in the lesson's guard
N_BINS = 10
#: pass criteria of a guard on one world, in nats of mean log-loss (see the module docstring)
OWN_MARGIN, WRONG_GAIN, BLIND_GAIN = 0.02, 0.03, 0.002

_EPS = 1e-7  # probabilities are clipped to [_EPS, 1 - _EPS] in log-losses (as course.metrics)


# --- the requests ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Evidence:
    """What a guard may look at: one row per request (n requests).

    Attributes:
        p_profile: (n,) P(first candidate) with the retrieved profile.
        p_prior: (n,) P(first candidate) with no profile (the population's taste only).
        trust: (n,) attention on the retrieved profile's items rather than the null slot, 0-1.
        certainty: (n,) int, stated certainty of ``p_profile`` on the 1-100 scale (50-100).
        identity: (n,) lesson 03's identity score of the retrieved profile on the session's
            recent choices: mean log-likelihood ratio, profile vs no profile, in nats.
        recent_profile, recent_prior: (n, R) the model's P(first candidate) on the session's
            R recent choices, with the retrieved profile and with none.
        recent_choices: (n, R) 1 where the user picked the first candidate.
    """

    p_profile: np.ndarray
    p_prior: np.ndarray
    trust: np.ndarray
    certainty: np.ndarray
    identity: np.ndarray
    recent_profile: np.ndarray
    recent_prior: np.ndarray
    recent_choices: np.ndarray

    def __len__(self) -> int:
        return len(self.p_profile)

    def subset(self, rows) -> "Evidence":
        """The evidence of the requests ``rows`` (a mask, a slice or indices)."""
        return Evidence(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


@dataclass(frozen=True)
class Requests:
    """Requests with what the judge knows and a guard does not.

    Attributes:
        evidence: what a guard may look at.
        y: (n,) 1 where the user picked the first candidate.
        kind: (n,) int, index into ``KINDS`` of the retrieved profile.
        session: (n,) the user whose session the request belongs to.
    """

    evidence: Evidence
    y: np.ndarray
    kind: np.ndarray
    session: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, rows) -> "Requests":
        return Requests(self.evidence.subset(rows), self.y[rows], self.kind[rows], self.session[rows])


def system(town: Town, epochs: int = EPOCHS, random_state: int = 0,
           progress: bool = True) -> nearmiss.Trained:
    """The system's model: lesson 02's reader, trained on half of ``town``'s users, each shown
    their own profile and predicting their last ``N_RECENT + N_REQUESTS`` choices."""
    return nearmiss.train_reader(town, k=PROFILE_ITEMS, n_queries=N_RECENT + N_REQUESTS,
                                 epochs=epochs, random_state=random_state, progress=progress)


def _kinds(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) kinds in the exact shares ``KIND_SHARES`` (remainder ``own``), in random order."""
    counts = np.floor(np.asarray(KIND_SHARES) * n).astype(int)
    counts[0] += n - counts.sum()
    return rng.permutation(np.repeat(np.arange(len(KINDS)), counts))


def _others(users: np.ndarray, n_users: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) a uniformly random user other than each of ``users``."""
    return (users + rng.integers(1, n_users, size=len(users))) % n_users


def retrieve(tr: nearmiss.Trained, users: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What retrieval hands over for each session: a kind, and whose item fills each slot.

    Returns:
        ``kind`` (n,), ``owner`` (n, K) the user whose history each profile slot comes from,
        ``index`` (n, K) which interaction of that history.
    """
    town, n, K = tr.town, len(users), tr.k
    kind = _kinds(n, rng)
    S = cosine_similarity_matrix(nearmiss.input_profiles(town, tr.n_history))
    twin_of = nearmiss.rank_substitutes(S, users, n=1)[:, 0]
    shown = np.select([kind == 0, kind == 1], [users, twin_of], _others(users, town.n_users, rng))
    owner = np.repeat(shown[:, None], K, axis=1)
    index = np.broadcast_to(np.arange(tr.n_history - K, tr.n_history), (n, K)).copy()
    # a shared account: the user's own most recent half, then the other member's
    shared, half = kind == 3, K // 2
    owner[shared, :half] = users[shared, None]
    index[shared] = np.concatenate([np.arange(tr.n_history - half, tr.n_history),
                                    np.arange(tr.n_history - (K - half), tr.n_history)])
    return kind, owner, index


def make_requests(tr: nearmiss.Trained, users: np.ndarray, random_state: int = 0) -> Requests:
    """Sessions of ``users``: retrieve a profile for each, then read the recent choices and the
    requests with it and without any profile, in one batched pass.

    Returns:
        :class:`Requests` with ``N_REQUESTS`` rows per user, session-major.
    """
    users = np.asarray(users)
    kind, owner, index = retrieve(tr, users, np.random.default_rng(random_state))
    n, R = len(users), N_RECENT
    items = tr.features[owner, index]                                  # (n, K, F)
    query, diff, y = held_out(tr.town, users, tr.n_history)            # (n, R + requests, .)
    X = Episodes(np.concatenate([items, np.zeros_like(items[:1])]),    # the last: no profile
                 np.concatenate([query, query]), np.concatenate([diff, diff]),
                 np.concatenate([np.arange(n), np.full(n, n)]))
    p = tr.model.predict_proba(X)[:, 1].reshape(2, n, -1)
    null = tr.model.attention(X)[:, 0].reshape(2, n, -1)[0]
    p_profile, p_prior = p[0], p[1]
    identity = identity_score(p_profile[:, :R], p_prior[:, :R], y[:, :R])
    M = y.shape[1] - R
    per_request = lambda a: np.repeat(a, M, axis=0)                   # noqa: E731 session -> rows
    evidence = Evidence(
        p_profile=p_profile[:, R:].ravel(), p_prior=p_prior[:, R:].ravel(),
        trust=(1.0 - null[:, R:]).ravel(),
        certainty=stated_certainty(p_profile[:, R:].ravel()),
        identity=per_request(identity), recent_profile=per_request(p_profile[:, :R]),
        recent_prior=per_request(p_prior[:, :R]), recent_choices=per_request(y[:, :R]))
    return Requests(evidence, y[:, R:].ravel(), per_request(kind), per_request(users))


@dataclass
class Practice:
    """The practice town, its system, and its sessions: ``validation`` (to learn a guard from)
    and ``test`` (to check it on); both are held-out users of the reader."""

    town: Town
    system: nearmiss.Trained
    validation: Requests
    test: Requests


#: the practice of the seed last asked for: the lesson and its graded test cell share one
_last_practice: dict[int, Practice] = {}


def practice(seed: int = 0, progress: bool = True) -> Practice:
    """The practice town (``PRACTICE_TOWN`` with ``seed``), its reader, and its requests.

    The result for the last seed asked is kept and returned again (training takes seconds)."""
    if seed not in _last_practice:
        _last_practice.clear()
        _last_practice[seed] = _new_practice(seed, progress)
    return _last_practice[seed]


def _new_practice(seed: int, progress: bool) -> Practice:
    town = make_town(replace(PRACTICE_TOWN, seed=seed))
    tr = system(town, random_state=seed, progress=progress)
    val_users, test_users = split_users(len(tr.test), 0.5, random_state=seed)
    return Practice(town, tr, make_requests(tr, tr.test[val_users], random_state=seed),
                    make_requests(tr, tr.test[test_users], random_state=seed + 1))


def unseen_config(seed: int) -> TownConfig:
    """A town's parameters drawn from ``UNSEEN_RANGES`` (the town's own seed is ``seed``)."""
    rng = np.random.default_rng([seed, 7])
    drawn = {name: int(rng.integers(lo, hi + 1)) if isinstance(lo, int) else float(rng.uniform(lo, hi))
             for name, (lo, hi) in UNSEEN_RANGES.items()}
    return replace(PRACTICE_TOWN, n_users=UNSEEN_USERS, seed=seed, **drawn)


def unseen_world(seed: int) -> Town:
    """A town with parameters shifted within ``UNSEEN_RANGES``, for judging a guard that was
    never tuned on it."""
    return make_town(unseen_config(seed))


@functools.lru_cache(maxsize=8)
def unseen_requests(seed: int, progress: bool = False) -> Requests:
    """An unseen world's system (a reader trained on it) and every held-out user's session.

    Kept for the last few seeds asked (training takes a second or two): a grader judging a
    class scores every student's guard on the same worlds. Treat the result as read-only."""
    tr = system(unseen_world(seed), random_state=seed, progress=progress)
    return make_requests(tr, tr.test, random_state=seed)


def unseen_seeds(seed: int, n_worlds: int) -> list[int]:
    """The unseen worlds ``reproduce(seed)`` reports: ``10_000 * (seed + 1) + i``."""
    return [10_000 * (seed + 1) + i for i in range(n_worlds)]


# --- guards and the judge ----------------------------------------------------------------------

def guard_output(output, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A guard's output as ``(w, abstain)``, both (n,): ``w`` a number or (n,) array in [0, 1],
    optionally paired with an (n,) boolean ``abstain``."""
    w, abstain = output if isinstance(output, tuple) else (output, None)
    w = np.asarray(w, dtype=float)
    if w.ndim > 1 or (w.ndim == 1 and w.shape != (n,)):
        raise ValueError(f"w must be a number or an array of shape ({n},), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any((w < 0) | (w > 1)):
        raise ValueError("w must hold finite weights in [0, 1]")
    abstain = np.zeros(n, bool) if abstain is None else np.asarray(abstain)
    if abstain.shape != (n,) or abstain.dtype != bool:
        raise ValueError(f"abstain must be a boolean array of shape ({n},), got "
                         f"{abstain.dtype} of shape {abstain.shape}")
    return np.broadcast_to(w, (n,)), abstain


def guarded(w, p_profile, p_prior) -> np.ndarray:
    """The guarded prediction ``w * p_profile + (1 - w) * p_prior``, written as
    ``p_prior + w * (p_profile - p_prior)`` so that it is exactly ``p_prior`` where the
    profile changes nothing."""
    p_prior = np.asarray(p_prior, dtype=float)
    return p_prior + np.asarray(w, dtype=float) * (np.asarray(p_profile, dtype=float) - p_prior)


def _losses(p, y) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    y = np.asarray(y)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _by_group(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups,) mean of ``values`` in each group; NaN for an empty group."""
    total = np.bincount(group, weights=values, minlength=n_groups)
    count = np.bincount(group, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


@twin
def log_loss_by_kind(p, y, kind, n_kinds: int = len(KINDS)) -> np.ndarray:
    """Mean log-loss of the requests of each kind.

    Args:
        p: (n,) predicted P(first candidate); clipped to [1e-7, 1 - 1e-7].
        y: (n,) 1 where the user picked the first candidate.
        kind: (n,) ints in [0, n_kinds).
        n_kinds: number of kinds.

    Returns:
        (n_kinds,) mean log-loss in nats; NaN for a kind without requests.
    """
    p, y, kind = np.asarray(p, dtype=float), np.asarray(y), np.asarray(kind)
    if not p.shape == y.shape == kind.shape or p.ndim != 1:
        raise ValueError(f"p, y and kind must be 1-D arrays of one shape, got {p.shape}, "
                         f"{y.shape}, {kind.shape}")
    if kind.size and (kind.min() < 0 or kind.max() >= n_kinds):
        raise ValueError(f"kind must hold ints in [0, {n_kinds}), got {kind.min()}..{kind.max()}")
    return _by_group(_losses(p, y), kind, n_kinds)


def _grid_losses(p_profile, p_prior, y, grid) -> np.ndarray:
    """(G, n) log-loss of every request at every weight of ``grid``."""
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or grid.size == 0 or np.any((grid < 0) | (grid > 1)):
        raise ValueError("grid must be a non-empty 1-D array of weights in [0, 1]")
    p_profile, p_prior = np.asarray(p_profile, dtype=float), np.asarray(p_prior, dtype=float)
    return _losses(guarded(grid[:, None], p_profile[None], p_prior[None]), np.asarray(y)[None])


def _pick(losses: np.ndarray, grid) -> np.ndarray:
    """For each column of (G, B) mean losses, the weight of the smallest loss; on a tie the
    smallest weight."""
    grid = np.asarray(grid, dtype=float)
    order = np.lexsort((np.broadcast_to(grid[:, None], losses.shape), losses), axis=0)[0]
    return grid[order]


@twin
def best_weight(p_profile, p_prior, y, grid=GRID) -> float:
    """The weight in ``grid`` whose guarded predictions have the smallest mean log-loss.

    Args:
        p_profile, p_prior, y: (n,) predictions with and without the profile, and the choices.
        grid: (G,) candidate weights in [0, 1], in any order.

    Returns:
        The best weight; on a tie, the smallest of the tied weights.
    """
    if np.asarray(y).size == 0:
        raise ValueError("y is empty: there are no requests to choose a weight on")
    return float(_pick(_grid_losses(p_profile, p_prior, y, grid).mean(axis=1)[:, None], grid)[0])


@twin
def weights_by_bin(score, edges, p_profile, p_prior, y, grid=GRID) -> np.ndarray:
    """The best weight (as :func:`best_weight`) for the requests in each bin of ``score``.

    Args:
        score: (n,) an evidence score per request (e.g. the identity score).
        edges: (B - 1,) increasing bin edges: bin 0 is ``score < edges[0]``, bin i is
            ``edges[i - 1] <= score < edges[i]``, the last ``score >= edges[-1]``.
        p_profile, p_prior, y: (n,) as in :func:`best_weight`.
        grid: (G,) candidate weights.

    Returns:
        (B,) the best weight of each bin; NaN for an empty bin.
    """
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be a 1-D array of strictly increasing numbers")
    B = edges.size + 1
    where = np.digitize(np.asarray(score, dtype=float), edges)
    losses = _grid_losses(p_profile, p_prior, y, grid)                  # (G, n)
    member = np.zeros((where.size, B))
    member[np.arange(where.size), where] = 1.0
    sums = losses @ member                                              # (G, B)
    count = np.bincount(where, minlength=B)
    best = _pick(sums / np.maximum(count, 1), grid)
    return np.where(count > 0, best, np.nan)


@dataclass(frozen=True)
class BinnedGuard:
    """The lesson's guard: a weight per bin of the identity score, learned on validation
    requests, made non-decreasing (a profile that explains the user's recent choices better
    never earns less trust) and interpolated between the bins' medians."""

    centres: np.ndarray   # (B,) median identity score of each bin, increasing
    weights: np.ndarray   # (B,) weight at each centre

    def __call__(self, evidence: Evidence) -> np.ndarray:
        return apply_binned_guard(self, evidence)


@twin
def apply_binned_guard(guard: BinnedGuard, evidence: Evidence) -> np.ndarray:
    """(n,) the weights a :class:`BinnedGuard` gives to ``evidence``."""
    return np.interp(evidence.identity, guard.centres, guard.weights)


@twin
def binned_guard(validation: Requests, n_bins: int = N_BINS, grid=GRID) -> BinnedGuard:
    """Learn the lesson's guard on validation requests only.

    Bins are quantiles of the validation identity scores (``n_bins`` of about equal size); each
    bin's weight is :func:`weights_by_bin`'s; isotonic regression, weighted by the bins' sizes,
    makes the weights non-decreasing in the identity score.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    e = validation.evidence
    edges = np.unique(np.quantile(e.identity, np.linspace(0, 1, n_bins + 1)[1:-1]))
    w = weights_by_bin(e.identity, edges, e.p_profile, e.p_prior, validation.y, grid)
    where = np.digitize(e.identity, edges)
    filled = ~np.isnan(w)
    centres = np.array([np.median(e.identity[where == b]) for b in np.flatnonzero(filled)])
    count = np.bincount(where, minlength=w.size)[filled]
    monotone = IsotonicRegression().fit_transform(centres, w[filled], sample_weight=count)
    return BinnedGuard(centres, monotone)


#: features of the reference guard, in order
_FEATURES = ("identity", "trust", "certainty", "shift")


def guard_features(evidence: Evidence) -> np.ndarray:
    """(n, 4) the reference guard's features: identity score, trust, stated certainty / 100,
    and how far the profile moves the prediction (``|logit p_profile - logit p_prior|``)."""
    logit = lambda p: np.log(np.clip(p, _EPS, 1 - _EPS) / np.clip(1 - p, _EPS, 1))  # noqa: E731
    shift = np.abs(logit(evidence.p_profile) - logit(evidence.p_prior))
    return np.column_stack([evidence.identity, evidence.trust, evidence.certainty / 100.0, shift])


@dataclass(frozen=True)
class ReferenceGuard:
    """The library's best guard: ``w = sigmoid(b + coef . standardized features)``, fitted on
    validation requests to minimize the guarded log-loss (:func:`fit_reference_guard`)."""

    mean: np.ndarray    # (4,) feature means on the validation requests
    scale: np.ndarray   # (4,) feature standard deviations
    coef: np.ndarray    # (5,) intercept, then one weight per feature

    def __call__(self, evidence: Evidence) -> np.ndarray:
        return reference_weights(self, evidence)


def _design(guard_or_stats, evidence: Evidence) -> np.ndarray:
    mean, scale = guard_or_stats
    Z = (guard_features(evidence) - mean) / scale
    return np.column_stack([np.ones(len(Z)), Z])


@twin
def reference_weights(guard: ReferenceGuard, evidence: Evidence) -> np.ndarray:
    """(n,) the weights the reference guard gives to ``evidence``."""
    z = _design((guard.mean, guard.scale), evidence) @ guard.coef
    return 0.5 * (1.0 + np.tanh(z / 2))                                    # sigmoid


def fit_reference_guard(validation: Requests, l2: float = 1e-3) -> ReferenceGuard:
    """Fit the reference guard on validation requests (never on a world it is judged on).

    Minimizes the mean log-loss of the guarded predictions plus ``l2`` times the squared feature
    weights, by L-BFGS with the exact gradient. The guard's features are
    :func:`guard_features`, standardized on the validation requests.
    """
    if l2 < 0:
        raise ValueError(f"l2 must be non-negative, got {l2}")
    e, y = validation.evidence, validation.y
    F = guard_features(e)
    stats = (F.mean(axis=0), F.std(axis=0) + 1e-12)
    X = _design(stats, e)
    pp, p0 = e.p_profile, e.p_prior
    penalty = np.r_[0.0, np.ones(X.shape[1] - 1)]

    def loss_and_grad(coef):
        w = 0.5 * (1.0 + np.tanh(X @ coef / 2))
        p = np.clip(guarded(w, pp, p0), _EPS, 1 - _EPS)
        loss = _losses(p, y).mean() + l2 * (penalty * coef) @ coef
        dloss_dp = (1 - y) / (1 - p) - y / p
        grad = X.T @ (dloss_dp * (pp - p0) * w * (1 - w)) / len(y) + 2 * l2 * penalty * coef
        return loss, grad

    coef = minimize(loss_and_grad, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x
    return ReferenceGuard(stats[0], stats[1], coef)


def guard_none(evidence: Evidence) -> np.ndarray:
    """Trust every profile: w = 1."""
    return np.ones(len(evidence))


def guard_never(evidence: Evidence) -> np.ndarray:
    """Never personalize: w = 0 (the population prior)."""
    return np.zeros(len(evidence))


def guard_certainty(evidence: Evidence) -> np.ndarray:
    """Lesson 03's plain certainty rule: personalize when the stated certainty is at least 80."""
    return (evidence.certainty >= HIGH).astype(float)


def guard_identity(evidence: Evidence) -> np.ndarray:
    """Lesson 03's identity check: personalize when the profile explains the recent choices at
    least as well as no profile (identity score >= 0)."""
    return (evidence.identity >= 0).astype(float)


def reference_guards(validation: Requests) -> dict:
    """The reference guards by name; ``reference`` is fitted on ``validation`` only."""
    return {"none": guard_none, "never": guard_never, "certainty": guard_certainty,
            "identity": guard_identity, "reference": fit_reference_guard(validation)}


def score(requests: Requests, w, abstain=None) -> dict:
    """The judge: log-loss, accuracy and coverage of the guarded predictions, overall and by kind.

    Args:
        requests: the requests (with their outcomes and kinds).
        w: a number or (n,) weights in [0, 1].
        abstain: (n,) booleans, or None; an abstained request is served the prior (w = 0).

    Returns:
        ``{"log_loss", "accuracy", "coverage", "requests", "by_kind": {kind: {...}}}``.
    """
    w, abstain = guard_output((w, abstain), len(requests))
    e = requests.evidence
    p = guarded(np.where(abstain, 0.0, w), e.p_profile, e.p_prior)
    loss, right = _losses(p, requests.y), ((p > 0.5) == (requests.y == 1)).astype(float)
    K = len(KINDS)
    parts = {"log_loss": log_loss_by_kind(p, requests.y, requests.kind),
             "accuracy": _by_group(right, requests.kind, K),
             "coverage": _by_group((~abstain).astype(float), requests.kind, K)}
    count = np.bincount(requests.kind, minlength=K)
    return {"log_loss": float(loss.mean()), "accuracy": float(right.mean()),
            "coverage": float(1 - abstain.mean()), "requests": int(len(requests)),
            "by_kind": {kind: {**{m: float(v[i]) for m, v in parts.items()}, "requests": int(count[i])}
                        for i, kind in enumerate(KINDS)}}


def session_losses(requests: Requests, w, abstain=None) -> np.ndarray:
    """(n_sessions,) the guarded predictions' mean log-loss in each session, sessions in order
    of their user id: the unit in which two guards judged on the same requests are compared."""
    w, abstain = guard_output((w, abstain), len(requests))
    e = requests.evidence
    loss = _losses(guarded(np.where(abstain, 0.0, w), e.p_profile, e.p_prior), requests.y)
    _, session = np.unique(requests.session, return_inverse=True)
    return np.bincount(session, weights=loss) / np.bincount(session)


def paired_gap(worlds: list[Requests], guard_a, guard_b, random_state: int = 0) -> dict:
    """Guard a's log-loss minus guard b's, paired over the sessions of every world in
    ``worlds`` (each guard judged on the same sessions): the mean and its 95% bootstrap
    interval (``course.metrics.paired_bootstrap_gap``). An interval that holds 0 is a tie."""
    a, b = (np.concatenate([session_losses(r, *guard_output(g(r.evidence), len(r))) for r in worlds])
            for g in (guard_a, guard_b))
    return metrics.paired_bootstrap_gap(a, b, random_state=random_state)


def verdict(requests: Requests, w, abstain=None) -> dict:
    """Does a guard's output pass on these requests (see the module docstring)?

    Returns:
        ``own_loss`` (its own-profile log-loss minus w = 1's), ``wrong_gain`` (w = 1's
        wrong-profile log-loss minus its own), ``blind_gain`` (the best constant weight's
        overall log-loss minus its own, the constant chosen on these very requests),
        ``best_constant`` and ``passed``.
    """
    w, abstain = guard_output((w, abstain), len(requests))
    e, y = requests.evidence, requests.y
    mine = _losses(guarded(np.where(abstain, 0.0, w), e.p_profile, e.p_prior), y)
    trusting = _losses(e.p_profile, y)
    own = requests.kind == 0
    constant = best_weight(e.p_profile, e.p_prior, y)
    blind = _losses(guarded(constant, e.p_profile, e.p_prior), y).mean()
    out = {"own_loss": float(mine[own].mean() - trusting[own].mean()),
           "wrong_gain": float(trusting[~own].mean() - mine[~own].mean()),
           "blind_gain": float(blind - mine.mean()), "best_constant": constant}
    out["passed"] = bool(out["own_loss"] <= OWN_MARGIN and out["wrong_gain"] >= WRONG_GAIN
                         and out["blind_gain"] >= BLIND_GAIN)
    return out


def evaluate(guard, requests: Requests) -> dict:
    """:func:`score` of ``guard(requests.evidence)``, with its :func:`verdict`."""
    w, abstain = guard_output(guard(requests.evidence), len(requests))
    return {**score(requests, w, abstain), "verdict": verdict(requests, w, abstain)}


def _pooled(worlds: list[Requests]) -> Requests:
    return Requests(Evidence(**{f.name: np.concatenate([getattr(r.evidence, f.name) for r in worlds])
                                for f in fields(Evidence)}),
                    *(np.concatenate([getattr(r, a) for r in worlds]) for a in ("y", "kind", "session")))


def reproduce(seed: int = 0, n_worlds: int = 5, progress: bool = False) -> dict:
    """The capstone's headline: the reference guards, and the lesson's binned guard, learned on
    the practice town's validation sessions and judged on ``n_worlds`` unseen worlds only.

    Returns:
        ``{"worlds", "guards": {name: score pooled over the worlds' requests, with
        ``"passed_worlds"``}, "lesson_guard", "best_constant": {"weights" per world,
        "log_loss", "reference_gain" (its log-loss minus the reference's)}, "unseen": [per-world
        parameters and each guard's verdict]}``. Every world has as many requests, so the
        pooled log-loss is also the mean over worlds.
    """
    pr = practice(seed, progress=progress)
    guards = {**reference_guards(pr.validation), "lesson_guard": binned_guard(pr.validation)}
    seeds = unseen_seeds(seed, n_worlds)
    worlds = [unseen_requests(s, progress=progress) for s in seeds]
    outputs = {name: [guard_output(g(r.evidence), len(r)) for r in worlds] for name, g in guards.items()}
    pooled = _pooled(worlds)
    results, per_world = {}, [{"seed": s, "config": {k: getattr(unseen_config(s), k)
                                                     for k in UNSEEN_RANGES}} for s in seeds]
    for name, outs in outputs.items():
        w = np.concatenate([o[0] for o in outs])
        abstain = np.concatenate([o[1] for o in outs])
        verdicts = [verdict(r, *o) for r, o in zip(worlds, outs)]
        results[name] = {**score(pooled, w, abstain), "passed_worlds": sum(v["passed"] for v in verdicts)}
        for row, v in zip(per_world, verdicts):
            row.setdefault("verdicts", {})[name] = v
    constants = [row["verdicts"]["none"]["best_constant"] for row in per_world]
    blind = float(np.mean([score(r, c)["log_loss"] for r, c in zip(worlds, constants)]))
    return {"worlds": n_worlds,
            "guards": {k: results[k] for k in ("none", "never", "certainty", "identity", "reference")},
            "lesson_guard": results["lesson_guard"],
            "best_constant": {"weights": constants, "log_loss": blind,
                              "reference_gain": blind - results["reference"]["log_loss"]},
            "unseen": per_world}
