"""Lesson 05's experiment: SPF against its baselines on the social town, and on FilmTrust.

The town's social facet is :mod:`course.world.social`; the models are :mod:`course.spf`
(SPF, PF, social-only and the look-alike regularizer, all by CAVI) and the metrics
:mod:`course.ranking`. Here they meet: the lesson's settings, how each method is fitted
(hyperparameters chosen on validation data), per-user NCRR and NDCG with paired bootstrap
intervals (``course.metrics``), what makes SPF win (its start and its prior), the break-it grid,
``reproduce`` and ``benchmark``; and the same fits on any folder in the SPF authors' layout
(:mod:`course.socialdata`, the data side: ``python -m course export`` and ``spf``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from .metrics import paired_bootstrap_gap
from .ranking import candidates_mask, ncrr, ndcg, positions
from .socialdata import (SocialData, from_town, load_filmtrust, read_folder, reference_candidates,
                         write_folder)
from .spf import MODELS, Fit, fit_spf
from .world import TownConfig, make_town
from .world.social import INFLUENCED, TEST, SocialConfig, SocialTown, make_social

__all__ = ["LESSON", "TAU_PRIORS", "PAPER_TAU_PRIOR", "PULLS", "N_FACTORS", "WARM_MIN_ITER",
           "METHODS", "social_town", "fit_method", "popularity_scores", "Comparison",
           "method_scores", "compare", "ties", "WEAK", "STRONG", "tau_by_strength", "start_and_prior", "export_town", "fit_folder", "PAPER_NCRR", "REFERENCE_FILMTRUST", "FILMTRUST_METHODS", "evaluate_data",
           "filmtrust_or_skip", "reproduce", "benchmark", "GRID_INFLUENCE", "GRID_HOMOPHILY",
           "GRID_METHODS", "influence_grid"]


def popularity_scores(train: sp.spmatrix) -> np.ndarray:
    """(I,) exact click counts per item (no rounding; ties are split evenly when ranked)."""
    return np.asarray(sp.csr_matrix(train).sum(axis=0), dtype=float).ravel()


#: the lesson's town: 2,000 users (the town's default) and 1,000 items, about 54,000 training
#: clicks and 17 friends each (the size at which the authors' C++ code was timed)
LESSON = SocialConfig()
#: Gamma (shape, rate) priors on tau that SPF chooses from by validation log-likelihood: the
#: paper's (2, 5), and two that let an influence shrink towards 0
TAU_PRIORS = ((2.0, 5.0), (0.5, 5.0), (0.1, 1.0))
#: the paper's prior on tau, Gamma(2, 5)
PAPER_TAU_PRIOR = TAU_PRIORS[0]
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
               warm: bool = True, tau_priors=TAU_PRIORS, random_state: int = 0,
               progress: bool = False, **kwargs) -> Fit:
    """Fit one of "pf", "spf", "lookalike" or "social_only" the lesson's way (its *recipe*).

    The recipe: PF, SPF and the look-alike all continue from the same PF fit ``start`` (fitted
    from a random start when not given) with the same stopping rule, so that none of them gets
    more training than the others. "spf" tries every (shape, rate) prior on tau in
    ``tau_priors`` and "lookalike" every strength in ``PULLS``; the best validation
    log-likelihood wins, and the candidates are kept in its ``tried`` list. With
    ``warm=False`` every candidate starts from random instead (``start`` is ignored): with
    ``tau_priors=(PAPER_TAU_PRIOR,)`` that is the paper's SPF. Social-only always starts from
    random. ``kwargs`` go to :func:`fit_spf` (e.g. ``fixed_iter``).
    """
    common = {"n_factors": N_FACTORS, "random_state": random_state, "progress": progress,
              **kwargs}
    if method == "social_only":
        return fit_spf(train, network, validation, model=method, **common)
    if method not in ("pf", "spf", "lookalike"):
        raise ValueError(f"method must be spf, pf, social_only or lookalike, got {method!r}")
    if not tau_priors:
        raise ValueError("tau_priors must hold at least one (shape, rate) pair")
    each = common
    if warm:
        start = start or fit_spf(train, network, validation, model="pf", **common)
        each = dict(common, init=start, min_iter=WARM_MIN_ITER)
    if method == "pf":
        fits = [fit_spf(train, network, validation, model="pf", **each)]
    elif method == "spf":
        fits = [fit_spf(train, network, validation, model="spf", a_tau=a, b_tau=b, **each)
                for a, b in tau_priors]
    else:
        fits = [fit_spf(train, network, validation, model="pf", pull=p, **each) for p in PULLS]
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
        pos = positions(s, test, candidates)
        ncrr_[m], ndcg_[m] = pos.gain("reciprocal")[users], pos.gain("log")[users]
        caused = influenced[pos.users, pos.items]
        for name, drop in (("influenced", ~caused), ("own_taste", caused)):
            if not drop.all():
                value = pos.without(drop).gain("reciprocal")
                by_origin[name][m] = value[~np.isnan(value)]
    by_origin = {name: d for name, d in by_origin.items() if d}
    return Comparison(users, ncrr_, ndcg_, by_origin, fits)


def start_and_prior(st: SocialTown, c: Comparison, random_state: int = 0) -> dict:
    """What makes SPF win on a town: its NCRR fitted from a random start or from PF's fit, with
    the paper's prior on tau or the one chosen on validation, beside PF's.

    ``c`` is the town's :func:`compare`: its SPF is the recipe's (PF's start, the prior chosen
    on validation from ``TAU_PRIORS``, the paper's among the candidates it tried). The
    random-start fits run here, with the same candidates and stopping rule.

    Returns:
        ``{"pf": NCRR, "random start": {"paper's prior", "chosen on validation"},
        "PF start": {...}, "chosen": {"random start": [shape, rate], "PF start": [...]}}``.
    """
    candidates = candidates_mask(st.train + st.validation)
    relevant = st.test.toarray() > 0

    def mean(fit: Fit) -> float:
        return round(float(ncrr(fit.scores(), relevant, candidates)[c.users].mean()), 4)

    cold = fit_method("spf", st.train, st.network, st.validation, warm=False,
                      random_state=random_state)
    out = {"pf": mean(c.fits["pf"]), "chosen": {}}
    for label, best in (("random start", cold), ("PF start", c.fits["spf"])):
        paper = next(f for f in best.tried if f.tau_prior == PAPER_TAU_PRIOR)
        out[label] = {"paper's prior": mean(paper), "chosen on validation": mean(best)}
        out["chosen"][label] = list(best.tau_prior)
    return out


def ties(fit: Fit, st: SocialTown) -> tuple[np.ndarray, np.ndarray]:
    """(E[tau], true strength) of every directed tie of the network, both (E,)."""
    tau = fit.tau.tocoo()
    return tau.data, np.asarray(st.strength[tau.row, tau.col]).ravel()


#: true strengths below WEAK influence (almost) nobody; above STRONG, a tie matters
WEAK, STRONG = 0.01, 0.1


def tau_by_strength(fit: Fit, st: SocialTown) -> dict:
    """Does a fit find who influences whom? Its E[tau] against the true strength of each tie.

    Returns:
        ``rank_correlation`` (Spearman, over all ties); ``weak_mean`` and ``weak_max``: E[tau]
        on ties weaker than ``WEAK``; ``strong_mean`` and ``strong_median`` on ties stronger
        than ``STRONG``; ``weak_above_strong_median``: the share of weak ties whose E[tau] is
        above the strong ties' median.
    """
    from scipy.stats import spearmanr

    tau, strength = ties(fit, st)
    weak, strong = tau[strength < WEAK], tau[strength > STRONG]
    if weak.size == 0 or strong.size == 0:
        raise ValueError(f"the town needs ties weaker than {WEAK} and stronger than {STRONG}")
    return {"rank_correlation": round(float(spearmanr(strength, tau)[0]), 3),
            "weak_mean": round(float(weak.mean()), 4), "weak_max": round(float(weak.max()), 4),
            "strong_mean": round(float(strong.mean()), 4),
            "strong_median": round(float(np.median(strong)), 4),
            "weak_above_strong_median": round(float(np.mean(weak > np.median(strong))), 4)}


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


def export_town(seed: int, folder: str | Path, n_users: int = 2000) -> Path:
    """Write the lesson's town of ``n_users`` users (:func:`social_town`) in the SPF authors'
    folder layout (``course.socialdata``)."""
    return write_folder(from_town(social_town(seed, n_users=n_users)), folder)


def _recipe(model: str, warm: bool, tau_priors, iterations: int | None) -> str:
    """One sentence naming the fits that :func:`fit_folder` runs."""
    each = (f"{iterations} iterations per fit" if iterations
            else "each fit until the validation log-likelihood converges")
    if model == "social_only":
        return f"social-only from a random start ({each})"
    name = {"pf": "PF", "spf": "SPF"}[model]
    how = "then " + name + " continued from it" if warm else "from a random start"
    prior = ""
    if model == "spf":
        listed = ", ".join(f"Gamma({a:g}, {b:g})" for a, b in tau_priors)
        prior = (f" with each tau prior of {listed}, the best validation log-likelihood kept"
                 if len(tau_priors) > 1 else f" with the tau prior {listed}")
    first = "PF from a random start, " if warm else f"{name} "
    return f"{first}{how}{prior} ({each})"


def fit_folder(folder: str | Path, model: str = "spf", n_factors: int = N_FACTORS,
               iterations: int | None = None, warm: bool = True, tau_prior=None, seed: int = 0,
               progress: bool = False) -> dict:
    """Fit ``model`` on a folder in the SPF authors' layout and score it as their evaluation
    does (``course.socialdata.reference_candidates``).

    By default the fit is the lesson's recipe (:func:`fit_method`): PF from a random start,
    then PF or SPF continued from it, SPF with each prior of ``TAU_PRIORS`` and the best on
    validation kept. ``warm=False`` starts every fit from random instead; ``tau_prior`` =
    (shape, rate) fixes SPF's prior (``warm=False, tau_prior=(2, 5)`` is the paper's SPF, as the
    authors' code fits it). ``iterations`` fixes the number of iterations of *every* fit
    (default: each until convergence).

    Returns:
        JSON-ready: the data's counts, NCRR and NDCG on ``test.tsv``, the ``recipe`` in words,
        every fit run (``fits``: model, start, prior, iterations, final validation
        log-likelihood, whether it was kept), and the time of the whole fit: ``iterations``
        (all fits), ``seconds_fit`` and ``cpu_seconds_fit``, and per iteration (the whole
        fit's time over all its iterations); ``seconds_total`` adds reading and scoring.
    """
    import time

    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    tau_priors = TAU_PRIORS if tau_prior is None else (tuple(float(x) for x in tau_prior),)
    if len(tau_priors[0]) != 2 or min(tau_priors[0]) <= 0:
        raise ValueError(f"tau_prior must be a positive (shape, rate), got {tau_prior}")
    begin = time.perf_counter()
    data = read_folder(folder)
    if data.train.nnz == 0:
        raise ValueError(f"{Path(folder) / 'train.tsv'}: no training clicks")
    common = {"n_factors": n_factors, "random_state": seed, "progress": progress,
              "fixed_iter": iterations}
    start, cpu = time.perf_counter(), time.process_time()
    first = (fit_spf(data.train, data.network, data.validation, model="pf", **common)
             if warm and model != "social_only" else None)
    fit = fit_method(model, data.train, data.network, data.validation, start=first, warm=warm,
                     tau_priors=tau_priors, **common)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    runs = ([(first, "random", False)] if first else []) + [
        (f, "PF fit" if first else "random", f is fit) for f in (fit.tried or [fit])]
    n_iter = sum(f.iterations for f, _, _ in runs)
    relevant, candidates = reference_candidates(data)
    users = relevant.any(axis=1)
    scores = fit.scores()
    return {"folder": str(folder), "model": model, **data.describe(),
            "test_users": int(users.sum()), "K": n_factors,
            "ncrr": round(float(ncrr(scores, relevant, candidates)[users].mean()), 4),
            "ndcg": round(float(ndcg(scores, relevant, candidates)[users].mean()), 4),
            "recipe": _recipe(model, warm, tau_priors, iterations),
            "fits": [{"model": f.model, "start": where,
                      "tau_prior": list(f.tau_prior) if f.model == "spf" else None,
                      "iterations": f.iterations, "validation_ll": round(f.validation_ll[-1], 4),
                      "kept": kept} for f, where, kept in runs],
            "iterations": n_iter,
            "seconds_fit": round(seconds, 3), "cpu_seconds_fit": round(cpu_seconds, 3),
            "seconds_per_iteration": round(seconds / n_iter, 4),
            "cpu_seconds_per_iteration": round(cpu_seconds / n_iter, 4),
            "seconds_total": round(time.perf_counter() - begin, 2),
            **({"tau_prior": list(fit.tau_prior)} if model == "spf" else {})}


def _rounded(gap: dict) -> dict:
    return {"mean": round(gap["mean"], 4), "ci95": [round(x, 4) for x in gap["ci95"]]}


def reproduce(seed: int = 0, progress: bool = False) -> dict:
    """The lesson's headline: SPF against its baselines on the town, where its gain comes
    from, what makes it win (start and prior), the two conditions that remove it, and
    FilmTrust."""
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
        "start_and_prior": start_and_prior(st, main, seed),
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
    """Seconds per SPF iteration on the lesson's town and on a town with 10x the users (same
    catalog, clicks and friends per user). Run it on one thread (``python -m course bench``
    limits the threads); CPU seconds are reported beside wall seconds, since they do not
    depend on how busy the machine is."""
    rows = []
    for n in users:
        st = social_town(seed, n_users=n)
        fit = fit_spf(st.train, st.network, st.validation, model="spf", a_tau=0.5, b_tau=5.0,
                      n_factors=N_FACTORS, fixed_iter=iterations, progress=False)
        rows.append({"users": n, "train_clicks": int(st.train.nnz),
                     "ties": int(st.network.nnz // 2),
                     "seconds_per_iteration": round(fit.seconds_per_iteration, 4),
                     "cpu_seconds_per_iteration": round(fit.cpu_seconds_per_iteration, 4)})
        del st, fit
    first, last = rows[0], rows[-1]
    return {"users": first["users"], "items": LESSON.n_items, "train_clicks": first["train_clicks"],
            "seconds_per_iteration": first["seconds_per_iteration"],
            "cpu_seconds_per_iteration": first["cpu_seconds_per_iteration"],
            "scaling": [{k: r[k] for k in ("users", "seconds_per_iteration",
                                           "cpu_seconds_per_iteration", "train_clicks")}
                        for r in rows],
            "summary": (f"SPF {first['seconds_per_iteration'] * 1000:.1f} ms per iteration "
                        f"({first['cpu_seconds_per_iteration'] * 1000:.1f} ms CPU) on "
                        f"{first['users']:,} users x {LESSON.n_items:,} items, "
                        f"{first['train_clicks']:,} training clicks; "
                        f"{last['seconds_per_iteration'] * 1000:.0f} ms "
                        f"({last['cpu_seconds_per_iteration'] * 1000:.0f} ms CPU) on "
                        f"{last['users']:,} users")}


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
        tau, strength = ties(c.fits["spf"], st)
        cells[(i, j)] = {"comparison": c, "tau": tau, "strength": strength}
    return {"influence": list(influences), "homophily": list(homophilies), "cells": cells}
