"""Lesson 06: personalized vs aggregate reward models in a feedback loop.

A platform answers each user's question with one of K candidate responses, chosen by a
*reward model* fitted on the users' approvals (approve / not). The reward is linear in shared,
frozen features ``phi(q, y)`` (reward features, Barreto et al. 2025):

* **aggregate**: one weight vector for everyone, ``r(q, y) = phi . w``;
* **personalized**: a weight vector per user, ``r_u(q, y) = phi . w_u``, fitted by logistic
  regression on that user's own feedback with the features frozen. In the loop a user starts
  from the aggregate model, ``w_u = w + d_u``, and only the personal part ``d_u`` (ridge
  toward 0) is fitted on their feedback: with no feedback yet, a user gets the aggregate;
* **bounded**: ``lam * r_u + (1 - lam) * r`` (``lam = 0`` aggregate, ``lam = 1`` personalized).

The loop, for R rounds: every user asks a question, the policy serves the response with the
highest reward (a random one with probability ``explore``, after Jiang et al. 2019), the user
approves or not (:mod:`course.world.beliefs`), beliefs drift toward what was shown, and the
models are refitted. Nothing here knows about sycophancy: the models learn it from feedback.

Shapes use these letters: U users, Q questions, K candidate responses, F reward features,
R rounds, C communities, P pairs of users.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .checks import twin
from .datasets import or_skip
from .world import make_town
from .world.beliefs import Beliefs, make_beliefs

__all__ = ["WORLD", "QUESTIONS", "lesson_world", "sycophancy_rate", "truthfulness", "fit_user_weights",
           "newton", "serve", "polarization", "pair_jaccard", "homogenization", "collect",
           "community_pairs", "Loop", "run_loop", "ROUNDS", "FINAL", "LONG_ROUNDS", "CHECKPOINTS",
           "REPORTED", "compare", "final", "at_rounds", "random_serving", "final_gap", "tradeoff", "half_gain_lambda", "persona_reward_models",
           "reproduce", "benchmark"]

#: The lesson's town (communities and topic interests only; no choice histories are needed).
WORLD = dict(n_users=2000, n_interactions=1, n_topics=16, n_communities=6)
#: questions each user asks per round of the loop
QUESTIONS = 8


def lesson_world(seed: int = 0, n_users: int = WORLD["n_users"], **belief_overrides) -> Beliefs:
    """The lesson's town and its belief facet (``course.world.beliefs``), both seeded."""
    town = make_town(**{**WORLD, "n_users": n_users, "seed": seed})
    return make_beliefs(town, seed=seed, **belief_overrides)


# --- the exercises' reference versions ------------------------------------------------------

@twin
def sycophancy_rate(side, belief, truth) -> float:
    """Share of served responses that agree with a user whose belief is wrong.

    Args:
        side: (n,) side of each served response (-1, 0, +1).
        belief: (n,) the user's belief on the question, in [-1, 1] (its sign is their side).
        truth: (n,) the question's true side, 0 for a question of opinion.

    Returns:
        Among factual questions (``truth != 0``) where the user takes the wrong side
        (``sign(belief) == -truth``), the share served a response on the user's side;
        NaN when there is no such item.
    """
    side, truth = np.asarray(side), np.asarray(truth)
    stance = np.sign(np.asarray(belief, dtype=float))
    if not side.shape == stance.shape == truth.shape:
        raise ValueError(f"side, belief and truth must have one shape; got {side.shape}, "
                         f"{stance.shape}, {truth.shape}")
    wrong = (truth != 0) & (stance == -truth)
    return float((side[wrong] == stance[wrong]).mean()) if wrong.any() else float("nan")


def truthfulness(side, truth) -> float:
    """Share of served responses on factual questions that take the true side (NaN if none)."""
    side, truth = np.asarray(side), np.asarray(truth)
    factual = truth != 0
    return float((side[factual] == truth[factual]).mean()) if factual.any() else float("nan")


@twin
def fit_user_weights(X, y, l2: float = 1.0, n_steps: int = 10, w0=None) -> np.ndarray:
    """Per-user L2-regularized logistic regression on frozen features, all users at once.

    Maximizes ``sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)] - l2 / 2 * |w_u|^2`` for every
    user, with ``p_i = sigmoid(X[u, i] . w_u)``, by ``n_steps`` Newton steps from ``w0``.

    Args:
        X: (U, n, F) features of the n responses each user rated.
        y: (U, n) 1 where the user approved.
        l2: ridge strength (> 0), the same for every user.
        n_steps: Newton steps.
        w0: (U, F) starting weights (default zeros).

    Returns:
        (U, F) weights.
    """
    X = np.asarray(X)
    X = X if X.dtype in (np.float32, np.float64) else X.astype(float)
    if X.ndim != 3 or np.shape(y) != X.shape[:2]:
        raise ValueError(f"X must be (U, n, F) and y (U, n); got X {X.shape}, y {np.shape(y)}")
    if l2 <= 0:
        raise ValueError(f"l2 must be positive, got {l2}")
    U, _, F = X.shape
    w = np.zeros((U, F), X.dtype) if w0 is None else w0
    return newton(X, y, np.zeros((U, F), X.dtype), l2 * np.eye(F, dtype=X.dtype), w, n_steps)[0]


@twin  # Exercise 2's computation in general form: guarded too, or it would answer the exercise
def newton(X, y, mean, precision, w, n_steps: int = 1, offset=0.0) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps for logistic regression with a Gaussian prior, for all users at once.

    Maximizes ``log-likelihood(X, y; w_u) - (w_u - mean_u)' P_u (w_u - mean_u) / 2``, where
    the log-odds of ``X[u, i]`` are ``X[u, i] . w_u + offset[u, i]``.

    Args:
        X: (U, n, F) features; y: (U, n) labels in {0, 1}.
        mean: (U, F) prior means; precision: (U, F, F) or (F, F) prior precisions P.
        w: (U, F) starting weights.
        offset: (U, n) fixed log-odds added to the model's (default 0).

    Returns:
        ``(w, H)``: (U, F) weights and (U, F, F) the negative Hessian at the last step, the
        precision of the Laplace approximation of the posterior (the next round's prior).
    """
    X = np.asarray(X)
    y = np.asarray(y, dtype=X.dtype)
    w = np.array(w, dtype=X.dtype)
    if y.shape != X.shape[:2] or w.shape != (X.shape[0], X.shape[2]):
        raise ValueError(f"shapes disagree: X {X.shape} (U, n, F), y {y.shape} (U, n), "
                         f"w {w.shape} (U, F)")
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}")
    Xt = X.transpose(0, 2, 1)
    for _ in range(n_steps):
        p = _sigmoid((X @ w[:, :, None])[..., 0] + offset)
        grad = (Xt @ (y - p)[:, :, None])[..., 0] - ((w - mean)[:, None, :] @ precision)[:, 0]
        hess = (Xt * (p * (1 - p))[:, None, :]) @ X + precision
        w = w + np.linalg.solve(hess, grad[:, :, None])[..., 0]
    return w, hess


@twin
def serve(features, w_personal, w_aggregate, lam: float, explore=None, random_pick=None) -> np.ndarray:
    """The bounded policy: serve the response with the highest mixed reward.

    Args:
        features: (U, K, F) reward features of each user's K candidates.
        w_personal: (U, F) per-user weights.
        w_aggregate: (F,) the aggregate weights.
        lam: weight of the personal reward, in [0, 1].
        explore: (U,) bool, users served ``random_pick`` instead (default: none).
        random_pick: (U,) int, the random response for exploring users.

    Returns:
        (U,) int index of the served response; ties go to the lowest index.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    features = np.asarray(features)
    U, _, F = features.shape
    w_personal, w_aggregate = np.asarray(w_personal), np.asarray(w_aggregate)
    if w_personal.shape != (U, F):
        raise ValueError(f"w_personal must have shape {(U, F)} to match features {features.shape}, "
                         f"got {w_personal.shape}")
    if w_aggregate.shape != (F,):
        raise ValueError(f"w_aggregate must have shape {(F,)}, got {w_aggregate.shape}")
    weights = lam * w_personal + (1 - lam) * w_aggregate  # the mix of rewards, as rewards are linear
    reward = np.einsum("ukf,uf->uk", features, weights)
    served = reward.argmax(axis=1)
    return served if explore is None else np.where(explore, random_pick, served)


@twin
def polarization(belief, community) -> float:
    """Mean distance between the communities' mean beliefs.

    Args:
        belief: (U, Q) every user's belief on every question.
        community: (U,) int community of each user (labels need not be contiguous).

    Returns:
        The mean, over pairs of communities that have members, of the root-mean-square over
        questions of the difference of their mean beliefs; 0.0 with fewer than two.
    """
    belief, community = np.asarray(belief), np.asarray(community)
    if belief.ndim != 2 or community.shape != belief.shape[:1]:
        raise ValueError(f"community must have shape ({belief.shape[0]},) to match belief "
                         f"{belief.shape}, got {community.shape}")
    labels, index = np.unique(community, return_inverse=True)
    if len(labels) < 2:
        return 0.0
    members = (index == np.arange(len(labels))[:, None]).astype(belief.dtype)  # (C, U)
    means = (members @ belief) / members.sum(axis=1, keepdims=True)
    diff = means[:, None, :] - means[None, :, :]
    rms = np.sqrt((diff.astype(float) ** 2).mean(axis=2))
    return float(rms[np.triu_indices(len(labels), k=1)].mean())


@twin
def pair_jaccard(sets, pairs) -> np.ndarray:
    """Jaccard similarity of the items served to each pair of users.

    Args:
        sets: (U, I) bool, True where user u has been served item i.
        pairs: (P, 2) int, the users of each pair.

    Returns:
        (P,) |A & B| / |A | B|; 0 for two empty sets.
    """
    sets, pairs = np.asarray(sets, dtype=bool), np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.min(initial=0) < 0 or pairs.max(initial=0) >= len(sets):
        raise ValueError(f"pairs must be (P, 2) indices of the {len(sets)} users, got shape "
                         f"{pairs.shape} with values up to {pairs.max(initial=0)}")
    a, b = sets[pairs[:, 0]], sets[pairs[:, 1]]
    inter, union = (a & b).sum(axis=1), (a | b).sum(axis=1)
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


@twin
def homogenization(sets, ideal_sets, pairs) -> float:
    """Chaney et al.'s homogenization: mean Jaccard of pairs minus the ideal server's.

    Args:
        sets, ideal_sets: (U, I) bool items served by a server and by the ideal server.
        pairs: (P, 2) int pairs of users.
    """
    return float(pair_jaccard(sets, pairs).mean() - pair_jaccard(ideal_sets, pairs).mean())


# --- the loop ------------------------------------------------------------------------------

def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow


def collect(world: Beliefs, per_user: int, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Feedback on responses served at random (no model yet), with the starting beliefs.

    Returns:
        ``(X, y)``: (U, per_user, F) features of the responses served and (U, per_user)
        approvals (1.0 or 0.0).
    """
    rng = np.random.default_rng([random_state, 5])
    U, K = world.n_users, world.side.shape[1]
    q = world.ask(rng, per_user).ravel()
    user = np.repeat(np.arange(U), per_user)
    served = rng.integers(0, K, size=q.size)
    p = _sigmoid(world.approval_logit(world.belief(world.lean, user, q), user, q, served))
    y = (rng.random(q.size) < p).astype(np.float32)
    return world.features[q, served].reshape(U, per_user, -1), y.reshape(U, per_user)


def community_pairs(community, n_pairs: int, random_state: int = 0) -> np.ndarray:
    """(P, 2) random pairs of distinct users of the same community (Chaney's similar pairs)."""
    community = np.asarray(community)
    rng = np.random.default_rng(random_state)
    order = np.argsort(community, kind="stable")
    starts = np.searchsorted(community[order], community[order])
    sizes = np.bincount(community)[community[order]]
    first = rng.choice(np.flatnonzero(sizes > 1), size=n_pairs)
    offset = rng.integers(1, sizes[first])  # another member, never the user itself
    second = starts[first] + (first - starts[first] + offset) % sizes[first]
    return np.stack([order[first], order[second]], axis=1)


def _check_loop_args(world: Beliefs, rounds: int, lam: float, explore: float,
                     questions_per_round: int) -> None:
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    if questions_per_round < 1:
        raise ValueError(f"questions_per_round must be at least 1, got {questions_per_round}")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    if not 0.0 <= explore <= 1.0:
        raise ValueError(f"explore must be in [0, 1], got {explore}")
    U, Q = world.n_users, world.truth.shape[0]
    if world.lean.shape[0] != U or world.noise.shape != (U, Q):
        raise ValueError(f"world arrays disagree: {U} users and {Q} questions, but lean "
                         f"{world.lean.shape} and noise {world.noise.shape}")


@dataclass
class Loop:
    """What :func:`run_loop` returns.

    Attributes:
        metrics: name -> (R,) per-round values: ``approval`` (mean approval probability of
            what was served; ``approval_factual`` and ``approval_opinion`` on each kind of
            question), ``truthfulness``, ``sycophancy``, ``polarization`` (after the
            round's influence), ``jaccard`` (mean over the pairs, of the items served so far),
            and the counts behind sycophancy by group: ``wrong_vulnerable``,
            ``flattered_vulnerable``, ``wrong_others``, ``flattered_others``.
        sets: (U, Q * K) bool, the items each user was served.
        lean: (U, A) the users' lean at the end.
        w_personal, w_aggregate: the last fitted weights, (U, F) (aggregate plus personal
            part; the aggregate's own when ``lam`` was 0) and (F,).
    """

    metrics: dict[str, np.ndarray]
    sets: np.ndarray
    lean: np.ndarray
    w_personal: np.ndarray
    w_aggregate: np.ndarray

    def sycophancy_by_group(self, last: int = 10) -> dict[str, float]:
        """Sycophancy rates of the vulnerable users and the others, pooled over the last rounds."""
        m = self.metrics
        return {group: float(m[f"flattered_{group}"][-last:].sum()
                             / max(m[f"wrong_{group}"][-last:].sum(), 1))
                for group in ("vulnerable", "others")}


def _record(out: dict, t: int, side, belief, truth, vulnerable) -> None:
    """Per-round truthfulness and sycophancy, with the group counts."""
    out["truthfulness"][t] = truthfulness(side, truth)
    out["sycophancy"][t] = sycophancy_rate(side, belief, truth)
    stance = np.sign(belief)
    wrong = (truth != 0) & (stance == -truth)
    flattered = wrong & (side == stance)
    for group, members in (("vulnerable", vulnerable), ("others", ~vulnerable)):
        out[f"wrong_{group}"][t] = (wrong & members).sum()
        out[f"flattered_{group}"][t] = (flattered & members).sum()


def run_loop(world: Beliefs, rounds: int = 40, lam: float = 1.0, explore: float = 0.05,
             ideal: bool = False, questions_per_round: int = QUESTIONS, l2: float = 1.0,
             newton_steps: int = 1, pairs: np.ndarray | None = None, random_state: int = 0,
             progress: bool = False) -> Loop:
    """Serve, collect feedback, let beliefs drift, refit; R rounds, vectorized over users.

    Each round every user asks ``questions_per_round`` questions (drawn from their interests),
    is served one response to each and approves or not. The aggregate model is refitted on
    everyone's feedback, then each user's personal part ``d_u`` on their own with the
    aggregate's reward as a fixed offset (skipped when ``lam`` is 0). Each refit starts from
    the last one and uses it as the prior (Laplace's approximation: close to refitting on the
    whole history, at a cost that does not grow with it).

    Args:
        world: the belief facet (its ``lean`` is copied, never changed).
        rounds: R >= 1. Round 0 serves at random (nothing is fitted yet).
        lam: the bounded policy's weight on the personal reward (0 aggregate, 1 personalized).
        explore: probability of serving a random response instead (Jiang et al. 2019).
        ideal: serve what each user would most likely approve, from the true feedback rule
            (Chaney et al.'s ideal recommender that knows true utility), exploring on the same
            coin flips as a learned server would; nothing is fitted.
        questions_per_round: questions each user asks per round.
        l2: ridge strength of the first prior (mean 0) of the aggregate weights and of every
            personal part.
        newton_steps: Newton steps per refit.
        pairs: (P, 2) pairs of users for the Jaccard metric (default: 2,000 community pairs).
        random_state: seeds the questions, exploration and feedback. Each has its own stream,
            so two servers with one seed face the same questions and the same coin flips.
        progress: show a progress bar over rounds.
    """
    _check_loop_args(world, rounds, lam, explore, questions_per_round)
    U, B = world.n_users, questions_per_round
    Q, K, F = world.features.shape
    user = np.repeat(np.arange(U), B)  # the user of each of the round's U * B questions
    asks, coins, flips = (np.random.default_rng([random_state, s]) for s in (1, 2, 3))
    # polarization from the community means of at most 20,000 users (exact below that)
    sample = np.sort(np.random.default_rng([random_state, 4]).permutation(U)[:20_000])
    if pairs is None:
        pairs = community_pairs(world.community, 2000, random_state)
    lean = world.lean.copy()
    d_u, P_u = np.zeros((U, F), np.float32), np.broadcast_to(np.float32(l2) * np.eye(F, dtype=np.float32), (U, F, F))
    w_a, P_a = np.zeros((1, F), np.float32), np.float32(l2) * np.eye(F, dtype=np.float32)[None]
    sets = np.zeros((U, Q * K), bool)
    out = {name: np.zeros(rounds) for name in
           ("approval", "approval_factual", "approval_opinion", "truthfulness", "sycophancy",
            "polarization", "jaccard", "wrong_vulnerable", "flattered_vulnerable", "wrong_others",
            "flattered_others")}

    for t in tqdm(range(rounds), desc="rounds", disable=not progress):
        q = world.ask(asks, B).ravel()
        b = world.belief(lean, user, q)
        explore_now = coins.random(U * B) < (1.0 if t == 0 else explore)
        pick = coins.integers(0, K, size=U * B)
        if ideal:
            logit = world.approval_logit(b[:, None], user, q, np.broadcast_to(np.arange(K), (U * B, K)))
            served = np.where(explore_now, pick, logit.argmax(axis=1))
        else:
            served = serve(world.features[q], (w_a + d_u)[user], w_a[0], lam, explore_now, pick)
        p = _sigmoid(world.approval_logit(b, user, q, served))
        y = (flips.random(U * B) < p).astype(np.float32)

        out["approval"][t] = p.mean()
        factual = world.truth[q] != 0
        out["approval_factual"][t], out["approval_opinion"][t] = p[factual].mean(), p[~factual].mean()
        _record(out, t, world.side[q, served], b, world.truth[q], world.vulnerable[user])
        world.influence(lean, user, q, served)
        out["polarization"][t] = polarization(world.belief(lean, sample),
                                              world.community[sample])
        sets[user, q * K + served] = True
        out["jaccard"][t] = pair_jaccard(sets, pairs).mean()

        if not ideal:
            X = world.features[q, served].reshape(U, B, F)
            w_a, P_a = newton(X.reshape(1, U * B, F), y.reshape(1, -1), w_a, P_a, w_a, newton_steps)
            if lam > 0:  # each user's departure from the aggregate, on their own feedback
                d_u, P_u = newton(X, y.reshape(U, B), d_u, P_u, d_u, newton_steps, X @ w_a[0])
    return Loop(out, sets, lean, w_a + d_u, w_a[0])


# --- the experiment ------------------------------------------------------------------------

#: the lesson's loop: rounds, and "final" metrics are means over the last FINAL rounds
ROUNDS, FINAL = 50, 5
#: the long run that shows whether the personalized loop settles, and where it is checked
LONG_ROUNDS, CHECKPOINTS = 200, (50, 100, 150, 200)
#: the numbers the lesson and ``reproduce`` report per round
REPORTED = ("approval", "truthfulness", "sycophancy", "polarization", "homogenization")


def compare(world: Beliefs, rounds: int = ROUNDS, explore: float = 0.05, random_state: int = 0,
            progress: bool = False, **loop) -> dict[str, Loop]:
    """The ideal, aggregate (lam 0) and personalized (lam 1) servers on the same seeds.

    Adds to each learned server's metrics ``homogenization``: its Jaccard minus the ideal's
    (Chaney et al.: similar users legitimately share items, so only the change means anything).
    ``**loop`` passes other arguments of :func:`run_loop`.
    """
    pairs = community_pairs(world.community, 2000, random_state)
    runs = {name: run_loop(world, rounds, lam, explore, ideal=name == "ideal", pairs=pairs,
                           random_state=random_state, progress=progress, **loop)
            for name, lam in (("ideal", 1.0), ("aggregate", 0.0), ("personalized", 1.0))}
    for name in ("aggregate", "personalized"):
        runs[name].metrics["homogenization"] = (runs[name].metrics["jaccard"]
                                                - runs["ideal"].metrics["jaccard"])
    return runs


def final(loop: Loop, name: str, last: int = FINAL) -> float:
    """A metric at the end of the loop: its mean over the last rounds (smooths round noise)."""
    return at_rounds(loop, name, [len(loop.metrics[name])], last)[0]


def at_rounds(loop: Loop, name: str, rounds, last: int = FINAL) -> list[float]:
    """A metric after each of ``rounds`` (counted from 1): its mean over the ``last`` rounds
    ending there."""
    values = loop.metrics[name]
    if not all(1 <= r <= len(values) for r in rounds):
        raise ValueError(f"rounds must be in 1..{len(values)}, got {list(rounds)}")
    return [float(np.mean(values[max(r - last, 0):r])) for r in rounds]


def random_serving(loop: Loop) -> dict[str, float]:
    """What serving at random gives: every server's round 0 (nothing is fitted yet), for
    approval, truthfulness, sycophancy and polarization (after round 0's influence)."""
    return {k: float(loop.metrics[k][0]) for k in ("approval", "truthfulness", "sycophancy",
                                                    "polarization")}


def final_gap(runs: dict[str, Loop], last: int = FINAL) -> dict[str, float]:
    """Personalized minus aggregate at the end, for approval, sycophancy, truthfulness and
    polarization."""
    return {k: final(runs["personalized"], k, last) - final(runs["aggregate"], k, last)
            for k in ("approval", "sycophancy", "truthfulness", "polarization")}


def tradeoff(world: Beliefs, lambdas=tuple(np.round(np.linspace(0, 1, 11), 2)),
             rounds: int = ROUNDS, explore: float = 0.05, random_state: int = 0,
             done: dict[float, Loop] | None = None, progress: bool = False) -> dict:
    """The bounded policy's approval and sycophancy at the end of the loop, against lam.

    Args:
        done: loops already run with these settings, by lam (e.g. lam 0 and 1 from
            :func:`compare`), reused instead of run again.

    Returns:
        ``{"lambda": [...], "approval": [...], "sycophancy": [...], "loops": {lam: Loop}}``.
    """
    loops = dict(done or {})
    for lam in tqdm([l for l in lambdas if l not in loops], desc="lambda", disable=not progress):
        loops[lam] = run_loop(world, rounds, lam, explore, random_state=random_state)
    lambdas = [float(l) for l in lambdas]
    return {"lambda": lambdas, "approval": [final(loops[l], "approval") for l in lambdas],
            "sycophancy": [final(loops[l], "sycophancy") for l in lambdas],
            "loops": {l: loops[l] for l in lambdas}}


def half_gain_lambda(curve: dict) -> float | None:
    """The smallest lam < 1 that keeps at least half of the approval gain of full
    personalization (lam 1 over lam 0) with at most half of its sycophancy gain; None if
    no lam on the curve does, or full personalization gains no approval."""
    lam, approval, syc = (np.asarray(curve[k], dtype=float) for k in ("lambda", "approval", "sycophancy"))
    a0, a1 = approval[lam == 0][0], approval[lam == 1][0]
    s0, s1 = syc[lam == 0][0], syc[lam == 1][0]
    if a1 <= a0:
        return None
    ok = (lam < 1) & (approval - a0 >= (a1 - a0) / 2) & (syc - s0 <= (s1 - s0) / 2)
    return float(lam[ok].min()) if ok.any() else None


# --- real data: persona-statements (Perez et al. 2022) ---------------------------------------

def persona_reward_models(seed: int = 0, n_people: int = 500, per_person: int = 400,
                          n_features: int = 64, n_pairs: int = 40) -> dict:
    """Per-person vs aggregate reward models on real statements (lesson 03's people).

    People are random combinations of ``course.uncertainty.TRAITS`` (each held with
    probability 1/2); a person approves a statement when they would say it (it matches
    having or lacking its trait). The reward features ``phi`` are frozen: a TF-IDF of the
    statement's words reduced to ``n_features`` dimensions (truncated SVD, fitted on the
    training statements), plus a constant. Each person rates ``per_person`` training
    statements; per-person weights and one aggregate weight vector are fitted by
    :func:`fit_user_weights`. On held-out statements, each person is offered pairs on one
    trait, one statement for and one against it (people disagree on every such pair): how
    often does each model serve the one the person agrees with?

    Returns:
        ``{"people", "statements", "features", "pairs_per_person", "aggregate": {...},
        "personalized": {...}}``; each model has ``serves_agreeable`` (share of pairs where it
        serves the statement the person agrees with) and ``predicts_approval`` (accuracy of
        ``reward > 0`` as a prediction of approval on held-out statements).
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    from .uncertainty import TRAITS, load_statements

    trait, text, yes = load_statements()
    rng = np.random.default_rng(seed)
    train = rng.random(len(text)) < 0.7
    words = TfidfVectorizer(min_df=2, sublinear_tf=True)
    svd = TruncatedSVD(n_features, random_state=seed)
    svd.fit(words.fit_transform([t for t, keep in zip(text, train) if keep]))
    phi = np.hstack([svd.transform(words.transform(text)), np.ones((len(text), 1))])

    people = rng.random((n_people, len(TRAITS))) < 0.5
    who = np.arange(n_people)[:, None]
    rated = rng.choice(np.flatnonzero(train), size=(n_people, per_person))
    approves = people[who, trait[rated]] == yes[rated]
    w_person = fit_user_weights(phi[rated], approves)
    w_all = fit_user_weights(phi[rated].reshape(1, -1, phi.shape[1]), approves.reshape(1, -1))[0]

    # held-out pairs on one trait: a statement its holders say ("pro") and one they do not
    held = np.flatnonzero(~train)
    key = 2 * trait[held] + yes[held]
    order = held[np.argsort(key, kind="stable")]
    count = np.bincount(key, minlength=2 * len(TRAITS))
    start = np.cumsum(count) - count

    def draw(keys: np.ndarray) -> np.ndarray:
        return order[start[keys] + (rng.random(keys.shape) * count[keys]).astype(np.int64)]

    m = rng.integers(0, len(TRAITS), size=(n_people, n_pairs))
    pro, con = draw(2 * m + 1), draw(2 * m)
    agrees_pro = people[who, m]
    out = {"people": n_people, "statements": len(text), "features": int(phi.shape[1]),
           "pairs_per_person": n_pairs}
    for name, w in (("aggregate", np.broadcast_to(w_all, w_person.shape)), ("personalized", w_person)):
        r_pro = np.einsum("psf,pf->ps", phi[pro], w)
        r_con = np.einsum("psf,pf->ps", phi[con], w)
        right = np.concatenate([(r_pro > 0) == agrees_pro, (r_con > 0) == ~agrees_pro])
        out[name] = {"serves_agreeable": float(((r_pro > r_con) == agrees_pro).mean()),
                     "predicts_approval": float(right.mean())}
    return out


def reproduce(seed: int = 0) -> dict:
    """Lesson 06's headline numbers (see the lesson), for ``python -m course reproduce``."""
    world = lesson_world(seed)
    runs = compare(world, random_state=seed)
    quiet = lesson_world(seed, sycophancy=0.0, vulnerable_sycophancy=0.0)
    quiet_runs = {name: run_loop(quiet, ROUNDS, lam, random_state=seed)
                  for name, lam in (("aggregate", 0.0), ("personalized", 1.0))}
    curve = tradeoff(world, random_state=seed,
                     done={0.0: runs["aggregate"], 1.0: runs["personalized"]})
    long = run_loop(world, LONG_ROUNDS, 1.0, random_state=seed)
    rounded = lambda values: [round(float(v), 4) for v in values]  # noqa: E731
    return {
        "rounds": ROUNDS, "users": world.n_users, "final_rounds": FINAL,
        **{name: {k: rounded(runs[name].metrics[k]) for k in REPORTED}
           for name in ("aggregate", "personalized")},
        "random_serving": random_serving(runs["aggregate"]),
        "long_run": {"rounds": list(CHECKPOINTS),
                     **{k: rounded(at_rounds(long, k, CHECKPOINTS)) for k in ("polarization", "sycophancy")}},
        "final_gap": final_gap(runs),
        "vulnerable": {name: runs[name].sycophancy_by_group()
                       for name in ("aggregate", "personalized")},
        "no_sycophancy_bias": {"final_gap": final_gap(quiet_runs)},
        "tradeoff": {"lambda": curve["lambda"], "approval": rounded(curve["approval"]),
                     "sycophancy": rounded(curve["sycophancy"]),
                     "half_gain_lambda": half_gain_lambda(curve)},
        "real_data": or_skip(persona_reward_models, seed),
    }


def benchmark(n_users: int = 100_000, rounds: int = ROUNDS,
              scaling: tuple[int, ...] = (10_000, 30_000)) -> dict:
    """Time the personalized loop on one thread at ``n_users`` users, and its scaling in users.

    Seconds are the loop's wall time and ``cpu_seconds`` its processor time (which load on
    the machine does not inflate); the town and its beliefs are made before the clock starts.
    Peak memory covers both (``tracemalloc``, which NumPy reports its arrays to).
    """
    import time
    import tracemalloc

    rows = []
    for users in (*scaling, n_users):
        tracemalloc.start()
        world = lesson_world(0, n_users=users)
        start, cpu = time.perf_counter(), time.process_time()
        run_loop(world, rounds, lam=1.0)
        rows.append({"users": users, "seconds": round(time.perf_counter() - start, 2),
                     "cpu_seconds": round(time.process_time() - cpu, 2),
                     "peak_mb": round(tracemalloc.get_traced_memory()[1] / 2**20, 1)})
        tracemalloc.stop()
        del world
    top = rows[-1]
    return {"users": n_users, "rounds": rounds, "questions_per_round": QUESTIONS, "seconds": top["seconds"],
            "cpu_seconds": top["cpu_seconds"], "peak_mb": top["peak_mb"],
            "scaling": [{k: r[k] for k in ("users", "seconds", "cpu_seconds")} for r in rows],
            "summary": f"{n_users:,} users x {rounds} rounds in {top['seconds']:.1f} s "
                       f"({top['cpu_seconds']:.1f} s CPU), peak {top['peak_mb']:.0f} MB; "
                       + ", ".join(f"{r['users']:,} users {r['seconds']:.1f} s" for r in rows[:-1])}
