"""Profile replacement by similarity rank: the near-twin valley (lesson 02).

Train a profile-reading model on some users, then predict the held-out users' choices
while showing it *another* user's profile: the most similar other user, the 2nd to 5th,
and so on down to the least similar, and a random other user. Everything is batched: one
prediction pass covers every held-out user, query and substitute, and each profile is
encoded once however many users borrow it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from . import metrics
from .checks import twin
from .models import PreferenceModel
from .profiles import (Episodes, Layout, examples, gather, held_out, item_features,
                       recent_indices, split_users)
from .rating_profiles import MIN_RATINGS, RatingProfiles, load_rating_profiles
from .similarity import cosine_similarity_matrix
from .world import Town, TownConfig, make_town, topic_usage

__all__ = ["rank_substitutes", "substitutes_at", "bucket_edges", "input_profiles",
           "output_profiles", "similarity_view", "Trained", "Reader", "train_reader",
           "predict_with", "profile_trust", "sweep", "per_user_loop", "ReaderOfRatings",
           "train_on_ratings", "validated_epochs", "real_users", "real_users_text", "benchmark",
           "reproduce", "LESSON_TOWN", "EPOCHS", "EPOCH_GRID", "BUCKET_ENDS"]

#: the lesson's town: the library defaults with 3,000 users, half of them held out
LESSON_TOWN = TownConfig(n_users=3000, n_interactions=110)
#: training length of the lesson's reader (own-profile accuracy is flat from 20 epochs on;
#: longer training makes it surer of itself, on any profile: the lesson shows both)
EPOCHS = 40
#: last ranks of the buckets; beyond the last, one bucket holds everyone else (so the sweep
#: ranks only the 500 most similar and draws its last bucket uniformly from the rest)
BUCKET_ENDS = (1, 5, 20, 100, 500)
#: training lengths tried for a reader of real users (:func:`validated_epochs`)
EPOCH_GRID = (5, 10, 20, 40)


@twin
def rank_substitutes(S: np.ndarray, users: np.ndarray, n: int | None = None) -> np.ndarray:
    """Other users ordered from most to least similar, for each of ``users``.

    Args:
        S: (U, U) similarity matrix.
        users: (n_users,) ids of the users whose substitutes are ranked.
        n: keep only the ``n`` most similar (default: all U - 1 others); much faster than
            a full ranking when ``n`` is small.

    Returns:
        (n_users, n) int array; row i lists users other than ``users[i]``, most similar
        first; ties keep the lower id first.
    """
    S = np.asarray(S)
    users = np.asarray(users)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be a square (U, U) matrix, got shape {S.shape}")
    if users.ndim != 1 or users.min(initial=0) < 0 or users.max(initial=0) >= S.shape[0]:
        raise ValueError(f"users must be a 1-D array of ids in [0, {S.shape[0]})")
    n = S.shape[0] - 1 if n is None else n
    if not 1 <= n < S.shape[0]:
        raise ValueError(f"n must be between 1 and {S.shape[0] - 1}, got {n}")
    rows = np.negative(S[users], dtype=float)  # ascending order = most similar first
    rows[np.arange(len(users)), users] = np.inf
    dtype = np.int32 if S.shape[0] < 2**31 else np.int64
    if n == S.shape[0] - 1:
        return np.argsort(rows, axis=1, kind="stable")[:, :n].astype(dtype)
    top = np.argpartition(rows, n - 1, axis=1)[:, :n]            # the n most similar, unordered
    value = np.take_along_axis(rows, top, axis=1)
    order = np.take_along_axis(top, np.lexsort((top, value), axis=1), axis=1)
    # where several users tie for the n-th place the partition may have kept a higher id
    tie = np.count_nonzero(rows <= value.max(axis=1, keepdims=True), axis=1) > n
    order[tie] = np.argsort(rows[tie], axis=1, kind="stable")[:, :n]
    return order.astype(dtype)


@twin
def substitutes_at(ranking: np.ndarray, ranks) -> np.ndarray:
    """The substitute at similarity rank ``ranks`` (1 = most similar) for each row.

    Args:
        ranking: (n, U - 1) from :func:`rank_substitutes`.
        ranks: an int or (n,) ints in [1, U - 1].

    Returns:
        (n,) user ids.
    """
    ranks = np.broadcast_to(np.asarray(ranks), (ranking.shape[0],))
    if ranks.min() < 1 or ranks.max() > ranking.shape[1]:
        raise ValueError(f"ranks must be in [1, {ranking.shape[1]}], got {ranks.min()}..{ranks.max()}")
    return ranking[np.arange(ranking.shape[0]), ranks - 1]


def bucket_edges(n_others: int) -> list[tuple[str, int, int]]:
    """Rank buckets ``(label, first, last)``: 1, 2-5, 6-20, 21-100, ... to the least similar."""
    edges, lo = [], 1
    for hi in BUCKET_ENDS:
        if lo > n_others:
            break
        hi = min(hi, n_others)
        edges.append((str(lo) if lo == hi else f"{lo}-{hi}", lo, hi))
        lo = hi + 1
    if lo <= n_others:
        edges.append((f"{lo}-{n_others}", lo, n_others))
    return edges


def input_profiles(town: Town, n_history: int) -> np.ndarray:
    """(U, T) coarse input-side view: the share of each user's past queries per topic."""
    return topic_usage(town, upto=n_history)


def output_profiles(town: Town, n_history: int) -> np.ndarray:
    """(U, T * D) output-side view: per topic, the mean of what each user chose (zeros for
    topics never asked about), so similar rows mean similar decisive tastes."""
    T = town.config.n_topics
    onehot = np.eye(T, dtype=np.float32)[town.topic[:, :n_history]]
    sums = np.einsum("uht,uhd->utd", onehot, town.output[:, :n_history])
    counts = onehot.sum(1)[..., None]
    return (sums / np.maximum(counts, 1)).reshape(town.n_users, -1)


def similarity_view(town: Town, n_history: int, similarity: str) -> np.ndarray:
    """The profile rows substitutes are ranked on: ``"inputs"`` (topic usage, coarse) or
    ``"outputs"`` (what users chose on each topic)."""
    views = {"inputs": input_profiles, "outputs": output_profiles}
    if similarity not in views:
        raise ValueError(f"similarity must be one of {sorted(views)}, got {similarity!r}")
    return views[similarity](town, n_history)


@dataclass
class Trained:
    """A trained profile reader and the data it was trained and is evaluated on."""

    town: Town
    model: PreferenceModel
    features: np.ndarray     # (U, N, F) every interaction as a profile item
    train: np.ndarray        # (n_train,) user ids
    test: np.ndarray         # (n_test,) held-out user ids
    n_history: int           # interactions before this index are the history
    k: int                   # profile items shown

    @property
    def layout(self) -> Layout:
        return self.model.layout

    @property
    def n_users(self) -> int:
        return self.town.n_users

    def similarity_view(self, similarity: str) -> np.ndarray:
        """(U, F) the rows substitutes are ranked on (see :func:`similarity_view`)."""
        return similarity_view(self.town, self.n_history, similarity)

    def episodes(self, draws: np.ndarray, users: np.ndarray) -> tuple[Episodes, np.ndarray]:
        """``users``' held-out queries, asked once per row of ``draws`` (R, n): row r shows
        user ``users[i]`` the profile of ``draws[r, i]`` (-1: no profile). Each distinct
        profile is gathered (and encoded by the model) once.

        Returns the episodes (one group per row and user, row-major) and ``y`` (n, M).
        """
        distinct, profile = np.unique(draws.ravel(), return_inverse=True)
        idx = np.broadcast_to(recent_indices(self.n_history, self.k), (len(distinct), self.k))
        items = gather(self.features, np.maximum(distinct, 0), idx)
        items[distinct < 0] = 0.0  # no profile at all: the model sees only the query
        query, diff, y = held_out(self.town, users, self.n_history)
        reps = (len(draws), 1, 1)
        return Episodes(items, np.tile(query, reps), np.tile(diff, reps), profile), y


class Reader(Protocol):
    """What :func:`sweep` needs of a trained reader (the town's :class:`Trained`, or a reader
    of real users): the model, the held-out users, and two methods."""

    model: PreferenceModel
    test: np.ndarray         # (n_test,) held-out user ids, in [0, n_users)

    @property
    def n_users(self) -> int: ...

    def similarity_view(self, similarity: str) -> np.ndarray:
        """(n_users, F) the rows substitutes are ranked on (cosine similarity)."""

    def episodes(self, draws: np.ndarray, users: np.ndarray) -> tuple[Episodes, np.ndarray]:
        """Each of ``users`` (n,) read through the profile of ``draws[r, i]`` (R, n; -1: none):
        episodes with one group per row and user (row-major) and labels ``y`` (n, M)."""


def train_reader(town: Town, k: int = 32, n_queries: int = 10, relevance: bool = True,
                 epochs: int = EPOCHS, random_state: int = 0, progress: bool = True) -> Trained:
    """Train a :class:`PreferenceModel` on half the users, each shown their own ``k`` most
    recent outputs, predicting their last ``n_queries`` choices."""
    n_history = town.topic.shape[1] - n_queries
    train, test = split_users(town.n_users, 0.5, random_state)
    features = item_features(town)
    layout = Layout.for_town(town, k)
    idx = np.broadcast_to(recent_indices(n_history, k), (len(train), k))
    X, y = examples(town, train, gather(features, train, idx), n_history, layout)
    model = PreferenceModel(layout, relevance=relevance, epochs=epochs,
                            random_state=random_state, progress=progress).fit(X, y)
    return Trained(town, model, features, train, test, n_history, k)


def _draws(owners: np.ndarray | None, n: int) -> np.ndarray:
    """(R, n) whose profile each of n users is shown in each of R draws; -1 means none.
    ``owners`` is (n,) for one draw, (R, n) for several, or None for no profile."""
    return np.full((1, n), -1) if owners is None else np.atleast_2d(owners)


def _predict(tr: Reader, owners: dict, users: np.ndarray) -> dict:
    """label -> (p, y), both (n, R * M): every draw of each label's owners (see
    :func:`_draws`), in one pass over every condition."""
    draws = {label: _draws(who, len(users)) for label, who in owners.items()}
    X, y = tr.episodes(np.concatenate(list(draws.values())), users)
    p = tr.model.predict_proba(X)[:, 1].reshape(-1, len(users), y.shape[1])
    out, start = {}, 0
    for label, rows in draws.items():
        R = len(rows)
        out[label] = (p[start:start + R].transpose(1, 0, 2).reshape(len(users), -1),
                      np.tile(y, (1, R)))
        start += R
    return out


def predict_with(tr: Reader, owners: np.ndarray | None, users: np.ndarray | None = None):
    """Predict ``users``' held-out choices (default: every test user) showing each one the
    profile of ``owners`` (same length), or no profile when ``owners`` is None.

    Returns:
        ``p`` and ``y``, both (n, n_queries).
    """
    users = tr.test if users is None else users
    return _predict(tr, {"shown": owners}, users)["shown"]


def profile_trust(tr: Reader, owners: np.ndarray, users: np.ndarray | None = None) -> np.ndarray:
    """(n,) how much the model leans on the shown profile: its attention on the profile's
    items rather than on the null slot, averaged over each user's queries (0 to 1)."""
    users = tr.test if users is None else users
    X, _ = tr.episodes(_draws(owners, len(users)), users)
    return (1.0 - tr.model.attention(X)[:, 0]).reshape(len(users), -1).mean(axis=1)


def _summary(p: np.ndarray, y: np.ndarray) -> dict:
    p, y = p.ravel(), y.ravel()
    return {"accuracy": metrics.accuracy(p, y), "log_loss": metrics.log_loss(p, y),
            "confidence": float(metrics.confidence(p).mean()),
            "ece": metrics.expected_calibration_error(p, y)}


def _per_user_accuracy(p, y) -> np.ndarray:
    return ((p > 0.5) == (y == 1)).mean(axis=1)


def _other_than(users: np.ndarray, n_users: int, rng: np.random.Generator,
                exclude: np.ndarray | None = None) -> np.ndarray:
    """(n,) a uniformly random other user for each of ``users``, outside row i of
    ``exclude`` (n, m) if given: a uniform draw from the ranks beyond the m nearest."""
    owners = np.empty(len(users), dtype=np.int64)
    todo = np.arange(len(users))
    while len(todo):  # redraw the few that fell among the excluded
        draw = rng.integers(0, n_users - 1, size=len(todo))
        draw += draw >= users[todo]
        ok = np.ones(len(todo), bool) if exclude is None else ~(exclude[todo] == draw[:, None]).any(1)
        owners[todo[ok]] = draw[ok]
        todo = todo[~ok]
    return owners


def sweep(tr: Reader, similarity: str = "inputs", n_draws: int = 5, random_state: int = 0) -> dict:
    """Evaluate the self profile, one substitute per rank bucket and a random substitute.

    Batched: one prediction pass covers every held-out user and condition, each distinct
    profile encoded once. Only the ``BUCKET_ENDS[-1]`` most similar others are ranked; the
    last bucket's substitute is a uniform draw from everyone beyond them, which is what a
    uniform rank in that bucket amounts to.

    Args:
        tr: a trained reader: the town's (:class:`Trained`) or any other :class:`Reader`.
        similarity: a view of ``tr.similarity_view``; in the town ``"inputs"`` (topic usage,
            coarse) or ``"outputs"`` (what users chose).
        n_draws: substitutes drawn per user in each bucket and for the random condition;
            each is a uniformly random rank inside the bucket. More draws, less noise.
        random_state: seed of the draws.

    Returns:
        dict with ``buckets`` (labels, "self" first), per-bucket lists ``accuracy``,
        ``log_loss``, ``confidence``, ``ece``, ``random`` and ``no_profile`` dicts of the
        same metrics, the paired per-user gap ``gap_near_minus_random``, and for plots
        ``predictions`` (label -> (p, y), each (n_test, draws * n_queries), the draws side
        by side) and ``owners`` (label -> whose profile was shown: (n_test,) for ``self``,
        (n_draws, n_test) for substitutes, None for ``no_profile``).
    """
    S = cosine_similarity_matrix(tr.similarity_view(similarity))
    U, n = tr.n_users, len(tr.test)
    top = rank_substitutes(S, tr.test, n=min(BUCKET_ENDS[-1], U - 1))
    rng = np.random.default_rng(random_state)
    owners = {"self": tr.test}
    for label, lo, hi in bucket_edges(U - 1):
        owners[label] = np.stack([substitutes_at(top, rng.integers(lo, hi + 1, size=n))
                                  if hi <= top.shape[1] else _other_than(tr.test, U, rng, top)
                                  for _ in range(n_draws)])
    owners["random"] = np.stack([_other_than(tr.test, U, rng) for _ in range(n_draws)])
    owners["no_profile"] = None
    predictions = _predict(tr, owners, tr.test)

    buckets = [label for label in owners if label not in ("random", "no_profile")]
    rows = {label: _summary(*predictions[label]) for label in owners}
    gap = metrics.paired_bootstrap_gap(_per_user_accuracy(*predictions["1"]),
                                       _per_user_accuracy(*predictions["random"]),
                                       random_state=random_state)
    return {"buckets": buckets,
            **{key: [rows[b][key] for b in buckets] for key in ("accuracy", "log_loss",
                                                                 "confidence", "ece")},
            "random": rows["random"], "no_profile": rows["no_profile"],
            "gap_near_minus_random": gap, "predictions": predictions, "owners": owners}


def per_user_loop(tr: Trained, similarity: str = "inputs", n_draws: int = 5,
                  random_state: int = 0) -> dict[str, float]:
    """The straightforward sweep, for the benchmark: for each held-out user in turn, compute
    their similarity to everyone, rank everyone, and predict with each profile the sweep
    shows (own, ``n_draws`` per bucket and random, none), one at a time.

    Returns mean accuracy per condition (like :func:`sweep`'s, with other random draws).
    """
    profiles = tr.similarity_view(similarity)
    unit = profiles / np.maximum(np.linalg.norm(profiles, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(random_state)
    edges = bucket_edges(tr.n_users - 1) + [("random", 1, tr.n_users - 1)]
    correct: dict[str, list[float]] = {"self": [], "no_profile": [], **{e[0]: [] for e in edges}}
    for user in tr.test:
        sims = unit @ unit[user]
        sims[user] = -np.inf
        ranking = np.argsort(-sims, kind="stable")[:-1]
        shown = [("self", user), ("no_profile", None)] + [
            (label, ranking[rng.integers(lo, hi + 1) - 1]) for label, lo, hi in edges
            for _ in range(n_draws)]
        for label, owner in shown:
            p, y = predict_with(tr, None if owner is None else np.array([owner]), np.array([user]))
            correct[label].append(float(((p > 0.5) == (y == 1)).mean()))
    return {label: float(np.mean(values)) for label, values in correct.items()}


@dataclass
class ReaderOfRatings:
    """The town's reader trained on real users' ratings (:mod:`course.rating_profiles`); a
    :class:`Reader`, so :func:`sweep` runs on it unchanged."""

    data: RatingProfiles
    model: PreferenceModel
    train: np.ndarray        # (n_train,) user ids
    test: np.ndarray         # (n_test,) held-out user ids

    @property
    def n_users(self) -> int:
        return self.data.n_users

    def similarity_view(self, similarity: str) -> np.ndarray:
        return self.data.similarity_view(similarity)

    def episodes(self, draws: np.ndarray, users: np.ndarray) -> tuple[Episodes, np.ndarray]:
        return self.data.episodes(draws, users)


def train_on_ratings(data: RatingProfiles, epochs: int | None = None, random_state: int = 0,
                     progress: bool = False) -> ReaderOfRatings:
    """Train the town's reader on half the users, each reading their own profile for their
    own questions; ``epochs`` None chooses the training length (:func:`validated_epochs`)."""
    train, test = split_users(data.n_users, 0.5, random_state)
    if epochs is None:
        epochs = validated_epochs(data, train, random_state)
    X, y = data.episodes(train[None, :], train)
    model = PreferenceModel(data.layout, epochs=epochs, random_state=random_state,
                            progress=progress).fit(X, y.ravel())
    return ReaderOfRatings(data, model, train, test)


def validated_epochs(data: RatingProfiles, train: np.ndarray, random_state: int = 0,
                     grid: tuple[int, ...] = EPOCH_GRID) -> int:
    """The training length of ``grid`` with the lowest own-profile log-loss on a quarter of
    the training users, the reader trained on the other three quarters.

    Real users are fewer than the town's, so the town's length can over-fit them; the choice
    looks only at the task the reader is trained for (own profiles), never at substitutes.
    """
    fit, val = split_users(len(train), 0.25, random_state)
    fit, val = train[fit], train[val]
    X, y = data.episodes(fit[None, :], fit)
    X_val, y_val = data.episodes(val[None, :], val)
    loss = {}
    for n in grid:
        model = PreferenceModel(data.layout, epochs=n, random_state=random_state,
                                progress=False).fit(X, y.ravel())
        loss[n] = metrics.log_loss(model.predict_proba(X_val)[:, 1], y_val.ravel())
    return min(grid, key=loss.get)


def real_users(seed: int = 0, n_draws: int = 5, progress: bool = False) -> dict:
    """Lesson 02's experiment on FilmTrust's real users (:mod:`course.rating_profiles`).

    The town's reader, trained on half the users, predicts the other half's held-out pairs
    through their own profile, through substitutes ranked by which films they rated (coarse),
    through random other users and through no profile; then through substitutes ranked by
    how they rated (the counterfactual that removes the town's valley). Gaps are paired over
    the held-out users, with 95% bootstrap intervals.

    Returns:
        JSON-ready: the data's counts; ``buckets``, ``accuracy``, ``log_loss``,
        ``confidence``, ``ece`` (as :func:`sweep`), ``random`` and ``no_profile``;
        ``gap_near_minus_random``, ``gap_own_minus_none``; ``trust`` (attention on profile
        items with the own, rank-1 and random profile); ``similarity_on_ratings`` (buckets,
        accuracy, random accuracy, its gap); ``epochs`` (the validated training length) and
        ``town_epochs`` (the near-twin gap and own-profile accuracy and ECE of a reader
        trained for the town's ``EPOCHS`` instead); ``verdict`` ("held", "did not" or
        "reversed", from the near-twin gap's interval) and ``seconds``. Raises
        ``DatasetUnavailable``.
    """
    import time

    start = time.perf_counter()
    data = load_rating_profiles(seed)
    tr = train_on_ratings(data, random_state=seed, progress=progress)
    coarse, fine = (sweep(tr, view, n_draws, seed) for view in ("rated", "ratings"))
    own, none = (_per_user_accuracy(*coarse["predictions"][label])
                 for label in ("self", "no_profile"))
    trust = {label: float(profile_trust(tr, np.atleast_2d(coarse["owners"][label])[0]).mean())
             for label in ("self", "1", "random")}
    town_length = sweep(train_on_ratings(data, EPOCHS, seed), "rated", n_draws, seed)
    return metrics.rounded({
        **data.describe(), "test_users": int(len(tr.test)),
        **_lean(coarse),
        "gap_own_minus_none": metrics.paired_bootstrap_gap(own, none, random_state=seed),
        "trust": trust,
        "similarity_on_ratings": {"buckets": fine["buckets"], "accuracy": fine["accuracy"],
                                  "random_accuracy": fine["random"]["accuracy"],
                                  "gap_near_minus_random": fine["gap_near_minus_random"]},
        "epochs": tr.model.epochs,
        "town_epochs": {"epochs": EPOCHS,
                        "gap_near_minus_random": town_length["gap_near_minus_random"],
                        "own_accuracy": town_length["accuracy"][0],
                        "own_ece": town_length["ece"][0]},
        "verdict": metrics.verdict(coarse["gap_near_minus_random"], -1),
        "seconds": time.perf_counter() - start})


_VERDICT_02 = {"held": "held: the near twin is worse than a random substitute "
                       "(95% interval below zero)",
               "did not": "did not hold: the near twin is not worse than a random substitute "
                          "(95% interval includes zero)",
               "reversed": "reversed: the near twin is better than a random substitute "
                           "(95% interval above zero)"}


def _ci(gap: dict) -> str:
    return f"{gap['mean']:+.3f} (95% CI {gap['ci95'][0]:+.3f} to {gap['ci95'][1]:+.3f})"


def real_users_text(real: dict, town: dict) -> str:
    """What lesson 02's real-data section prints.

    Args:
        real: :func:`real_users`'s result, or ``{"skipped": reason}``.
        town: the town's sweep (:func:`sweep` or ``reproduce``), for its gaps beside.
    """
    if "skipped" in real:
        return f"Real-data section skipped: {real['skipped']}"
    town_own = town["accuracy"][0] - town["no_profile"]["accuracy"]
    scaled = town["gap_near_minus_random"]["mean"] * real["gap_own_minus_none"]["mean"] / town_own
    rows = [*zip(real["buckets"], *(real[k] for k in ("accuracy", "log_loss", "confidence", "ece"))),
            *(((label,) + tuple(real[key][k] for k in ("accuracy", "log_loss", "confidence", "ece")))
              for label, key in (("random", "random"), ("no profile", "no_profile")))]
    t = real["town_epochs"]
    return "\n".join([
        f"FilmTrust: {real['users']} users with {MIN_RATINGS}+ ratings ({real['test_users']} held out), "
        f"{real['films']} films, {real['questions_per_user']} pairs per user",
        f"reader trained {real['epochs']} epochs (the best own-profile log-loss on training users)",
        f"{'profile':<12}{'accuracy':>9}{'log-loss':>10}{'confidence':>11}{'ECE':>7}",
        *(f"{b:<12}{a:>9.3f}{ll:>10.3f}{c:>11.3f}{e:>7.3f}" for b, a, ll, c, e in rows),
        "attention on profile items: " + ", ".join(f"{k} {v:.3f}" for k, v in real["trust"].items()),
        f"own profile minus no profile, accuracy per user: {_ci(real['gap_own_minus_none'])}; "
        f"town {town_own:+.3f}",
        f"near twin minus random, accuracy per user: {_ci(real['gap_near_minus_random'])}; "
        f"town {_ci(town['gap_near_minus_random'])}",
        f"the town's valley scaled by what a profile is worth here (own minus no profile, here "
        f"over the town's): {scaled:+.3f}",
        f"ranked by centred ratings: rank 1 {real['similarity_on_ratings']['accuracy'][1]:.3f}, "
        f"random {real['similarity_on_ratings']['random_accuracy']:.3f}; near twin minus random "
        f"{_ci(real['similarity_on_ratings']['gap_near_minus_random'])}",
        f"trained {t['epochs']} epochs as in the town: own-profile accuracy {t['own_accuracy']:.3f}, "
        f"ECE {t['own_ece']:.3f}; near twin minus random {_ci(t['gap_near_minus_random'])}",
        f"verdict: {_VERDICT_02[real['verdict']]}"])


def _lean(result: dict) -> dict:
    return {key: value for key, value in result.items() if key not in ("predictions", "owners")}


def reproduce(seed: int = 0, progress: bool = False) -> dict:
    """The lesson's headline: the valley, three conditions under which it flattens, and the
    experiment on FilmTrust's real users (``{"skipped": reason}`` without the data)."""
    from .datasets import or_skip

    town = make_town(replace(LESSON_TOWN, seed=seed))
    main = train_reader(town, random_state=seed, progress=progress)
    result = _lean(sweep(main, "inputs", random_state=seed))

    outputs = sweep(main, "outputs", random_state=seed)
    shared = sweep(train_reader(make_town(replace(LESSON_TOWN, seed=seed, shared_taste=0.9)),
                                random_state=seed, progress=progress), "inputs", random_state=seed)
    blind = sweep(train_reader(town, relevance=False, random_state=seed, progress=progress),
                  "inputs", random_state=seed)
    result["counterfactuals"] = {
        name: {"buckets": r["buckets"], "accuracy": r["accuracy"],
               "random_accuracy": r["random"]["accuracy"]}
        for name, r in (("similarity_on_outputs", outputs), ("shared_tastes", shared),
                        ("no_relevance_weighting", blind))}
    result["real_data"] = or_skip(real_users, seed)
    return result


def benchmark(n_held_out: int = 2000, seed: int = 0) -> dict:
    """Time the batched sweep against :func:`per_user_loop` on ``n_held_out`` users, in one run.

    The model is trained briefly: only the time of evaluation is measured.
    """
    import time

    town = make_town(replace(LESSON_TOWN, n_users=2 * n_held_out, seed=seed))
    tr = train_reader(town, epochs=1, random_state=seed, progress=False)
    start = time.perf_counter()
    result = sweep(tr, "inputs", random_state=seed)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    per_user_loop(tr, "inputs", random_state=seed)
    looped = time.perf_counter() - start
    return {"users": int(len(tr.test)), "conditions": len(result["buckets"]) + 2,
            "profiles_per_user": sum(len(_draws(o, 1)) for o in result["owners"].values()),
            "sweep_s": round(batched, 3), "per_user_loop_s": round(looped, 3),
            "speedup": round(looped / batched, 1),
            "summary": f"batched {batched:.2f} s, per-user loop {looped:.2f} s "
                       f"({looped / batched:.1f}x) on {len(tr.test)} users"}
