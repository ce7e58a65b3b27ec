"""FilmTrust's real users as profiles and pairwise questions (lesson 02, not graded).

Lesson 02's experiment, rebuilt on real people: the ratings of ``filmtrust`` (Guo, Zhang &
Yorke-Smith, IJCAI 2013; ``datasets/filmtrust.md``), 1,508 users who rated films from 0.5
to 4 stars. Every choice below was fixed, with its reason, before any result was seen:

* **Who.** Users with at least ``MIN_RATINGS`` (16) rated films. For each, ``HELD_OUT`` (8)
  films chosen at random are held out; the rest is their *history*.
* **The question**, as in the town: of two held-out films the user rated differently,
  which did they rate higher? ``N_QUERIES`` (10) such pairs per user, drawn at random; users
  whose held-out films give fewer differing pairs are left out. Which film comes first is a
  coin flip.
* **Film features** (``N_DIMS`` = 8 numbers): how much more than their own average people
  rate the film (shrunk towards 0 by ``SHRINK`` pseudo-ratings), and the top 7 factors of an
  SVD of the users x films matrix of mean-centred history ratings, each scaled to unit root
  mean square over the ratings. Only history ratings enter them: nothing a question asks leaks into them.
* **A profile item** is one film of the history, laid out as the town's items so that the
  town's reader (:class:`course.models.PreferenceModel`) reads it unchanged:
  ``[present | 1 | film features | (rating - the user's mean) x film features | 1 | 1]``.
  The one topic slot is constant (films have no topics). A profile shows up to ``K`` (32, as
  in the town) films of the history, in a random order fixed per user: FilmTrust has no time
  stamps, so "most recent" means nothing.
* **A question** is the query ``[1 | mean of the two films' features]`` and the candidate
  difference ``features(first) - features(second)``.
* **No profile shows the films asked about.** A user's own profile cannot (they are held
  out), so a profile read for user u skips u's held-out films whoever owns it; otherwise a
  substitute would be judged on a look-up that the user's own profile can never offer.
* **Similarity views** for ranking substitutes: ``"rated"``, which films each user rated in
  their history (a 0/1 row; coarse, like the town's topic usage: what they engaged with, not
  how they judged it); ``"ratings"``, their mean-centred history ratings (the fine-grained
  signal, like the town's outputs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .profiles import Episodes, Layout

__all__ = ["MIN_RATINGS", "HELD_OUT", "N_QUERIES", "N_DIMS", "K", "SHRINK", "VIEWS",
           "load_ratings", "RatingProfiles", "load_rating_profiles"]

MIN_RATINGS = 16
HELD_OUT = 8
N_QUERIES = 10
N_DIMS = 8
K = 32
SHRINK = 5.0
VIEWS = ("rated", "ratings")


def load_ratings() -> np.ndarray:
    """(n, 3) FilmTrust's user, film, rating rows (downloaded or mirrored, SHA-256 checked).

    The file rates three (user, film) pairs twice (user 308's block is repeated, two of them
    with other ratings); the later line is kept. Raises ``DatasetUnavailable`` without data.
    """
    from .datasets import fetch

    rows = np.loadtxt(fetch("filmtrust", ["ratings.txt"])["ratings.txt"], ndmin=2)
    key = rows[:, 0] * (rows[:, 1].max() + 1) + rows[:, 1]
    _, first_from_end = np.unique(key[::-1], return_index=True)
    return rows[np.sort(len(rows) - 1 - first_from_end)]


@dataclass
class RatingProfiles:
    """Real users as the town's reader sees them: U users, I films, M questions per user,
    P = K + HELD_OUT history films kept per user (enough for K after skipping).

    Attributes:
        items: (U, P, item_dim) float32, the first P history films of each user as profile
            items, in the user's random order; all-zero rows pad short histories.
        films: (U, P) int, the film of each of those items, -1 for padding.
        held_out: (U, HELD_OUT) int, each user's held-out films.
        query: (U, M, query_dim) float32 and diff: (U, M, N_DIMS) float32, the questions.
        y: (U, M) int, 1 when the user rated the question's first film higher.
        rated: (U, I) float32, 1 where the user rated the film in their history.
        centred: (U, I) float32, history rating minus the user's mean history rating, 0 elsewhere.
        layout: the reader's sizes (K items, one topic, N_DIMS numbers).
        film_features: (I, N_DIMS) float32, each film's features.
        user_ids: (U,) FilmTrust's id of each user.
        n_ratings: how many ratings the data holds (every user, before any filter).
    """

    items: np.ndarray
    films: np.ndarray
    held_out: np.ndarray
    query: np.ndarray
    diff: np.ndarray
    y: np.ndarray
    rated: np.ndarray
    centred: np.ndarray
    layout: Layout
    film_features: np.ndarray
    user_ids: np.ndarray
    n_ratings: int

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def describe(self) -> dict:
        return {"ratings": self.n_ratings, "users": self.n_users, "films": int(self.rated.shape[1]),
                "history_ratings_per_user": round(float(self.rated.sum(1).mean()), 1),
                "questions_per_user": int(self.y.shape[1])}

    def similarity_view(self, similarity: str) -> np.ndarray:
        """(U, I) rows for ranking substitutes: ``"rated"`` or ``"ratings"`` (module docstring)."""
        if similarity not in VIEWS:
            raise ValueError(f"similarity must be one of {VIEWS}, got {similarity!r}")
        return self.rated if similarity == "rated" else self.centred

    def profiles(self, owners: np.ndarray, users: np.ndarray) -> np.ndarray:
        """(B, K, item_dim) the profile of ``owners[b]`` (-1: none, all zeros) as read for
        ``users[b]``: its first K history films that are not among the user's held-out ones."""
        owners, users = np.asarray(owners), np.asarray(users)
        films = self.films[np.maximum(owners, 0)]                                    # (B, P)
        skip = (films[:, :, None] == self.held_out[users][:, None, :]).any(-1) | (films < 0)
        keep = np.argsort(skip, axis=1, kind="stable")[:, :self.layout.n_items]      # (B, K)
        items = np.take_along_axis(self.items[np.maximum(owners, 0)], keep[..., None], axis=1)
        items[np.take_along_axis(skip, keep, axis=1) | (owners < 0)[:, None]] = 0.0
        return items

    def episodes(self, draws: np.ndarray, users: np.ndarray) -> tuple[Episodes, np.ndarray]:
        """``users``' questions (n,) read once per row of ``draws`` (R, n) through the profile
        of ``draws[r, i]`` (-1: none); one group per row and user, row-major, and ``y`` (n, M)."""
        R = len(draws)
        items = self.profiles(np.asarray(draws).ravel(), np.tile(users, R))
        query, diff = (np.tile(a[users], (R, 1, 1)) for a in (self.query, self.diff))
        return Episodes(items, query, diff), self.y[users]


def _film_features(user: np.ndarray, film: np.ndarray, centred: np.ndarray, n_users: int,
                   n_films: int, seed: int) -> np.ndarray:
    """(I, N_DIMS) float32 from history ratings (user, film, centred rating): shrunk film
    bias, then SVD factors; each column scaled to unit root mean square over the ratings (a
    film counts as often as it is rated, so rare films do not set the scale)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import svds

    count = np.bincount(film, minlength=n_films)
    bias = np.bincount(film, centred, minlength=n_films) / (count + SHRINK)
    matrix = sp.csr_matrix((centred, (user, film)), shape=(n_users, n_films))
    start = np.random.default_rng(seed).standard_normal(min(matrix.shape))
    _, s, vt = svds(matrix, k=N_DIMS - 1, v0=start)
    features = np.column_stack([bias, vt[::-1].T * np.sqrt(s[::-1])])
    rms = np.sqrt(np.average(features ** 2, axis=0, weights=count))   # over ratings, not films
    return (features / rms).astype(np.float32)


def load_rating_profiles(seed: int = 0) -> RatingProfiles:
    """FilmTrust as :class:`RatingProfiles`; ``seed`` draws the held-out films, the questions,
    the profiles' order. Raises ``DatasetUnavailable`` when the data cannot be had."""
    rows = load_ratings()
    rng = np.random.default_rng(seed)
    user_ids, user = np.unique(rows[:, 0].astype(np.int64), return_inverse=True)
    _, film = np.unique(rows[:, 1].astype(np.int64), return_inverse=True)
    n_all, n_films = len(user_ids), int(film.max()) + 1
    order = np.lexsort((rng.random(len(rows)), user))            # by user, random within
    user, film, rating = user[order], film[order], rows[order, 2]
    counts = np.bincount(user, minlength=n_all)
    position = np.arange(len(user)) - np.repeat(np.cumsum(counts) - counts, counts)
    eligible = counts >= MIN_RATINGS
    history = ~(eligible[user] & (position < HELD_OUT))        # others' ratings are all history
    mean = (np.bincount(user[history], rating[history], minlength=n_all)
            / np.maximum(np.bincount(user[history], minlength=n_all), 1))
    centred = rating - mean[user]
    features = _film_features(user[history], film[history], centred[history], n_all, n_films, seed)

    # questions: N_QUERIES differing pairs among each eligible user's held-out films
    first = (np.cumsum(counts) - counts)[eligible]                               # (E,)
    held = film[first[:, None] + np.arange(HELD_OUT)]                           # (E, 8)
    held_rating = rating[first[:, None] + np.arange(HELD_OUT)]
    i, j = np.triu_indices(HELD_OUT, 1)
    differ = held_rating[:, i] != held_rating[:, j]                              # (E, 28)
    pick = np.argsort(rng.random(differ.shape) + ~differ, axis=1)[:, :N_QUERIES]
    kept = differ.sum(axis=1) >= N_QUERIES
    swap = rng.random((len(held), N_QUERIES)) < 0.5
    a, b = np.where(swap, j[pick], i[pick]), np.where(swap, i[pick], j[pick])
    rows_e = np.arange(len(held))[:, None]
    y = (held_rating[rows_e, a] > held_rating[rows_e, b]).astype(int)
    fa, fb = features[held[rows_e, a]], features[held[rows_e, b]]
    ones = np.ones(fa.shape[:2] + (1,), np.float32)
    query, diff = np.concatenate([ones, (fa + fb) / 2], axis=2), fa - fb

    # profiles: the first K + HELD_OUT history films of each kept user, in their random order
    P = K + HELD_OUT
    users = np.flatnonzero(eligible)[kept]                                       # (U,) of n_all
    slot = first[kept][:, None] + HELD_OUT + np.arange(P)                       # (U, P)
    present = np.arange(P)[None, :] < (counts[users] - HELD_OUT)[:, None]
    slot = np.where(present, slot, 0)
    films = np.where(present, film[slot], -1)
    f = features[np.maximum(films, 0)]
    dev = centred[slot][..., None].astype(np.float32)
    ones = np.ones(films.shape + (1,), np.float32)
    items = np.concatenate([ones, ones, f, dev * f, ones, ones], axis=2) * present[..., None]

    in_history = history & np.isin(user, users)
    row = np.searchsorted(users, user[in_history])
    rated = np.zeros((len(users), n_films), np.float32)
    rated[row, film[in_history]] = 1.0
    centred_view = np.zeros((len(users), n_films), np.float32)
    centred_view[row, film[in_history]] = centred[in_history]
    return RatingProfiles(items.astype(np.float32), films, held[kept], query[kept].astype(np.float32),
                          diff[kept].astype(np.float32), y[kept], rated, centred_view,
                          Layout(K, 1, N_DIMS), features, user_ids[users], len(rows))
