"""Social Poisson factorization by coordinate-ascent variational inference (lesson 05).

Chaney, Blei and Eliassi-Rad (RecSys 2015) model a click count as

    r_ui ~ Poisson( theta_u . beta_i  +  sum over friends v of tau_uv * r_vi ),

user preferences ``theta`` (U, K) and item attributes ``beta`` (I, K) non-negative with
Gamma(0.3, 0.3) priors, and one influence ``tau_uv`` ~ Gamma(2, 5) per friend. Every click is
split, in expectation, between the K factors and the friends who clicked the same item (the
auxiliary counts); mean-field coordinate ascent (CAVI) then updates Gamma posteriors in closed
form. Derived here from the model (the updates are in :func:`fit_spf`'s docstring), not ported
from the authors' code: it uses the full expected log ``digamma(shape) - log(rate)`` of every
entry, fresh shape parameters in every pass, and the click counts themselves.

Everything runs on SciPy sparse matrices and arrays over the non-zeros: no Python loop over
users or items inside an iteration. The same fit covers plain Poisson factorization
(``model="pf"``: no friends), social-only factorization (``model="social_only"``: no factors),
and a friends-look-alike baseline (``pull > 0``: each user's Gamma prior is centred on the
mean of their friends' preferences, the Poisson analogue of SocialMF's regularizer).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.special import digamma, gammaln
from tqdm.auto import tqdm

from .checks import twin

__all__ = ["MODELS", "Fit", "fit_spf", "social_rate", "expected_log", "split_click", "explain"]

MODELS = ("spf", "pf", "social_only")


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
        seconds_per_iteration: mean wall time of one iteration (setup excluded);
        cpu_seconds_per_iteration: the same in CPU time (user + system, all threads), which
            does not depend on how busy the machine is.
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
    cpu_seconds_per_iteration: float = float("nan")
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
    falls, start, cpu_start = 0, time.perf_counter(), time.process_time()
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
    fit.cpu_seconds_per_iteration = (time.process_time() - cpu_start) / fit.iterations
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
