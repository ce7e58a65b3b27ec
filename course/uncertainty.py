"""Lesson 03: a personalized judge that states its certainty, and why near-twins defeat it.

A *judge* sees a persona (some of a user's observable attributes) and two candidate items and
predicts which one the user prefers, as in Dong et al. (2024). It states its certainty on the
paper's 1-100 scale; "high certainty" means a statement of at least 80.

Shapes use these letters: U users, N interactions per user, T topics, A persona attributes
(T coarse topic interests, then the town's fine taste attributes), D taste dimensions, n items.
Probabilities ``p`` are P(the user picks candidate 0); labels ``y`` are 1 when they did.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from .checks import twin
from .metrics import confidence
from .similarity import cosine_similarity_matrix, nearest_neighbour
from .world import Town, make_town, topic_usage

__all__ = ["WORLD", "HIGH", "BANDS", "lesson_town", "personas", "reveal", "judge_inputs",
           "PersonaJudge", "distilled_judge", "calibrated", "stated_certainty",
           "certainty_band", "selective_accuracy", "risk_coverage", "identity_score",
           "Split", "split_users", "summarize", "fit_judge", "sparsity_probabilities",
           "sparsity_sweep", "twins", "near_miss", "overconfident", "TRAITS", "load_statements",
           "persona_statements", "persona_statements_or_skip", "reproduce"]

#: The lesson's town. Pinned here (not left to the world's defaults) so the lesson's numbers
#: do not move when the world's defaults do. Tastes are half shared across topics, so a
#: persona that reveals a user's mean taste is informative; the population preference is
#: weak, so without a persona a judge is near chance, as for Dong et al.'s pairs.
WORLD = dict(n_users=1500, n_interactions=80, n_topics=8, n_communities=6, n_dims=4,
             topic_focus=0.15, user_topic_spread=0.05, shared_taste=0.0, general_taste=0.5,
             population_strength=0.1, choice_noise=0.1, drift=0.0, n_attributes=12,
             attribute_noise=0.3)

#: stated certainty from which an answer counts as "high certainty" (Dong et al.)
HIGH = 80
#: the paper's five verbal bands: (highest certainty in the band, its name)
BANDS = ((20, "uncertain"), (40, "moderately confident"), (60, "quite confident"),
         (80, "confident"), (100, "highly confident"))


def lesson_town(seed: int = 0, **overrides) -> Town:
    """The town of lesson 03 (``WORLD``), with any field of ``TownConfig`` overridden."""
    return make_town(**{**WORLD, "seed": seed, **overrides})


def personas(town: Town) -> np.ndarray:
    """(U, T + A') persona attributes coded +1 / -1.

    The first T are coarse: "asks about topic t more than average" (topic interests, shared
    within a community). The rest are the town's fine attributes: noisy signs of the user's
    mean taste, the part of a persona that tells users of one community apart.
    """
    coarse = topic_usage(town) > 1.0 / town.config.n_topics
    return np.concatenate([coarse, town.attributes.astype(bool)], axis=1) * 2.0 - 1.0


def reveal(persona: np.ndarray, k: int, random_state: int = 0) -> np.ndarray:
    """Keep ``k`` attributes of each persona, chosen at random per user; hidden ones are 0.

    Args:
        persona: (U, A) attributes coded +1 / -1.
        k: number of attributes revealed, 0 <= k <= A.

    Returns:
        (U, A) array with A - k zeros per row.
    """
    U, A = persona.shape
    if not 0 <= k <= A:
        raise ValueError(f"k must be between 0 and {A}, got {k}")
    rank = np.random.default_rng(random_state).random((U, A)).argsort(axis=1).argsort(axis=1)
    return np.where(rank < k, persona, 0.0)


def judge_inputs(persona: np.ndarray, difference: np.ndarray) -> np.ndarray:
    """Rows ``[persona | candidate 0 - candidate 1]`` for every item of every user.

    Args:
        persona: (U, A) the persona shown to the judge for each user.
        difference: (U, N, D) candidate differences.

    Returns:
        (U * N, A + D) float array, user-major (row ``u * N + i`` is item ``i`` of user ``u``).
    """
    U, N, _ = difference.shape
    rows = np.broadcast_to(persona[:, None, :], (U, N, persona.shape[1]))
    return np.concatenate([rows, difference], axis=2).reshape(U * N, -1).astype(float)


class PersonaJudge(ClassifierMixin, BaseEstimator):
    """A personalized judge: logistic regression on the candidates and persona x candidates.

    The log-odds that the user picks candidate 0 are ``(w + W x) . d``: a population taste
    ``w`` plus a taste that each persona attribute ``x_a`` shifts by ``W[a]``, applied to the
    difference ``d`` between the candidates.

    Args:
        n_attributes: A, the number of persona columns at the start of each row of ``X``.
        C: inverse L2 strength of scikit-learn's ``LogisticRegression``.
        max_iter: iterations of its solver.
        random_state: passed to the solver (kept for the estimator contract).

    ``X`` is (n, A + D) as made by :func:`judge_inputs`; ``y`` (n,) is 1 when the user picked
    candidate 0.
    """

    def __init__(self, n_attributes: int = 20, C: float = 1.0, max_iter: int = 1000,
                 random_state: int = 0):
        self.n_attributes = n_attributes
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def _features(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        x, d = X[:, :self.n_attributes], X[:, self.n_attributes:]
        return np.concatenate([d, (x[:, :, None] * d[:, None, :]).reshape(len(X), -1)], axis=1)

    def fit(self, X, y) -> "PersonaJudge":
        self.model_ = LogisticRegression(C=self.C, max_iter=self.max_iter, solver="newton-cholesky",
                                         random_state=self.random_state)
        self.model_.fit(self._features(X), np.asarray(y))
        self.classes_ = self.model_.classes_
        return self

    def decision_function(self, X) -> np.ndarray:
        """(n,) log-odds that the user picks candidate 0."""
        return self.model_.decision_function(self._features(X))

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2) probabilities of labels 0 and 1."""
        return self.model_.predict_proba(self._features(X))

    def predict(self, X) -> np.ndarray:
        """(n,) the predicted label: 1 when candidate 0 is the likelier pick."""
        return self.model_.predict(self._features(X))


def distilled_judge(teacher, X, C: float = 1.0) -> PersonaJudge:
    """An over-confident judge: a student trained on the teacher's hard verdicts.

    Labels written by another model carry none of people's inconsistency, so the student
    learns that a persona settles every choice: same ranking as the teacher, certainty near
    100 almost everywhere (as for judges trained on model-written preference labels).
    """
    return PersonaJudge(teacher.n_attributes, C=C).fit(X, teacher.predict(X))


def calibrated(judge, X_cal, y_cal, method: str = "sigmoid") -> CalibratedClassifierCV:
    """Recalibrate a fitted judge on held-out users' real choices (Platt or isotonic)."""
    return CalibratedClassifierCV(FrozenEstimator(judge), method=method).fit(X_cal, y_cal)


# --- the exercises' reference versions ------------------------------------------------------

@twin
def stated_certainty(p) -> np.ndarray:
    """Certainty on the 1-100 scale: the probability of the predicted answer, in percent.

    Args:
        p: (n,) probability that the user picks candidate 0.

    Returns:
        (n,) int in [50, 100] (1-100 for the scale; a binary judge never goes below 50).
    """
    return np.clip(np.rint(100 * confidence(p)), 1, 100).astype(int)


@twin
def certainty_band(certainty) -> np.ndarray:
    """(n,) verbal band of each stated certainty (1-20 uncertain ... 81-100 highly confident)."""
    tops = np.array([top for top, _ in BANDS])
    names = np.array([name for _, name in BANDS])
    return names[np.searchsorted(tops, np.asarray(certainty), side="left")]


@twin
def selective_accuracy(p, y, certainty, threshold: float = HIGH) -> tuple[float, float]:
    """Accuracy and coverage of the answers stated with certainty >= ``threshold``.

    Args:
        p, y, certainty: (n,) probabilities, labels and stated certainties.

    Returns:
        ``(accuracy, coverage)``: accuracy among answered items (NaN when none is answered)
        and the share of items answered.
    """
    p, y, certainty = np.asarray(p), np.asarray(y), np.asarray(certainty)
    answered = certainty >= threshold
    if not answered.any():
        return float("nan"), 0.0
    correct = (p[answered] > 0.5) == (y[answered] == 1)
    return float(correct.mean()), float(answered.mean())


@twin
def risk_coverage(p, y, certainty) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Risk-coverage curve: answer only items stated at or above each distinct certainty.

    Args:
        p, y, certainty: (n,) probabilities, labels and stated certainties.

    Returns:
        ``(thresholds, coverage, risk)``, each (m,) for the m distinct certainties from the
        highest down: the share of items with certainty >= threshold, and their error rate.
    """
    certainty = np.asarray(certainty)
    order = np.argsort(-certainty, kind="stable")
    wrong = ((np.asarray(p) > 0.5) != (np.asarray(y) == 1))[order]
    ranked = certainty[order]
    last = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])  # end of each tie group
    answered = last + 1
    return ranked[last], answered / len(ranked), np.cumsum(wrong)[last] / answered


@twin
def identity_score(p_persona, p_prior, choices) -> np.ndarray:
    """Does this persona explain the user's recent choices better than no persona at all?

    Args:
        p_persona: (U, K) the judge's P(candidate 0) on each user's K recent items, with the
            persona it was handed.
        p_prior: (U, K) the same without a persona (the population's taste only).
        choices: (U, K) 1 where the user picked candidate 0.

    Returns:
        (U,) mean log-likelihood ratio per choice, in nats. Negative: the persona predicts
        this user's own choices worse than no persona, so it is probably someone else's.
    """
    picked = np.asarray(choices) == 1
    p_persona, p_prior = np.asarray(p_persona, dtype=float), np.asarray(p_prior, dtype=float)
    like = np.where(picked, p_persona, 1 - p_persona)
    like0 = np.where(picked, p_prior, 1 - p_prior)
    eps = 1e-12
    return (np.log(like + eps) - np.log(like0 + eps)).mean(axis=1)


# --- the experiment ------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    """Users for training the judge, calibrating it, and testing; ``recent`` items per test
    user are their revealed history (for the identity check), the rest are judged."""

    train: np.ndarray
    calibration: np.ndarray
    test: np.ndarray
    recent: int = 20


def split_users(n_users: int, random_state: int = 0, recent: int = 20) -> Split:
    """60% train, 13% calibration, the rest test, by a seeded permutation of users."""
    order = np.random.default_rng(random_state).permutation(n_users)
    a, b = int(0.6 * n_users), int(0.733 * n_users)
    return Split(np.sort(order[:a]), np.sort(order[a:b]), np.sort(order[b:]), recent)


def summarize(p, y) -> dict[str, float]:
    """Accuracy overall, and accuracy and coverage of the high-certainty answers."""
    p, y = np.asarray(p), np.asarray(y)
    hc_acc, hc_cov = selective_accuracy(p, y, stated_certainty(p), HIGH)
    return {"accuracy": float(((p > 0.5) == (y == 1)).mean()),
            "high_certainty_accuracy": hc_acc, "high_certainty_coverage": hc_cov}


def _judged(town: Town, users: np.ndarray, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """(users, N - recent, D) differences and choices of the judged items."""
    return town.difference[users, split.recent:], town.choice[users, split.recent:]


def fit_judge(town: Town, persona: np.ndarray, users: np.ndarray, **params) -> PersonaJudge:
    """A judge trained on every interaction of ``users``, shown their (U, A) personas."""
    X = judge_inputs(persona[users], town.difference[users])
    return PersonaJudge(persona.shape[1], **params).fit(X, town.choice[users].ravel())


def sparsity_probabilities(town: Town, persona: np.ndarray, split: Split, ks,
                           random_state: int = 0, progress: bool = False) -> dict:
    """Train and test one judge per persona size k (k attributes revealed per user).

    Returns:
        ``{k: (n,) P(candidate 0)}`` on the test users' judged items, in user-major order.
    """
    d, _ = _judged(town, split.test, split)
    out = {}
    for k in ks:
        shown = reveal(persona, k, random_state + k)
        judge = fit_judge(town, shown, split.train)
        out[k] = judge.predict_proba(judge_inputs(shown[split.test], d))[:, 1]
        if progress:  # about 0.3 s per judge
            print(f"\rtrained and tested the judges for k = {ks[0]} ... {k}", end="", flush=True)
    if progress:
        print()
    return out


def sparsity_sweep(town: Town, persona: np.ndarray, split: Split, ks=None,
                   random_state: int = 0) -> dict[str, list]:
    """Accuracy, and accuracy and coverage at certainty >= 80, against persona size k.

    Returns:
        ``{"n_attributes": [...], "accuracy": [...], "high_certainty_accuracy": [...],
        "high_certainty_coverage": [...]}`` on the test users' judged items.
    """
    ks = list(range(persona.shape[1] + 1)) if ks is None else list(ks)
    y = _judged(town, split.test, split)[1].ravel()
    rows = [summarize(p, y) for p in sparsity_probabilities(town, persona, split, ks,
                                                            random_state).values()]
    return {"n_attributes": ks, **{key: [r[key] for r in rows] for key in rows[0]}}


def twins(profile: np.ndarray, users: np.ndarray) -> np.ndarray:
    """Each user's nearest other user among ``users`` by cosine similarity of ``profile``."""
    return users[nearest_neighbour(cosine_similarity_matrix(profile[users]))]


def near_miss(town: Town, persona: np.ndarray, judge, split: Split,
              similar_on: str = "topics") -> dict:
    """Hand the judge each test user's own persona, then their near-twin's.

    Args:
        judge: a fitted judge on full personas.
        similar_on: what the twin is similar on: ``"topics"`` (topic usage, the coarse part
            of the persona, as a look-up system sees users) or ``"persona"`` (every attribute).

    Returns:
        dict with rows ``true``, ``swapped``, ``swapped_with_identity_check``,
        ``true_with_identity_check``, plus the arrays behind them under ``"arrays"``. Every
        row has the same keys, and its rule decides which items are answered: plain rows
        answer an item stated at certainty >= 80; identity-check rows also need the user's
        persona to pass the check (a rejected persona's items are stated at certainty 1).

        * ``accuracy``: of the judge's answers on all judged items (the check changes none);
        * ``mean_certainty``: the stated certainty, after the check on checked rows;
        * ``users_rejected``: share of users whose persona fails the check (0 on plain rows);
        * ``abstain_rate``: share of items not answered under the row's rule;
        * ``answered_accuracy``: accuracy on the answered items (NaN when there are none).
    """
    profile = {"topics": topic_usage(town), "persona": persona}[similar_on]
    users, K = split.test, split.recent
    twin = twins(profile, users)
    N = town.choice.shape[1]
    prior = judge.predict_proba(judge_inputs(np.zeros_like(persona[users]),
                                             town.difference[users]))[:, 1]
    rows, arrays = {}, {}
    for name, shown in (("true", persona[users]), ("swapped", persona[twin])):
        p = judge.predict_proba(judge_inputs(shown, town.difference[users]))[:, 1]
        p, p0 = p.reshape(len(users), N), prior.reshape(len(users), N)
        score = identity_score(p[:, :K], p0[:, :K], town.choice[users, :K])
        pj, yj = p[:, K:], town.choice[users, K:]
        c = stated_certainty(pj.ravel()).reshape(pj.shape)
        correct = (pj > 0.5) == (yj == 1)
        passes = np.broadcast_to((score >= 0)[:, None], pj.shape)
        checked = np.where(passes, c, 1)
        for row, certainty, rejected in ((name, c, 0.0),
                                         (f"{name}_with_identity_check", checked, 1 - passes.mean())):
            answered = certainty >= HIGH
            rows[row] = {"accuracy": float(correct.mean()), "mean_certainty": float(certainty.mean()),
                         "users_rejected": float(rejected), "abstain_rate": float(1 - answered.mean()),
                         "answered_accuracy": float(correct[answered].mean()) if answered.any()
                         else float("nan")}
        arrays[name] = {"p": pj.ravel(), "y": yj.ravel(), "certainty": c.ravel(),
                        "checked_certainty": checked.ravel(), "identity_score": score}
    order = ("true", "swapped", "swapped_with_identity_check", "true_with_identity_check")
    return {**{k: rows[k] for k in order}, "arrays": arrays}


def overconfident(town: Town, persona: np.ndarray, judge, split: Split,
                  method: str = "sigmoid") -> dict:
    """The distilled (over-confident) judge before and after calibration on held-out users.

    Returns:
        ``{"before": summary, "after_calibration": summary, "p": {...}, "y": labels}``.
    """
    X_train = judge_inputs(persona[split.train], town.difference[split.train])
    student = distilled_judge(judge, X_train)
    X_cal = judge_inputs(persona[split.calibration], town.difference[split.calibration])
    repaired = calibrated(student, X_cal, town.choice[split.calibration].ravel(), method)
    d, y = _judged(town, split.test, split)
    X_test = judge_inputs(persona[split.test], d)
    p = {"before": student.predict_proba(X_test)[:, 1],
         "after_calibration": repaired.predict_proba(X_test)[:, 1]}
    return {**{k: summarize(v, y.ravel()) for k, v in p.items()}, "p": p, "y": y.ravel()}


# --- real data: persona-statements (Perez et al. 2022) ---------------------------------------

#: traits whose statements the real-data judge sees (a spread over the dataset's families)
TRAITS = ("agreeableness", "conscientiousness", "extraversion", "neuroticism", "openness",
          "politically-liberal", "politically-conservative", "subscribes-to-Christianity",
          "subscribes-to-Atheism", "risk-seeking", "risk-averse", "interest-in-science",
          "interest-in-art", "interest-in-sports", "narcissism", "subscribes-to-utilitarianism")


def load_statements(traits=TRAITS) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Statements of the chosen traits: (S,) trait index, S texts, (S,) True where a person
    with the trait answers "Yes". Raises ``DatasetUnavailable`` when the data is absent."""
    import json

    from .datasets import fetch

    paths = fetch("persona-statements", [f"{t}.jsonl" for t in traits])
    trait, text, yes = [], [], []
    for index, name in enumerate(traits):
        for line in paths[f"{name}.jsonl"].read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            trait.append(index)
            text.append(row["statement"])
            yes.append(row["answer_matching_behavior"].strip() == "Yes")
    return np.array(trait), text, np.array(yes)


def persona_statements(seed: int = 0, ks=(0, 2, 4, 8, 12, 16), n_people: int = 600,
                       per_person: int = 60) -> dict[str, list]:
    """The sparsity analysis on real statements.

    People are random combinations of the traits (each held with probability 1/2); a person
    says "Yes" to a statement when that matches having or lacking its trait. The judge sees
    k revealed traits (+1 / -1, hidden 0) and the statement's words (TF-IDF), and learns
    words x traits by logistic regression on 2/3 of the people and 70% of the statements;
    it is tested on the other people and statements.

    Returns:
        ``{"n_traits", "n_attributes", "accuracy", "high_certainty_accuracy",
        "high_certainty_coverage", "test_answers"}``.
    """
    import scipy.sparse as sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    trait, text, yes = load_statements()
    M, rng = len(TRAITS), np.random.default_rng(seed)
    train_statement = rng.random(len(text)) < 0.7
    people = rng.random((n_people, M)) < 0.5
    train_person = np.arange(n_people) < 2 * n_people // 3
    words = TfidfVectorizer(min_df=2, sublinear_tf=True)
    words.fit([t for t, keep in zip(text, train_statement) if keep])
    tfidf = words.transform(text).tocsr()

    def answers(persons, statements):
        who = np.repeat(np.flatnonzero(persons), per_person)
        what = rng.choice(np.flatnonzero(statements), size=who.size)
        return who, what, (people[who, trait[what]] == yes[what]).astype(int)

    def features(shown, what):
        T = tfidf[what]
        return sparse.hstack([T] + [T.multiply(shown[:, [m]]) for m in range(M)]).tocsr()

    train, test = answers(train_person, train_statement), answers(~train_person, ~train_statement)
    out = {"n_traits": M, "n_attributes": list(ks), "accuracy": [],
           "high_certainty_accuracy": [], "high_certainty_coverage": [],
           "test_answers": int(test[2].size)}
    for k in ks:
        shown = reveal(people * 2.0 - 1.0, k, seed + k)
        judge = LogisticRegression(C=1.0, max_iter=2000)
        judge.fit(features(shown[train[0]], train[1]), train[2])
        p = judge.predict_proba(features(shown[test[0]], test[1]))[:, 1]
        for key, value in summarize(p, test[2]).items():
            out[key].append(value)
    return out


def persona_statements_or_skip(seed: int = 0) -> dict:
    """:func:`persona_statements`, or ``{"skipped": reason}`` when the data is unavailable."""
    from .datasets import DatasetUnavailable

    try:
        return persona_statements(seed)
    except DatasetUnavailable as err:
        return {"skipped": str(err)}


def reproduce(seed: int = 0) -> dict:
    """Lesson 03's headline numbers (see the lesson), for ``python -m course reproduce``."""
    town = lesson_town(seed)
    persona = personas(town)
    split = split_users(town.n_users, random_state=seed)
    judge = fit_judge(town, persona, split.train)
    d, y = _judged(town, split.test, split)
    full = summarize(judge.predict_proba(judge_inputs(persona[split.test], d))[:, 1], y.ravel())
    over = overconfident(town, persona, judge, split)
    miss = near_miss(town, persona, judge, split)
    return _finite({
        "sparsity": sparsity_sweep(town, persona, split, random_state=seed),
        "full_persona": full,
        "overconfident": {k: over[k] for k in ("before", "after_calibration")},
        "near_miss": {k: v for k, v in miss.items() if k != "arrays"},
        "real_data": persona_statements_or_skip(seed),
    })


def _finite(value):
    """NaN (an accuracy over no items) becomes None, so the result is valid JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and np.isnan(value) else value
