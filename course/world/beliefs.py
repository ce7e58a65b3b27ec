"""The town's beliefs: questions, what each user believes, candidate answers, and feedback.

A facet of the *same* users as :func:`course.world.make_town` (their communities and topic
interests), used by lesson 06. Shapes use these letters: U users, Q questions, K candidate
responses per question, A belief axes, F reward features, C communities.

What a user believes
--------------------
Each question ``q`` has a loading ``v_q`` (a unit vector in R^A) on A belief axes (one by
default: think of a left-right scale, and of each question as coded left or right); each
user has a *lean* ``z_u`` in R^A, centred on their community's lean. Some questions are *factual* with a true side ``t_q = +1 or -1`` (0 for questions of
opinion). The belief of user ``u`` on question ``q`` is

    b_uq = tanh(z_u . v_q + knowledge * t_q + question_noise * e_uq)  in (-1, 1):

its sign is the side the user takes, its size their conviction. People partly know the
facts (``knowledge``), so most are right on a factual question, and a community whose lean
points the other way is often wrong together.

What a user approves
--------------------
Each question has K candidate responses, half on each side ``s = +1 or -1``, each with a
quality ``g``. Shown response ``y``, the user approves with probability

    sigmoid(base + quality * g_y + truth * s_y t_q + gamma_u * b_uq s_y),

quality and truth (a response that takes the true side of a factual question) plus a
**sycophancy bias** ``gamma_u``: extra approval for agreeing with the user's own belief. That
bias is the only place sycophancy enters the town; ``sycophancy=0`` switches it off. A small
share of *vulnerable* users (``vulnerable_share``, 2% by default, after Williams et al. 2024)
has a much stronger bias, ``vulnerable_sycophancy``.

Influence: every response a user is shown moves their lean a fixed step toward its side,
``z_u += influence * s_y * v_q``, as if it were a piece of evidence of fixed strength (a
Bayesian update adds a fixed log-likelihood ratio to the log-odds); ``influence=0`` keeps
beliefs fixed.

What a reward model sees
------------------------
The features ``phi(q, y)`` of a response are fixed, shared by every user (reward features in
the style of Barreto et al. 2025): its side along the question's loading ``s_y v_q`` (A
numbers), its quality, a noisy *evidence* marker ``s_y t_q + evidence_noise * n_y`` (true
answers tend to cite evidence), and a constant. Nothing in them says who believes what.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .town import Town, check_fields

__all__ = ["BeliefConfig", "Beliefs", "make_beliefs"]


@dataclass(frozen=True)
class BeliefConfig:
    """Parameters of the belief facet. Every field has a documented default.

    Attributes:
        n_questions: questions Q, spread evenly over the town's topics.
        factual_share: share of questions with a true side.
        n_axes: belief axes A.
        n_responses: candidate responses K per question (sides -1 and +1 in turn).
        community_lean: spread of the communities' leans (their standard deviation on each
            axis; their mean is 0).
        individual_lean: spread of a user's lean around their community's.
        question_noise: a user's idiosyncratic belief on each question.
        knowledge: pull of every belief toward the truth on factual questions.
        base: approval log-odds of a response of average quality, before truth and agreement.
        quality: approval log-odds per unit of response quality.
        truth: approval log-odds for taking the true side of a factual question (and minus
            that for the false side).
        sycophancy: approval log-odds per unit of agreement with the user's belief
            (``b_uq * s_y``); 0 switches the bias off.
        vulnerable_share: share of users whose bias is ``vulnerable_sycophancy``.
        vulnerable_sycophancy: the bias of the vulnerable users.
        influence: how far each shown response moves the user's lean toward its side.
        evidence_noise: noise of the evidence marker in the features.
        seed: seed of every random draw of the facet.
    """

    n_questions: int = 48
    factual_share: float = 0.5
    n_axes: int = 1
    n_responses: int = 6
    community_lean: float = 1.5
    individual_lean: float = 0.5
    question_noise: float = 0.5
    knowledge: float = 0.5
    base: float = -1.0
    quality: float = 1.0
    truth: float = 2.0
    sycophancy: float = 2.0
    vulnerable_share: float = 0.02
    vulnerable_sycophancy: float = 8.0
    influence: float = 0.003
    evidence_noise: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self, counts=("n_questions", "n_axes", "n_responses"),
                     shares=("factual_share", "vulnerable_share"),
                     non_negative=("community_lean", "individual_lean", "question_noise",
                                   "knowledge", "sycophancy", "vulnerable_sycophancy",
                                   "influence", "evidence_noise"))


@dataclass
class Beliefs:
    """The belief facet of a town. Arrays only; ``lean`` is the starting state of the users.

    Attributes:
        config: the parameters it was generated with.
        community: (U,) int, each user's community (the town's).
        topic_mix: (U, T) float, each user's interests (the town's): a user asks about a
            topic with this probability, then one of its questions at random.
        question_topic: (Q,) int, ``q % T``: the questions of topic t are t, t + T, ...
        loading: (Q, A) float32, unit vectors ``v_q``.
        truth: (Q,) int, the true side of factual questions; 0 for questions of opinion.
        side: (Q, K) int in {-1, +1}, the side each candidate response takes.
        quality: (Q, K) float, each response's quality.
        features: (Q, K, F) float32, the reward features ``phi(q, y)``.
        lean: (U, A) float32, each user's lean at the start.
        noise: (U, Q) float32, each user's idiosyncratic part of every belief.
        sycophancy: (U,) float, each user's bias ``gamma_u``.
        vulnerable: (U,) bool, the vulnerable users.
    """

    config: BeliefConfig
    community: np.ndarray
    topic_mix: np.ndarray
    question_topic: np.ndarray
    loading: np.ndarray
    truth: np.ndarray
    side: np.ndarray
    quality: np.ndarray
    features: np.ndarray
    lean: np.ndarray
    noise: np.ndarray
    sycophancy: np.ndarray
    vulnerable: np.ndarray

    @property
    def n_users(self) -> int:
        return self.community.shape[0]

    @property
    def factual(self) -> np.ndarray:
        """(Q,) bool, questions with a true side."""
        return self.truth != 0

    def ask(self, rng: np.random.Generator, per_user: int) -> np.ndarray:
        """(U, per_user) questions: a topic from each user's interests, then one of its
        questions at random."""
        U, T = self.topic_mix.shape
        cdf = np.cumsum(self.topic_mix, axis=1)
        topic = (rng.random((U, per_user, 1)) > cdf[:, None, :-1]).sum(axis=2)
        count = np.bincount(self.question_topic, minlength=T)
        return topic + T * (rng.random((U, per_user)) * count[topic]).astype(np.int64)

    def belief(self, lean: np.ndarray, users=None, questions=None) -> np.ndarray:
        """Beliefs in (-1, 1) given every user's current (U, A) ``lean``.

        Returns:
            the (U, Q) beliefs of every user on every question; with ``users`` (n,), the
            (n, Q) beliefs of those users; with ``users`` and ``questions`` (both (n,)), the
            (n,) beliefs of those pairs.
        """
        pull = np.float32(self.config.knowledge) * self.truth.astype(np.float32)
        if questions is None:
            rows = slice(None) if users is None else users
            return np.tanh(lean[rows] @ self.loading.T + pull + self.noise[rows])
        return np.tanh(np.einsum("na,na->n", lean[users], self.loading[questions])
                       + pull[questions] + self.noise[users, questions])

    def approval_logit(self, belief, users, questions, responses) -> np.ndarray:
        """Log-odds that each user approves the response shown: the feedback rule.

        Args:
            belief: (n,) or (n, K) the users' beliefs on their questions.
            users, questions: (n,) indices.
            responses: (n,) or (n, K) indices of the responses shown.
        """
        cfg = self.config
        q = questions if np.ndim(responses) == 1 else questions[:, None]
        side = self.side[q, responses]
        gamma = self.sycophancy[users] if np.ndim(responses) == 1 else self.sycophancy[users, None]
        return (cfg.base + cfg.quality * self.quality[q, responses]
                + cfg.truth * side * self.truth[q] + gamma * belief * side)

    def influence(self, lean, users, questions, responses) -> np.ndarray:
        """The users' (U, A) lean after being shown ``responses`` (updated in place; a user
        may appear several times in ``users``, and every response they saw counts)."""
        step = self.config.influence * self.side[questions, responses]
        moves = step[:, None] * self.loading[questions]
        for axis in range(lean.shape[1]):
            lean[:, axis] += np.bincount(users, moves[:, axis], minlength=lean.shape[0])
        return lean


def make_beliefs(town: Town, config: BeliefConfig | None = None, **overrides) -> Beliefs:
    """The belief facet of ``town``: same users, same communities, same topic interests.

    Args:
        town: a town from :func:`course.world.make_town`.
        config: parameters; defaults to ``BeliefConfig()``.
        **overrides: fields of ``BeliefConfig`` to change, e.g. ``sycophancy=0``.
    """
    cfg = replace(config or BeliefConfig(), **overrides)
    rng = np.random.default_rng([cfg.seed, 6])
    U, Q, A, K = town.n_users, cfg.n_questions, cfg.n_axes, cfg.n_responses
    C, T = town.config.n_communities, town.config.n_topics
    if Q < T:
        raise ValueError(f"n_questions must be at least the town's n_topics ({T}), got {Q}")

    question_topic = np.arange(Q) % T
    loading = rng.standard_normal((Q, A))
    loading /= np.linalg.norm(loading, axis=1, keepdims=True)
    n_factual = int(round(cfg.factual_share * Q))
    truth = np.zeros(Q, dtype=np.int64)
    truth[rng.permutation(Q)[:n_factual]] = rng.choice([-1, 1], size=n_factual)

    side = np.tile(np.array([-1, 1]), K // 2 + 1)[:K][None, :].repeat(Q, axis=0)
    quality = rng.standard_normal((Q, K))
    evidence = side * truth[:, None] + cfg.evidence_noise * rng.standard_normal((Q, K))
    features = np.concatenate([side[..., None] * loading[:, None, :], quality[..., None],
                               evidence[..., None], np.ones((Q, K, 1))], axis=2)

    # communities lean apart at random, then the town is centred and scaled: divided by
    # community_lean on each axis, never lopsided by the luck of a few draws
    centre = rng.standard_normal((C, A))
    centre = cfg.community_lean * (centre - centre.mean(0)) / (centre.std(0) + 1e-12)
    lean = centre[town.community] + cfg.individual_lean * rng.standard_normal((U, A))
    noise = cfg.question_noise * rng.standard_normal((U, Q))
    vulnerable = np.zeros(U, dtype=bool)
    vulnerable[rng.permutation(U)[:int(round(cfg.vulnerable_share * U))]] = True
    gamma = np.where(vulnerable, cfg.vulnerable_sycophancy, cfg.sycophancy)

    f32 = np.float32
    return Beliefs(config=cfg, community=town.community.copy(),
                   topic_mix=town.topic_mix.astype(float), question_topic=question_topic,
                   loading=loading.astype(f32), truth=truth, side=side, quality=quality,
                   features=features.astype(f32), lean=lean.astype(f32),
                   noise=noise.astype(f32), sycophancy=gamma, vulnerable=vulnerable)
