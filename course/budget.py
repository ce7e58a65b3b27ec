"""Which part of a profile personalizes: inputs, outputs or both, under a context budget
(lesson 01, after Wu et al. 2024), in the town and on real users (:func:`real_users`)."""
from __future__ import annotations

import numpy as np

from .models import PreferenceModel
from .profiles import (Layout, examples, gather, item_features, recent_indices, source_mask,
                       split_users, tokens_per_item)
from .world import Town

__all__ = ["profile_examples", "train_source_model", "source_comparison", "budget_curve",
           "real_users", "real_users_text", "KS", "BUDGET_ITEMS", "REAL_KS", "LSA_DIMS"]

KS = (1, 2, 4, 8, 16, 24, 32)      # profile items requested in the budget curve
BUDGET_ITEMS = 32                   # the budget, in untruncated outputs
REAL_KS = (1, 2, 4, 8, 16)          # profile items requested in the real users' budget curve
LSA_DIMS = 64                       # dimensions of the real users' text vectors


def budget_tokens(town: Town) -> int:
    return BUDGET_ITEMS * tokens_per_item("outputs", town.config.n_dims)


def profile_examples(town: Town, users, source: str, k, n_history: int, layout: Layout,
                     features=None):
    """Examples whose profile is each user's ``k`` most recent items of ``source``, every
    item cut to ``budget // k`` tokens. ``k`` may be an int or one int per user."""
    features = item_features(town) if features is None else features
    k = np.broadcast_to(np.asarray(k), (len(users),))
    items = np.zeros((len(users), layout.n_items, layout.item_dim), dtype=np.float32)
    T, D = town.config.n_topics, town.config.n_dims
    for kk in np.unique(k):  # a handful of distinct k values, not a loop over users
        if kk == 0 or source == "none":
            continue
        rows = np.flatnonzero(k == kk)
        idx = np.broadcast_to(recent_indices(n_history, kk), (len(rows), kk))
        mask = source_mask(source, budget_tokens(town) // kk, T, D)
        items[rows, :kk] = gather(features, users[rows], idx) * mask
    return examples(town, users, items, n_history, layout)


def train_source_model(town: Town, source: str, ks, n_history: int, train, random_state=0,
                       progress=True, epochs: int = 20, features=None) -> PreferenceModel:
    """Train a reader on ``source`` profiles, each training user drawing k from ``ks``."""
    rng = np.random.default_rng(random_state)
    layout = Layout.for_town(town, max(max(ks), 1))
    k = rng.choice(np.asarray(ks), size=len(train))
    X, y = profile_examples(town, train, source, k, n_history, layout, features)
    return PreferenceModel(layout, epochs=epochs, random_state=random_state,
                           progress=progress).fit(X, y)


def _accuracy(model, X, y) -> float:
    return float((model.predict(X) == y).mean())


def source_comparison(town: Town, n_queries: int = 10, random_state: int = 0,
                      progress: bool = True) -> dict:
    """Accuracy on held-out users when each source fills the budget with whole items."""
    n_history = town.topic.shape[1] - n_queries
    train, test = split_users(town.n_users, 0.5, random_state)
    features = item_features(town)
    out = {}
    for source in ("none", "inputs", "outputs", "both"):
        k = 0 if source == "none" else budget_tokens(town) // tokens_per_item(source, town.config.n_dims)
        model = train_source_model(town, source, [k], n_history, train, random_state, progress,
                                   features=features)
        out[source] = _accuracy(model, *profile_examples(town, test, source, k, n_history,
                                                         model.layout, features))
    return out


def budget_curve(town: Town, n_queries: int = 10, random_state: int = 0,
                 progress: bool = True, ks=KS) -> dict:
    """Accuracy against k for outputs-only and complete-pair profiles under the budget."""
    n_history = town.topic.shape[1] - n_queries
    train, test = split_users(town.n_users, 0.5, random_state)
    features = item_features(town)
    curve = {"k": list(ks)}
    for source in ("outputs", "both"):
        model = train_source_model(town, source, ks, n_history, train, random_state, progress,
                                   features=features)
        curve[source] = [_accuracy(model, *profile_examples(town, test, source, k, n_history,
                                                            model.layout, features)) for k in ks]
    return curve


def _reader_accuracy(X: np.ndarray, y: np.ndarray, train: np.ndarray) -> np.ndarray:
    """(N,) whether a logistic reader fitted on the rows ``train`` is right on every row
    (only the other rows are used). Each column is first scaled to unit root mean square on
    the training rows, so that one L2 penalty treats them alike."""
    from sklearn.linear_model import LogisticRegression

    rms = np.sqrt((X[train] ** 2).mean(axis=0))
    X = X / np.where(rms > 0, rms, 1.0)
    model = LogisticRegression(C=1.0, fit_intercept=False, max_iter=1000).fit(X[train], y[train])
    return model.predict(X) == y


def _rowwise_dot(a, b) -> np.ndarray:
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


def real_users(seed: int = 0, ks=REAL_KS) -> dict:
    """Inputs, outputs and pairs as profiles of Beer Stack Exchange's real answerers.

    The question (:mod:`course.stackexchange`): which of two answers to the same question
    did the user write? Texts are TF-IDF vectors of their character n-gram counts, scaled to
    unit length. The reader is logistic regression on two kinds of evidence, as the town's
    reader adds a taste read from the profile to what everybody prefers:

    * from the profile: how much more the first answer resembles it than the second does
      (the difference of the two cosines; 0 with no profile);
    * without it: the first answer's vector minus the second's, projected to ``LSA_DIMS``
      dimensions (LSA), for what the answers of frequent answerers look like.

    The cosine is taken in the full n-gram space: what tells one writer from another sits in
    rare n-grams that a projection to a few dimensions keeps little of (a first reader that
    read the profile through the projection used none of it, from any source). Two-fold
    cross-fitting over the users' two halves: the TF-IDF weights and the projection are
    fitted on every post that no user of the other half wrote, the reader on the half's
    questions; it is scored on the other half, then the halves swap. So every user is
    scored once, by a reader that never saw them. One reader per source, and per source and
    k in the budget curve.

    Returns:
        JSON-ready: the data's counts; ``accuracy`` per source (mean over users of their
        accuracy), ``items_shown`` per source; the paired gaps over users
        ``outputs_minus_inputs``, ``outputs_minus_none``, ``inputs_minus_none`` and
        ``outputs_minus_both`` (each ``{"mean", "ci95"}``); ``budget_curve`` (``k``,
        ``outputs``, ``both``, and the mean items shown at each k); ``verdict`` (from
        outputs minus inputs: "held", "did not" or "reversed") and ``seconds``. Raises
        ``DatasetUnavailable`` without the data.
    """
    import time

    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import normalize

    from . import metrics
    from .stackexchange import SOURCES, load_histories, post_counts, profile_counts, word_ngrams

    start = time.perf_counter()
    h = load_histories(seed)
    _, ngrams = word_ngrams(h)
    posts = post_counts(h, ngrams)
    conditions = {**{s: profile_counts(h, ngrams, s) for s in SOURCES},
                  **{(s, k): profile_counts(h, ngrams, s, k) for s in ("outputs", "both") for k in ks}}
    right = {c: np.zeros(len(h.y), bool) for c in conditions}
    for half in (0, 1):
        train = h.half[h.user] == half
        fitted = posts[(h.post_user < 0) | (h.half[h.post_user] == half)]
        tfidf = TfidfTransformer(sublinear_tf=True).fit(fitted)
        lsa = TruncatedSVD(LSA_DIMS, random_state=seed).fit(tfidf.transform(fitted))
        first, second = (normalize(tfidf.transform(posts[h.answer[which]]))
                         for which in (h.first, h.second))
        prior = normalize(lsa.transform(first)) - normalize(lsa.transform(second))
        for c, (counts, _) in conditions.items():
            profile = normalize(tfidf.transform(counts))
            resemblance = _rowwise_dot(profile, first) - _rowwise_dot(profile, second)
            X = np.column_stack([resemblance, prior])
            right[c][~train] = _reader_accuracy(X, h.y, train)[~train]
    users, user = np.unique(h.user, return_inverse=True)        # users asked at least once
    per_user = {c: np.bincount(user, r) / np.bincount(user) for c, r in right.items()}

    def gap(a, b):
        return metrics.paired_bootstrap_gap(per_user[a], per_user[b], random_state=seed)

    main = gap("outputs", "inputs")
    return metrics.rounded({
        **h.describe(),
        "accuracy": {s: float(per_user[s].mean()) for s in SOURCES},
        "items_shown": {s: float(conditions[s][1].mean()) for s in SOURCES[1:]},
        "outputs_minus_inputs": main, "outputs_minus_none": gap("outputs", "none"),
        "inputs_minus_none": gap("inputs", "none"), "outputs_minus_both": gap("outputs", "both"),
        "budget_curve": {"k": list(ks),
                         **{s: [float(per_user[(s, k)].mean()) for k in ks]
                            for s in ("outputs", "both")},
                         "items_shown": [float(conditions[("outputs", k)][1].mean()) for k in ks]},
        "verdict": metrics.verdict(main, +1),
        "seconds": time.perf_counter() - start})


_VERDICT_01 = {"held": "held: outputs beat inputs (95% interval above zero)",
               "did not": "did not hold: the 95% interval of outputs minus inputs includes zero",
               "reversed": "reversed: inputs beat outputs (95% interval below zero)"}


def real_users_text(real: dict, town: dict) -> str:
    """What lesson 01's real-data section prints.

    Args:
        real: :func:`real_users`'s result, or ``{"skipped": reason}``.
        town: the town's :func:`source_comparison` (accuracy per source), shown beside.
    """
    from .stackexchange import BUDGET, MIN_ANSWERS, SOURCES

    if "skipped" in real:
        return f"Real-data section skipped: {real['skipped']}"

    def ci(gap: dict) -> str:
        return f"{gap['mean']:+.3f} (95% CI {gap['ci95'][0]:+.3f} to {gap['ci95'][1]:+.3f})"

    curve = real["budget_curve"]
    shown = {"none": "-", **{s: f"{real['items_shown'][s]:.1f}" for s in SOURCES[1:]}}
    return "\n".join([
        f"Beer Stack Exchange: {real['users']} answerers with {MIN_ANSWERS}+ answers, "
        f"{real['questions']} questions: which of two answers to one question is theirs?",
        f"profiles of up to {BUDGET} words; every user is scored by a reader that never saw them",
        f"{'profile from':<14}{'accuracy':>9}{'items shown':>13}{'town':>8}",
        *(f"{s:<14}{real['accuracy'][s]:>9.3f}{shown[s]:>13}{town[s]:>8.3f}" for s in SOURCES),
        f"outputs minus inputs, accuracy per user: {ci(real['outputs_minus_inputs'])}; "
        f"town {town['outputs'] - town['inputs']:+.3f}",
        f"outputs minus none: {ci(real['outputs_minus_none'])}",
        f"inputs minus none: {ci(real['inputs_minus_none'])}",
        f"outputs minus pairs: {ci(real['outputs_minus_both'])}",
        f"budget curve: k items, each cut to {BUDGET} // k words",
        "k          " + "".join(f"{k:>7}" for k in curve["k"]),
        "outputs    " + "".join(f"{a:>7.3f}" for a in curve["outputs"]),
        "pairs      " + "".join(f"{a:>7.3f}" for a in curve["both"]),
        "items shown" + "".join(f"{a:>7.1f}" for a in curve["items_shown"]),
        f"verdict: {_VERDICT_01[real['verdict']]}"])
