"""Social Poisson factorization and its baselines (lesson 05).

Chaney, Blei and Eliassi-Rad (RecSys 2015) model a click count as

    r_ui ~ Poisson( theta_u . beta_i  +  sum over friends v of tau_uv * r_vi ),

user preferences ``theta`` (U, K) and item attributes ``beta`` (I, K) non-negative with
Gamma(0.3, 0.3) priors, and one influence ``tau_uv`` ~ Gamma(2, 5) per friend. Every click is
split, in expectation, between the K factors and the friends who clicked the same item (the
auxiliary counts); mean-field coordinate ascent (CAVI) then updates Gamma posteriors in closed
form. Derived here from the model (the updates are in :func:`fit_spf`'s docstring), not ported:
it uses the full expected log ``digamma(shape) - log(rate)`` for every entry.

Everything runs on SciPy sparse matrices and arrays over the non-zeros: no Python loop over
users or items inside an iteration. The same fit covers plain Poisson factorization
(``model="pf"``: no friends), social-only factorization (``model="social_only"``: no factors),
and the friends-look-alike baseline (``pull > 0``: each user's Gamma prior is centred on the
mean of their friends' preferences, the Poisson analogue of SocialMF's regularizer).

Scores are ranked with :func:`ncrr` and :func:`ndcg` (ties split evenly, i.e. the expectation
over random tie-breaks); ``per_user`` results feed ``course.metrics.paired_bootstrap_gap``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from scipy.special import digamma, gammaln
from tqdm.auto import tqdm

from .checks import twin
from .metrics import paired_bootstrap_gap
from .world import TownConfig, make_town
from .world.social import INFLUENCED, OWN, TEST, SocialConfig, SocialTown, make_social

__all__ = ["Fit", "fit_spf", "social_rate", "expected_log", "split_click", "ncrr", "ndcg",
           "rank_scores", "Positions", "explain", "popularity_scores", "candidates_mask", "MODELS", "LESSON",
           "TAU_PRIORS", "PULLS", "N_FACTORS", "METHODS", "social_town", "fit_method",
           "Comparison", "method_scores", "compare", "PAPER_NCRR", "REFERENCE_FILMTRUST",
           "evaluate_data", "filmtrust_or_skip", "reproduce", "benchmark", "influence_grid"]

MODELS = ("spf", "pf", "social_only")


# ----------------------------------------------------------------------------- small pieces

@twin
def social_rate(tau: sp.spmatrix, clicks: sp.spmatrix) -> np.ndarray:
    """(U, I) the social part of every rate, ``sum_v tau[u, v] * clicks[v, i]``.

    Args:
        tau: (U, U) sparse, ``tau[u, v]`` = how much friend ``v``'s clicks lift ``u``'s rates
            (directed: ``tau[u, v]`` need not equal ``tau[v, u]``).
        clicks: (U, I) sparse click counts.

    Returns:
        A dense (U, I) float array: one sparse product, ``tau @ clicks``.
    """
    return np.asarray((sp.csr_matrix(tau) @ sp.csr_matrix(clicks)).todense(), dtype=float)


@twin
def split_click(elog_theta: np.ndarray, elog_beta: np.ndarray, elog_tau: np.ndarray,
                friend_clicks: np.ndarray) -> np.ndarray:
    """How one click of user u on item i is split between K factors and F friends.

    Args:
        elog_theta: (K,) E[log theta_uk]; elog_beta: (K,) E[log beta_ik];
        elog_tau: (F,) E[log tau_uv] of u's friends; friend_clicks: (F,) r_vi, the friends'
            counts on the same item (0 where a friend did not click it).

    Returns:
        (K + F,) responsibilities: proportional to ``exp(elog_theta + elog_beta)`` for the
        factors and ``friend_clicks * exp(elog_tau)`` for the friends; they sum to 1. Computed
        in log space (log 0 = -inf), so very negative expected logs do not underflow.
    """
    r = np.asarray(friend_clicks, dtype=float)
    with np.errstate(divide="ignore"):
        logits = np.concatenate([np.asarray(elog_theta, float) + np.asarray(elog_beta, float),
                                 np.asarray(elog_tau, float) + np.log(r)])
    logits -= logits.max()
    phi = np.exp(logits)
    return phi / phi.sum()


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

    @classmethod
    def of(cls, scores, relevant, candidates, block: int = 4096) -> "Positions":
        """Count, for every relevant entry, the candidates above it and tied with it."""
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
        return cls(scores.shape[0], scores.shape[1], users, items, values, above, tied)

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
    return Positions.of(scores, relevant, candidates).gain(gain)


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


def popularity_scores(train: sp.spmatrix) -> np.ndarray:
    """(I,) exact click counts per item (no rounding; ties are split evenly when ranked)."""
    return np.asarray(sp.csr_matrix(train).sum(axis=0), dtype=float).ravel()


@twin
def explain(tau: sp.spmatrix, clicks: sp.spmatrix, factor_rate: np.ndarray,
            users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Which friend explains each recommendation: for each pair (users[j], items[j]), the
    friend v with the largest share ``tau[u, v] * clicks[v, i]`` of the rate, or -1 when the
    user's own factors ``factor_rate[j]`` (= theta_u . beta_i) are larger than every friend's
    share. Ties go to the lowest friend id; a friend who did not click the item never explains.

    Returns:
        (n,) int friend ids or -1.
    """
    tau, clicks = sp.csr_matrix(tau), sp.csc_matrix(clicks)
    users, items = np.asarray(users), np.asarray(items)
    shares = tau[users].multiply(clicks[:, items].T.tocsr()).tocsr()  # (n, U), one row per pair
    shares.eliminate_zeros()
    shares.sort_indices()  # so that argmax breaks ties by the lowest friend id
    best = np.full(users.size, -1)
    top = np.zeros(users.size)
    has = np.diff(shares.indptr) > 0
    if has.any():
        dense_best = np.asarray(shares[has].argmax(axis=1)).ravel()
        best[has] = dense_best
        top[has] = np.asarray(shares[has].max(axis=1).todense()).ravel()
    return np.where((top > np.asarray(factor_rate, float)) & has, best, -1)


# ----------------------------------------------------------------------------- the fit

@dataclass
class Fit:
    """A fitted model. Means of the Gamma posteriors, the history, and how to score.

    Attributes:
        model: "spf", "pf" or "social_only"; pull: the look-alike strength (0 = none);
        tau_prior: the Gamma (shape, rate) prior on tau.
        theta: (U, K) E[theta] (zeros for social_only); beta: (I, K) E[beta].
        tau: (U, U) CSR of E[tau_uv] on the network (empty for pf).
        train: (U, I) the training counts the social part reads.
        validation_ll: per iteration, the mean validation log-likelihood per held-out click.
        elbo: per iteration, the evidence lower bound (when tracked).
        seconds_per_iteration: mean wall time of one iteration (setup excluded).
        posterior: the Gamma posteriors (shapes and rates), for a warm start.
        tried: the candidate fits a hyperparameter was chosen from (see ``fit_method``).
    """

    model: str
    pull: float
    tau_prior: tuple
    theta: np.ndarray
    beta: np.ndarray
    tau: sp.csr_matrix
    train: sp.csr_matrix = field(repr=False)
    validation_ll: list = field(default_factory=list)
    elbo: list = field(default_factory=list)
    seconds_per_iteration: float = float("nan")
    posterior: object = field(default=None, repr=False)
    tried: list = field(default_factory=list, repr=False)

    @property
    def iterations(self) -> int:
        return len(self.validation_ll)

    def factor_rate(self, users=None) -> np.ndarray:
        """(n, I) theta_u . beta_i for ``users`` (default all)."""
        theta = self.theta if users is None else self.theta[users]
        return theta @ self.beta.T

    def scores(self, users=None) -> np.ndarray:
        """(n, I) expected rates for ``users`` (default all): factors plus friends."""
        users = np.arange(self.theta.shape[0]) if users is None else np.asarray(users)
        out = self.factor_rate(users)
        if self.tau.nnz:
            out += social_rate(self.tau[users], self.train)
        return out


@dataclass
class _Problem:
    """The data of one fit, arranged once: clicks as parallel arrays in CSR order, the ties,
    and every (click, friend who clicked the same item) triple for the social part."""

    U: int
    I: int
    train: sp.csr_matrix      # (U, I) canonical CSR of the counts
    rows: np.ndarray          # (nnz,) user of each training click, in CSR order
    counts: np.ndarray        # (nnz,) r_ui
    edge_u: np.ndarray        # (E,) the user of each directed tie ...
    edge_v: np.ndarray        # (E,) ... and the friend whose clicks may lift u's rates
    trip_click: np.ndarray    # (n_triples,) index of a training click (u, i)
    trip_edge: np.ndarray     # (n_triples,) the tie (u, v) whose friend v clicked i too
    trip_r: np.ndarray        # (n_triples,) the friend's count r_vi
    friend_total: np.ndarray  # (E,) sum_i r_vi: the friend's total count
    val: tuple | None         # validation: rows, cols, counts, triples (click, edge, r)

    @property
    def cols(self) -> np.ndarray:
        return self.train.indices

    def ratio_matrix(self, ratio: np.ndarray) -> sp.csr_matrix:
        """(U, I) CSR with ``ratio`` (one value per training click) in the clicks' places."""
        return sp.csr_matrix((ratio, self.train.indices, self.train.indptr), shape=(self.U, self.I))


def _canonical(m: sp.spmatrix) -> sp.csr_matrix:
    """CSR with sorted indices, duplicates summed and explicit zeros removed."""
    m = sp.csr_matrix(m, dtype=float, copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    return m


def _rows(m: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))


def _triples(train: sp.csr_matrix, target: sp.csr_matrix, edge_u, edge_v):
    """(click index in ``target``, tie, r_vi) for every tie (u, v) and item i with
    target[u, i] > 0 and train[v, i] > 0. Both matrices canonical CSR."""
    if edge_u.size == 0:
        empty = np.empty(0, np.int64)
        return empty, empty, np.empty(0)
    mine = target[edge_u]                            # (E, I): what each tie's user clicked
    mine.data = np.ones_like(mine.data)
    both = train[edge_v].multiply(mine).tocsr()      # ... that the tie's friend clicked too
    both.eliminate_zeros()
    both.sort_indices()
    edge = np.repeat(np.arange(edge_u.size), np.diff(both.indptr))
    keys = _rows(target) * target.shape[1] + target.indices  # sorted: target is canonical
    click = np.searchsorted(keys, edge_u[edge] * target.shape[1] + both.indices)
    return click, edge, both.data.astype(float)


def _prepare(train: sp.csr_matrix, network: sp.spmatrix | None,
             validation: sp.spmatrix | None, social: bool) -> _Problem:
    U, I = train.shape
    if network is not None:
        net = sp.csr_matrix(network).tocoo()
        if net.shape != (U, U):
            raise ValueError(f"network must be ({U}, {U}) for {U} users, got {net.shape}")
        keep = (net.row != net.col) & (net.data != 0)
        edge_u, edge_v = net.row[keep].astype(np.int64), net.col[keep].astype(np.int64)
        order = np.lexsort((edge_v, edge_u))
        edge_u, edge_v = edge_u[order], edge_v[order]
    else:
        edge_u = edge_v = np.empty(0, np.int64)
    empty = (edge_u[:0], edge_v[:0])
    tc, te, tr = _triples(train, train, *((edge_u, edge_v) if social else empty))
    total = np.asarray(train.sum(axis=1)).ravel()
    val = None
    if validation is not None:
        v = _canonical(validation)
        if v.shape != (U, I):
            raise ValueError(f"validation must be ({U}, {I}) like train, got {v.shape}")
        val = (_rows(v), v.indices.astype(np.int64), v.data,
               *_triples(train, v, *((edge_u, edge_v) if social else empty)))
    return _Problem(U, I, train, _rows(train), train.data, edge_u, edge_v, tc, te, tr,
                    total[edge_v], val)


@twin
def expected_log(shape: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """E[log x] for x ~ Gamma(shape, rate), entry by entry: ``digamma(shape) - log(rate)``.

    Both arrays have one shape (e.g. (U, K)); every entry has its own rate. (The reference
    code subtracts a single element's log-rate from a whole column, a defect.)
    """
    return digamma(shape) - np.log(rate)


def _gamma_bound(a0, b0, shape, rate) -> float:
    """Sum of E_q[log p(x)] - E_q[log q(x)] for Gamma(a0, b0) priors and Gamma(shape, rate)."""
    elog, mean = expected_log(shape, rate), shape / rate
    prior = a0 * np.log(b0) - gammaln(a0) + (a0 - 1) * elog - b0 * mean
    entropy = -(shape * np.log(rate) - gammaln(shape) + (shape - 1) * elog - shape)
    return float(np.sum(prior + entropy))


@dataclass
class _State:
    """Gamma posteriors (shape, rate) of theta (U, K), beta (I, K) and tau (E,)."""

    shape_t: np.ndarray
    rate_t: np.ndarray
    shape_b: np.ndarray
    rate_b: np.ndarray
    shape_tau: np.ndarray
    rate_tau: np.ndarray

    def means(self):
        return self.shape_t / self.rate_t, self.shape_b / self.rate_b, self.shape_tau / self.rate_tau


def _split_weights(prob: _Problem, s: _State, factors: bool):
    """exp(E log theta), exp(E log beta), the friends' weights per triple and the
    normaliser of each click's split (the auxiliary counts' multinomial)."""
    norm = np.zeros(prob.rows.size)
    et = eb = None
    if factors:
        et, eb = np.exp(expected_log(s.shape_t, s.rate_t)), np.exp(expected_log(s.shape_b, s.rate_b))
        # single precision for the per-click gather, the costliest step (a normaliser only)
        f32 = np.float32
        norm = np.einsum("nk,nk->n", et.astype(f32).take(prob.rows, axis=0),
                         eb.astype(f32).take(prob.cols, axis=0)).astype(float)
    w = prob.trip_r * np.exp(expected_log(s.shape_tau, s.rate_tau))[prob.trip_edge]
    norm += np.bincount(prob.trip_click, w, minlength=prob.rows.size)
    return et, eb, w, norm


def fit_spf(train: sp.spmatrix, network: sp.spmatrix | None = None,
            validation: sp.spmatrix | None = None, *, model: str = "spf", n_factors: int = 10,
            pull: float = 0.0, a_theta: float = 0.3, b_theta: float = 0.3, a_beta: float = 0.3,
            b_beta: float = 0.3, a_tau: float = 2.0, b_tau: float = 5.0,
            max_iter: int = 300, min_iter: int = 30, tol: float = 1e-4,
            fixed_iter: int | None = None, track_elbo: bool = False, random_state: int = 0,
            init: Fit | None = None, progress: bool = True) -> Fit:
    """Fit SPF (or PF, social-only, the look-alike) by coordinate-ascent variational inference.

    Each click r_ui is split between the factors and the friends who clicked i:
    ``phi_uik ∝ exp(E log theta_uk + E log beta_ik)``, ``phi_uiv ∝ r_vi exp(E log tau_uv)``.
    Then, with E log x = digamma(shape) - log(rate) for every entry,

    * theta_uk ~ Gamma(a_theta + sum_i r_ui phi_uik,  b_theta + sum_i E beta_ik)
    * tau_uv  ~ Gamma(a_tau + sum_i r_ui phi_uiv,    b_tau + sum_i r_vi)
    * beta_ik ~ Gamma(a_beta + sum_u r_ui phi_uik,   b_beta + sum_u E theta_uk)

    one block at a time (the split, then theta and tau, then beta with the new theta), so
    every step raises the evidence lower bound. With ``pull > 0`` a user's theta prior is
    Gamma(pull, pull / m_u), m_u = the mean E[theta] of their friends from the previous
    iteration (users without friends keep the plain prior): the friends-look-alike baseline.

    Args:
        train: (U, I) sparse counts (clicks are 1s).
        network: (U, U) sparse; a non-zero at [u, v] lets friend v's clicks lift u's rates
            (pass a symmetric matrix for an undirected network).
        validation: (U, I) sparse held-out counts. After each iteration the fit records the
            validation log-likelihood (see ``_validation_ll``) and stops when
            it changes by less than ``tol`` (relative) after ``min_iter`` iterations, or
            falls twice in a row.
        model: "spf", "pf" (no friends) or "social_only" (no factors).
        n_factors: K. pull: look-alike strength (0 = off; needs model="pf" and a network).
        a_*, b_*: Gamma shape and rate of the priors (defaults: the paper's).
        max_iter, min_iter, tol: stopping. fixed_iter: run exactly this many iterations.
        track_elbo: also record the ELBO after every iteration (slower).
        random_state: seed of the random initialization.
        init: start theta and beta from this fit's posteriors (a warm start from a fit of
            the same data; tau starts from its prior). progress: show a progress bar.

    Returns:
        A :class:`Fit`.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if n_factors < 1:
        raise ValueError(f"n_factors must be at least 1, got {n_factors}")
    if pull < 0 or (pull > 0 and (network is None or model != "pf")):
        raise ValueError(f"pull must be >= 0, and a positive pull needs model='pf' and a "
                         f"network; got pull={pull}, model={model!r}")
    if model == "social_only" and network is None:
        raise ValueError("model='social_only' needs a network")
    train = _canonical(train)
    if train.nnz and train.data.min() < 0:
        raise ValueError("train must hold non-negative counts")
    factors, social = model != "social_only", model != "pf"
    prob = _prepare(train, network, validation, social)
    U, I, K, E = prob.U, prob.I, n_factors, prob.edge_u.size if social else 0
    rng = np.random.default_rng(random_state)
    # start from the prior shapes plus noise that breaks the symmetry between factors
    s = _State(a_theta + rng.uniform(0, 1, (U, K)), np.full((U, K), b_theta + 1.0),
               a_beta + rng.uniform(0, 1, (I, K)), np.full((I, K), b_beta + 1.0),
               np.full(E, float(a_tau)), b_tau + prob.friend_total[:E])
    if init is not None and factors:
        if init.theta.shape != (U, K) or init.beta.shape != (I, K):
            raise ValueError(f"init must be a fit with theta ({U}, {K}) and beta ({I}, {K})")
        p = init.posterior
        s.shape_t, s.rate_t, s.shape_b, s.rate_b = p.shape_t, p.rate_t, p.shape_b, p.rate_b
    prior_shape, prior_rate = a_theta, b_theta
    if pull > 0:
        adj = sp.csr_matrix((np.ones(prob.edge_u.size), (prob.edge_u, prob.edge_v)), shape=(U, U))
        degree = np.asarray(adj.sum(axis=1)).ravel()
        friends_mean = sp.diags(1.0 / np.maximum(degree, 1)) @ adj
        lonely = (degree == 0)[:, None]

    fit = Fit(model, pull, (a_tau, b_tau), np.zeros((U, K)), np.zeros((I, K)), sp.csr_matrix((U, U)), train)
    falls, start = 0, time.perf_counter()
    n_iter = fixed_iter or max_iter
    with tqdm(total=n_iter, desc=model + (" look-alike" if pull else ""), disable=not progress,
              leave=False) as bar:
        for it in range(n_iter):
            et, eb, w, norm = _split_weights(prob, s, factors)
            ratio = prob.counts / np.maximum(norm, 1e-300)
            if factors:
                if pull > 0:  # centre each prior on the friends' mean preferences
                    m = np.maximum(friends_mean @ (s.shape_t / s.rate_t), 1e-6)
                    prior_shape = np.where(lonely, a_theta, pull)
                    prior_rate = np.where(lonely, b_theta, pull / m)
                r = prob.ratio_matrix(ratio)
                s.shape_t = prior_shape + et * (r @ eb)
                s.rate_t = prior_rate + (s.shape_b / s.rate_b).sum(axis=0)
                s.shape_b = a_beta + eb * (r.T @ et)
                s.rate_b = b_beta + (s.shape_t / s.rate_t).sum(axis=0)
            if E:
                s.shape_tau = a_tau + np.bincount(prob.trip_edge, w * ratio[prob.trip_click],
                                                  minlength=E)
            theta, beta, tau = s.means()
            fit.validation_ll.append(_validation_ll(prob, theta, beta, tau))
            if track_elbo:
                fit.elbo.append(_elbo(prob, s, factors, (a_theta, b_theta, a_beta, b_beta,
                                                         a_tau, b_tau)))
            bar.update()
            if fixed_iter is None and it >= 1:
                old, new = fit.validation_ll[-2], fit.validation_ll[-1]
                falls = falls + 1 if new < old else 0
                if it + 1 >= min_iter and (abs(new - old) <= tol * abs(old) or falls >= 2):
                    break
    fit.seconds_per_iteration = (time.perf_counter() - start) / fit.iterations
    fit.theta, fit.beta = (theta, beta) if factors else (np.zeros((U, K)), np.zeros((I, K)))
    fit.tau = sp.csr_matrix((tau, (prob.edge_u[:E], prob.edge_v[:E])), shape=(U, U))
    fit.posterior = s
    return fit


def _user_totals(prob: _Problem, theta, beta, tau):
    """Per user: the expected count over all items, and over their training items."""
    everything = theta @ beta.sum(axis=0)
    at_train = (theta * (prob.train @ beta)).sum(axis=1)
    if tau.size:
        everything = everything + np.bincount(prob.edge_u[:tau.size], tau * prob.friend_total[:tau.size],
                                              minlength=prob.U)
        social = np.bincount(prob.trip_click, prob.trip_r * tau[prob.trip_edge], minlength=prob.rows.size)
        at_train = at_train + np.bincount(prob.rows, social, minlength=prob.U)
    return everything, at_train


def _validation_ll(prob: _Problem, theta, beta, tau) -> float:
    """Mean log-probability per validation click that it fell on its item rather than on
    another of the user's unclicked items: the Poisson likelihood given each user's number of
    held-out clicks (a multinomial over the items outside their training clicks)."""
    if prob.val is None:
        return float("nan")
    rows, cols, counts, vc, ve, vr = prob.val
    rate = np.einsum("nk,nk->n", theta[rows], beta[cols])
    if tau.size:
        rate += np.bincount(vc, vr * tau[ve], minlength=rows.size)
    everything, at_train = _user_totals(prob, theta, beta, tau)
    outside = np.maximum(everything - at_train, 1e-300)[rows]
    return float((counts * np.log(np.maximum(rate, 1e-300) / outside)).sum() / max(counts.sum(), 1))


def _elbo(prob: _Problem, s: _State, factors: bool, priors) -> float:
    """The evidence lower bound, with every click's split at its optimum."""
    a_t, b_t, a_b, b_b, a_tau, b_tau = priors
    _, _, w, norm = _split_weights(prob, s, factors)
    theta, beta, tau = s.means()
    bound = float((prob.counts * np.log(np.maximum(norm, 1e-300))
                   - gammaln(prob.counts + 1)).sum())
    if factors:
        bound -= theta.sum(axis=0) @ beta.sum(axis=0)
        bound += _gamma_bound(a_t, b_t, s.shape_t, s.rate_t)
        bound += _gamma_bound(a_b, b_b, s.shape_b, s.rate_b)
    if tau.size:
        bound -= tau @ prob.friend_total[:tau.size]
        bound += _gamma_bound(a_tau, b_tau, s.shape_tau, s.rate_tau)
    return bound


# ----------------------------------------------------------------------------- the experiment

#: the lesson's town: 2,000 users (the town's default) and 1,000 items, about 54,000 training
#: clicks and 17 friends each (the size at which the authors' C++ code was timed)
LESSON = SocialConfig()
#: Gamma (shape, rate) priors on tau that SPF chooses from by validation log-likelihood: the
#: paper's (2, 5), and two that let an influence shrink towards 0
TAU_PRIORS = ((2.0, 5.0), (0.5, 5.0), (0.1, 1.0))
#: look-alike strengths chosen from by validation log-likelihood
PULLS = (1.0, 3.0)
N_FACTORS = 10
#: fewest iterations of a fit that starts from PF's (it starts near its optimum)
WARM_MIN_ITER = 10
METHODS = ("spf", "pf", "social_only", "lookalike", "popularity", "oracle")


def social_town(seed: int = 0, n_users: int = 2000, **overrides) -> SocialTown:
    """The lesson's social town: the town of ``n_users`` (seed ``seed``) and its social facet
    with ``LESSON``'s parameters, changed by ``overrides`` (e.g. ``influence=0``)."""
    town = make_town(TownConfig(n_users=n_users, n_interactions=1, seed=seed))
    return make_social(town, replace(LESSON, seed=seed, **overrides))


def fit_method(method: str, train, network, validation, *, start: Fit | None = None,
               random_state: int = 0, progress: bool = False, **kwargs) -> Fit:
    """Fit one of "pf", "spf", "lookalike" or "social_only" the lesson's way.

    PF, SPF and the look-alike all continue from the same PF fit ``start`` (fitted from a
    random start when not given) with the same stopping rule, so that none of them gets more
    training than the others. "spf" tries every tau prior in ``TAU_PRIORS`` and "lookalike"
    every strength in ``PULLS``; the best validation log-likelihood wins, and the candidates
    are kept in its ``tried`` list. ``kwargs`` go to :func:`fit_spf` (e.g. ``fixed_iter``).
    """
    common = {"n_factors": N_FACTORS, "random_state": random_state, "progress": progress,
              **kwargs}
    if method == "social_only":
        return fit_spf(train, network, validation, model=method, **common)
    if method not in ("pf", "spf", "lookalike"):
        raise ValueError(f"method must be spf, pf, social_only or lookalike, got {method!r}")
    start = start or fit_spf(train, network, validation, model="pf", **common)
    warm = dict(common, init=start, min_iter=WARM_MIN_ITER)
    if method == "pf":
        fits = [fit_spf(train, network, validation, model="pf", **warm)]
    elif method == "spf":
        fits = [fit_spf(train, network, validation, model="spf", a_tau=a, b_tau=b, **warm)
                for a, b in TAU_PRIORS]
    else:
        fits = [fit_spf(train, network, validation, model="pf", pull=p, **warm) for p in PULLS]
    best = max(fits, key=lambda f: f.validation_ll[-1])
    best.tried = fits
    return best


def _fit_all(methods, train, network, validation, random_state: int, progress: bool,
             **kwargs) -> dict:
    """The fitted models among ``methods`` (popularity and the oracle are not fitted), the
    factor models continuing from one shared PF start."""
    learned = [m for m in methods if m in ("pf", "spf", "lookalike", "social_only")]
    start = None
    if set(learned) - {"social_only"}:
        start = fit_spf(train, network, validation, model="pf", random_state=random_state,
                        progress=progress, **{"n_factors": N_FACTORS, **kwargs})
    return {m: fit_method(m, train, network, validation, start=start, random_state=random_state,
                          progress=progress, **kwargs) for m in learned}


@dataclass
class Comparison:
    """Per-user NCRR and NDCG of several methods on one town's test clicks.

    Attributes:
        users: (n,) the users with at least one test click (the unit of every average).
        ncrr, ndcg: method -> (n,) per-user values.
        by_origin: "influenced" / "own_taste" -> method -> (n_o,) per-user NCRR, counting
            only test clicks of that origin as relevant (the others leave the candidates).
        fits: method -> the :class:`Fit` (models that learn).
    """

    users: np.ndarray
    ncrr: dict
    ndcg: dict
    by_origin: dict
    fits: dict

    def mean(self, method: str, metric: str = "ncrr") -> float:
        return float(np.mean(getattr(self, metric)[method]))

    def gain(self, a: str, b: str, random_state: int = 0) -> dict:
        """Paired bootstrap of NCRR a - b over users (``course.metrics``)."""
        return paired_bootstrap_gap(self.ncrr[a], self.ncrr[b], random_state=random_state)


def method_scores(st: SocialTown, methods=METHODS, random_state: int = 0,
                  progress: bool = False) -> tuple[dict, dict]:
    """(scores, fits): (U, I) scores of each method on a town, and the fitted models."""
    fits = _fit_all(methods, st.train, st.network, st.validation, random_state, progress)
    scores = {}
    for m in methods:
        if m == "popularity":
            scores[m] = np.broadcast_to(popularity_scores(st.train), (st.n_users, st.n_items))
        elif m == "oracle":
            scores[m] = st.oracle_scores()
        else:
            scores[m] = fits[m].scores()
    return scores, fits


def compare(st: SocialTown, methods=METHODS, random_state: int = 0,
            progress: bool = False) -> Comparison:
    """Fit and evaluate ``methods`` on a town: candidates are all items a user has not clicked
    in training or validation; relevant are their test clicks."""
    scores, fits = method_scores(st, methods, random_state, progress)
    candidates = candidates_mask(st.train + st.validation)
    test = st.test.toarray() > 0
    users = np.flatnonzero(test.any(axis=1))
    influenced = st.clicks(TEST, INFLUENCED).toarray() > 0
    ncrr_, ndcg_ = {}, {}
    by_origin = {"influenced": {}, "own_taste": {}}
    for m, s in scores.items():
        pos = Positions.of(s, test, candidates)
        ncrr_[m], ndcg_[m] = pos.gain("reciprocal")[users], pos.gain("log")[users]
        caused = influenced[pos.users, pos.items]
        for name, drop in (("influenced", ~caused), ("own_taste", caused)):
            if not drop.all():
                value = pos.without(drop).gain("reciprocal")
                by_origin[name][m] = value[~np.isnan(value)]
    by_origin = {name: d for name, d in by_origin.items() if d}
    return Comparison(users, ncrr_, ndcg_, by_origin, fits)


def summary(c: Comparison, methods) -> dict:
    """JSON-ready means of a comparison: NCRR (and NDCG) per method."""
    return {m: round(c.mean(m), 4) for m in methods}


#: NCRR bars of Chaney et al. (2015) read off the paper's chart (+-0.001); "lookalike" is the
#: best of their similarity-based social baselines (SocialMF, TrustMF, RSTE, ...)
PAPER_NCRR = {"Ciao": {"spf": 0.040, "social_only": 0.036, "pf": 0.022, "popularity": 0.026,
                       "lookalike": 0.016},
              "Epinions": {"spf": 0.062, "social_only": 0.058, "pf": 0.021, "popularity": 0.005,
                           "lookalike": 0.014}}
#: the authors' C++ code (ajbc/spf@a2f9712) on FilmTrust, run by the course's lead: ratings >=
#: 3.5 as clicks, 89/10/1 split, K = 10, 30 iterations; popularity ranked by exact counts
REFERENCE_FILMTRUST = {"spf": 0.242, "pf": 0.242, "social_only": 0.064, "popularity": 0.248}
FILMTRUST_METHODS = ("spf", "pf", "social_only", "popularity")


def evaluate_data(data, methods=FILMTRUST_METHODS, random_state: int = 0,
                  progress: bool = False) -> dict:
    """Fit ``methods`` on a :class:`~course.socialdata.SocialData` and score them as the
    reference evaluation does (its candidate set, see ``reference_candidates``).

    Returns:
        ``{"users", "ncrr": {method: per-user (n,)}, "fits": {method: Fit}}``.
    """
    from .socialdata import reference_candidates

    relevant, candidates = reference_candidates(data)
    users = np.flatnonzero(relevant.any(axis=1))
    fits = _fit_all(methods, data.train, data.network, data.validation, random_state, progress)
    ncrr_ = {}
    for m in methods:
        scores = (np.broadcast_to(popularity_scores(data.train), data.shape)
                  if m == "popularity" else fits[m].scores())
        ncrr_[m] = ncrr(scores, relevant, candidates)[users]
    return {"users": users, "ncrr": ncrr_, "fits": fits}


def filmtrust_or_skip(seed: int = 0, progress: bool = False) -> dict:
    """PF, SPF, social-only and popularity on FilmTrust, or ``{"skipped": reason}``."""
    from .datasets import DatasetUnavailable
    from .socialdata import load_filmtrust

    try:
        data = load_filmtrust(seed)
    except DatasetUnavailable as err:
        return {"skipped": str(err)}
    result = evaluate_data(data, random_state=seed, progress=progress)
    out = {**data.describe(), "test_users": int(result["users"].size),
           "ncrr": {m: round(float(np.mean(v)), 4) for m, v in result["ncrr"].items()},
           "gain_spf_minus_pf": _rounded(paired_bootstrap_gap(result["ncrr"]["spf"],
                                                              result["ncrr"]["pf"],
                                                              random_state=seed)),
           "tau_prior": list(result["fits"]["spf"].tau_prior),
           "reference_cpp": REFERENCE_FILMTRUST}
    return out


def _rounded(gap: dict) -> dict:
    return {"mean": round(gap["mean"], 4), "ci95": [round(x, 4) for x in gap["ci95"]]}


def reproduce(seed: int = 0, progress: bool = False) -> dict:
    """The lesson's headline: SPF against its baselines on the town, where its gain comes
    from, the two conditions that remove it, and FilmTrust."""
    st = social_town(seed)
    main = compare(st, random_state=seed, progress=progress)
    none = compare(social_town(seed, influence=0.0), GRID_METHODS, seed, progress)
    alike = compare(social_town(seed, influence=0.0, homophily=1.0), GRID_METHODS, seed, progress)
    return {
        "ncrr": summary(main, METHODS),
        "ndcg": {m: round(main.mean(m, "ndcg"), 4) for m in METHODS},
        "gain_spf_minus_pf": _rounded(main.gain("spf", "pf", seed)),
        "gain_spf_minus_lookalike": _rounded(main.gain("spf", "lookalike", seed)),
        "by_origin": {o: {m: round(float(np.mean(v[m])), 4) for m in ("spf", "pf", "lookalike")}
                      for o, v in main.by_origin.items()},
        "no_influence": summary(none, ("spf", "pf")),
        "homophily_no_influence": summary(alike, ("spf", "lookalike")),
        "seconds_per_iteration": {m: round(main.fits[m].seconds_per_iteration, 4)
                                  for m in ("spf", "pf")},
        "chosen": {"tau_prior": list(main.fits["spf"].tau_prior),
                   "lookalike_pull": main.fits["lookalike"].pull},
        "town": st.describe(),
        "real_data": filmtrust_or_skip(seed, progress),
    }


def benchmark(users=(2000, 20000), iterations: int = 10, seed: int = 0) -> dict:
    """Seconds per SPF iteration (one thread: the caller limits threads) on the lesson's town
    and on towns with more users (same catalog, same clicks per user and friends per user)."""
    rows = []
    for n in users:
        st = social_town(seed, n_users=n)
        fit = fit_spf(st.train, st.network, st.validation, model="spf", a_tau=0.5, b_tau=5.0,
                      n_factors=N_FACTORS, fixed_iter=iterations, progress=False)
        rows.append({"users": n, "train_clicks": int(st.train.nnz),
                     "seconds_per_iteration": round(fit.seconds_per_iteration, 4)})
    first, last = rows[0], rows[-1]
    return {"users": first["users"], "items": LESSON.n_items, "train_clicks": first["train_clicks"],
            "seconds_per_iteration": first["seconds_per_iteration"], "scaling": rows,
            "summary": (f"SPF {first['seconds_per_iteration'] * 1000:.1f} ms per iteration on "
                        f"{first['users']:,} users x {LESSON.n_items:,} items "
                        f"({first['train_clicks']:,} training clicks), "
                        f"{last['seconds_per_iteration'] * 1000:.0f} ms on {last['users']:,} users")}


#: the heat-map's axes: influence strength x homophily, each cell a lesson-sized town
GRID_INFLUENCE = (0.0, 0.01, 0.02)
GRID_HOMOPHILY = (0.0, 1.0)
GRID_METHODS = ("spf", "pf", "lookalike")


def influence_grid(seed: int = 0, influences=GRID_INFLUENCE, homophilies=GRID_HOMOPHILY,
                   done: dict | None = None, progress: bool = True) -> dict:
    """PF, SPF and the look-alike on the lesson's town for every (influence, homophily).

    Args:
        done: ``{(influence, homophily): (town, comparison)}`` already computed (e.g. the
            lesson's main town), reused instead of fitted again.

    Returns:
        ``{"influence": [...], "homophily": [...], "cells": {(i, j): cell}}``; each cell
        holds ``"comparison"`` (a :class:`Comparison`), ``"tau"`` (SPF's learned tau on the
        ties) and ``"strength"`` (the true influence strengths on the same ties).
    """
    done = done or {}
    cells = {}
    pairs = [(i, j) for i in range(len(influences)) for j in range(len(homophilies))]
    for i, j in tqdm(pairs, desc="towns", disable=not progress, leave=False):
        key = (influences[i], homophilies[j])
        if key in done:
            st, c = done[key]
        else:
            st = social_town(seed, influence=key[0], homophily=key[1])
            c = compare(st, GRID_METHODS, random_state=seed)
        tau = c.fits["spf"].tau.tocoo()
        cells[(i, j)] = {"comparison": c, "tau": tau.data,
                         "strength": np.asarray(st.strength[tau.row, tau.col]).ravel()}
    return {"influence": list(influences), "homophily": list(homophilies), "cells": cells}
