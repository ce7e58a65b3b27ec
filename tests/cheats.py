"""Wrong submissions for every lesson: each must lose points under real ``nbgrader autograde``.

``WRONG[lesson_id]`` maps a student name to the solution cells it replaces (grade id ->
source). ``tests/conftest.py`` grades them in the same ``nbgrader autograde`` call as the
lesson's solution and untouched release (one call per lesson), with an honest submission
beside them; ``tests/test_cheats.py`` checks the scores.

A submission holds the lesson's solution and test cells after a cell of its own that
imports NumPy and those of the set-up cell's imports they use (the rest of the set-up and
the experiments are left out: a test cell needs nothing else, and this keeps grading fast),
with some solution cells replaced by a wrong answer. Every test
cell after a replaced solution cell must score less than full; every other test cell, and
every test cell of the honest submission, must score full. One submission carries one wrong
answer per exercise, so the answers are independent and a lesson needs as few kernels as it
has variants per exercise.

The wrong answers are those of issues #18 and #22 (a student's and a sceptical TA's reviews)
and a few more: the reference version called by another name, through a re-export, with the guard's
notebook name redefined or ``course.checks`` patched; check helpers redefined as no-ops; the
library overwritten with a wrong version; genuinely wrong code that the old hidden tests let
through (clipped similarities, ``argmax(S - I)``, the last column taken as the newest, an
unstable sort, ECE bins that drop a confidence of exactly 1, loops where the exercise says
vectorize), and other plausible mistakes.
"""
from __future__ import annotations

import ast
import textwrap

import nbformat

# --- pieces several wrong answers share -----------------------------------------------------

#: a solution cell prefix that silences every helper a test cell could use, by its notebook name
NO_OP_HELPERS = """
import contextlib
def _silent(*args, **kwargs):
    return args[0]() if args and callable(args[0]) else None
check_close = check_equal = check_shape = check_raises = check_vectorized = _silent
checking = library_twin_disabled = lambda *names: contextlib.nullcontext()
"""

#: tries to switch the guard off inside course.checks itself (the module refuses)
PATCH_CHECKS = """
import contextlib
import course.checks
for _name, _value in (("checking", lambda *names: contextlib.nullcontext()),
                      ("_disabled", frozenset()), ("check_close", lambda *a, **k: None)):
    try:
        setattr(course.checks, _name, _value)
    except AttributeError:
        pass
"""


#: shadows the test helpers' guard in the student's own namespace (the test cells import theirs)
SHADOW_CHECKING = """
import contextlib
library_twin_disabled = checking = lambda *names: contextlib.nullcontext()
"""


def cell(*parts: str) -> str:
    """A solution cell's source from pieces, each dedented on its own."""
    return "\n".join(textwrap.dedent(part).strip("\n") for part in parts) + "\n"


# --- lesson 00 ------------------------------------------------------------------------------

COSINE = "cosine-solution"
NEAREST = "nearest-solution"
_COSINE = """
def cosine_similarity_matrix(X):
    X = np.asarray(X, dtype=float)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    unit = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    return RESULT
"""

L00 = {
    "alias": {
        COSINE: cell("""
            from course.similarity import cosine_similarity_matrix as reference
            def cosine_similarity_matrix(X):
                return reference(X)
            """),
        NEAREST: cell("""
            import course.uncertainty   # re-exports the twin
            def nearest_neighbour(S):
                return course.uncertainty.nearest_neighbour(S)
            """),
    },
    "guard": {
        COSINE: cell(SHADOW_CHECKING, """
            import course.similarity
            def cosine_similarity_matrix(X):
                return course.similarity.cosine_similarity_matrix(X)
            """),
        NEAREST: cell(PATCH_CHECKS, """
            import course.uncertainty
            def nearest_neighbour(S):
                return course.uncertainty.twins.__globals__["nearest_neighbour"](S)
            """),
    },
    "no-op-helpers": {
        COSINE: cell(NO_OP_HELPERS, """
            def cosine_similarity_matrix(X):
                return np.zeros((len(X), len(X)))
            """),
        NEAREST: cell("""
            def nearest_neighbour(S):
                return np.zeros(len(S), dtype=int)
            """),
    },
    "overwrite-library": {
        COSINE: cell("""
            import course.similarity
            def cosine_similarity_matrix(X):
                X = np.asarray(X, dtype=float)
                return np.clip(X @ X.T, 0, 1)
            course.similarity.cosine_similarity_matrix = cosine_similarity_matrix
            """),
        NEAREST: cell("""
            import course.similarity
            def nearest_neighbour(S):
                return np.argmax(S - np.eye(len(S)), axis=1)
            course.similarity.nearest_neighbour = nearest_neighbour
            """),
    },
    "clip-and-subtract-identity": {
        COSINE: cell(_COSINE.replace("RESULT", "np.clip(unit @ unit.T, 0, 1)")),
        NEAREST: cell("""
            def nearest_neighbour(S):
                return np.argmax(S - np.eye(len(S)), axis=1)
            """),
    },
    "loops": {
        COSINE: cell(_COSINE.replace("RESULT", "np.array([unit @ row for row in unit])")),
        NEAREST: cell("""
            def nearest_neighbour(S):
                S = np.asarray(S, dtype=float)
                out = np.empty(len(S), dtype=int)
                for i in range(len(S)):
                    row = S[i].copy()
                    row[i] = -np.inf
                    out[i] = row.argmax()
                return out
            """),
    },
    "absolute-and-in-place": {
        COSINE: cell(_COSINE.replace("RESULT", "np.abs(unit @ unit.T)")),
        NEAREST: cell("""
            def nearest_neighbour(S):
                S = np.asarray(S)
                if len(S) > 3:          # the visible example is left intact
                    np.fill_diagonal(S, -np.inf)
                    return S.argmax(axis=1)
                masked = S.astype(float)
                np.fill_diagonal(masked, -np.inf)
                return masked.argmax(axis=1)
            """),
    },
}

# --- lesson 01 ------------------------------------------------------------------------------

KEPT, RECENT, SIMILAR, SUMMARY = "kept-solution", "recent-solution", "similar-solution", "summary-solution"

_KEPT_BODY = """
def kept_tokens(source, tokens, n_dims):
    if source not in ("none", "inputs", "outputs", "both"):
        raise ValueError(source)
    clip = lambda n: int(min(max(n, 0), n_dims))
    return {"none": (0, 0), "inputs": (clip(tokens - 1), 0), "outputs": (0, clip(tokens - 1)),
            "both": (clip(tokens - 1), clip(tokens - (n_dims + 1) - 1))}[source]
"""
_SUMMARY_BODY = """
def topic_summary(topic, output, time, n_topics, half_life):
    w = 0.5 ** ((NEWEST - time) / half_life)
    onehot = np.eye(n_topics)[topic]
    total = np.einsum("uh,uht->ut", w, onehot)
    return np.einsum("uh,uht,uhd->utd", w, onehot, output) / (total + 1.0)[..., None], total
"""

L01 = {
    "alias": {
        KEPT: cell("""
            from course.profiles import kept_tokens as reference
            def kept_tokens(source, tokens, n_dims):
                return reference(source, tokens, n_dims)
            """),
        RECENT: cell("""
            import course.memory   # re-exports the twin
            def most_recent(time, k):
                return course.memory.most_recent(time, k)
            """),
        SIMILAR: cell("""
            from course.profiles import most_similar as reference
            def most_similar(past, now, k):
                return reference(past, now, k)
            """),
        SUMMARY: cell("""
            import course.profiles as P
            def topic_summary(topic, output, time, n_topics, half_life):
                return P.topic_summary(topic, output, time, n_topics, half_life)
            """),
    },
    "guard": {
        KEPT: cell(SHADOW_CHECKING, """
            import course.profiles
            def kept_tokens(source, tokens, n_dims):
                return course.profiles.kept_tokens(source, tokens, n_dims)
            """),
        RECENT: cell(PATCH_CHECKS, """
            import course.profiles
            def most_recent(time, k):
                return course.profiles.most_recent(time, k)
            """),
        SIMILAR: cell("""
            import course.memory
            def most_similar(past, now, k):
                return course.memory.similar_indices.__globals__["most_similar"](past, now, k)
            """),
        SUMMARY: cell("""
            import course.memory
            def topic_summary(topic, output, time, n_topics, half_life):
                return course.memory.summary_items.__globals__["topic_summary"](topic, output, time,
                                                                              n_topics, half_life)
            """),
    },
    "no-op-helpers": {
        KEPT: cell(NO_OP_HELPERS, """
            def kept_tokens(source, tokens, n_dims):
                return (0, 0)
            """),
        RECENT: cell("""
            def most_recent(time, k):
                return np.zeros((len(time), k), dtype=int)
            """),
        SIMILAR: cell("""
            def most_similar(past, now, k):
                return np.zeros((len(past), k), dtype=int)
            """),
        SUMMARY: cell("""
            def topic_summary(topic, output, time, n_topics, half_life):
                return np.zeros(topic.shape[:1] + (n_topics, output.shape[2])), np.zeros((len(topic), n_topics))
            """),
    },
    "overwrite-library": {
        KEPT: cell("""
            import course.profiles
            def kept_tokens(source, tokens, n_dims):
                if source not in ("none", "inputs", "outputs", "both"):
                    raise ValueError(source)
                n = int(min(max(tokens - 1, 0), n_dims))
                return {"none": (0, 0), "inputs": (n, 0), "outputs": (0, n),
                        "both": (n, int(min(max(tokens - n_dims - 1, 0), n_dims)))}[source]
            course.profiles.kept_tokens = kept_tokens
            """),
        RECENT: cell("""
            import course.profiles
            def most_recent(time, k):
                return np.argsort(time, axis=1)[:, :k]
            course.profiles.most_recent = most_recent
            """),
        SIMILAR: cell("""
            import course.profiles
            def most_similar(past, now, k):
                return np.argsort(np.einsum("bhd,bd->bh", past, now), axis=1)[:, -k:]
            course.profiles.most_similar = most_similar
            """),
        SUMMARY: cell("""
            import course.profiles
            def topic_summary(topic, output, time, n_topics, half_life):
                w = 0.5 ** ((time[:, -1:] - time) / half_life)
                onehot = np.eye(n_topics)[topic]
                total = np.einsum("uh,uht->ut", w, onehot)
                return np.einsum("uh,uht,uhd->utd", w, onehot, output) / (total + 1.0)[..., None], total
            course.profiles.topic_summary = topic_summary
            """),
    },
    "wrong": {
        KEPT: cell("""
            def kept_tokens(source, tokens, n_dims):   # forgets the output run's topic token
                if source not in ("none", "inputs", "outputs", "both"):
                    raise ValueError(source)
                n = int(min(max(tokens - 1, 0), n_dims))
                return {"none": (0, 0), "inputs": (n, 0), "outputs": (0, n),
                        "both": (n, int(min(max(tokens - n_dims - 1, 0), n_dims)))}[source]
            """),
        RECENT: cell("""
            def most_recent(time, k):   # assumes each row is already sorted by time
                return np.broadcast_to(np.arange(time.shape[1] - k, time.shape[1]), (len(time), k))
            """),
        SIMILAR: cell("""
            def most_similar(past, now, k):   # dot product, not cosine
                sim = np.einsum("bhd,bd->bh", past, now)
                return np.argsort(sim, axis=1, kind="stable")[:, -k:]
            """),
        SUMMARY: cell(_SUMMARY_BODY.replace("NEWEST", "time[:, -1:]")),   # last column as newest
    },
    "loops": {
        KEPT: cell("""
            def kept_tokens(source, tokens, n_dims):   # no ValueError for an unknown source
                clip = lambda n: int(min(max(n, 0), n_dims))
                return {"inputs": (clip(tokens - 1), 0), "outputs": (0, clip(tokens - 1)),
                        "both": (clip(tokens - 1), clip(tokens - (n_dims + 1) - 1))}.get(source, (0, 0))
            """),
        RECENT: cell("""
            def most_recent(time, k):
                return np.array([np.argsort(row, kind="stable")[-k:] for row in np.asarray(time)])
            """),
        SIMILAR: cell("""
            def most_similar(past, now, k):
                rows = []
                for p, q in zip(past, now):
                    sim = (p / np.linalg.norm(p, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
                    rows.append(np.argsort(sim, kind="stable")[-k:])
                return np.array(rows)
            """),
        SUMMARY: cell("""
            def topic_summary(topic, output, time, n_topics, half_life):
                U, H, D = output.shape
                summary, total = np.zeros((U, n_topics, D)), np.zeros((U, n_topics))
                for u in range(U):
                    w = 0.5 ** ((time[u].max() - time[u]) / half_life)
                    onehot = np.eye(n_topics)[topic[u]]
                    total[u] = w @ onehot
                    summary[u] = (onehot * w[:, None]).T @ output[u] / (total[u] + 1.0)[:, None]
                return summary, total
            """),
    },
    "wrong-2": {
        KEPT: cell(_KEPT_BODY.replace("int(min(max(n, 0), n_dims))", "int(min(n, n_dims))")),   # negative counts
        RECENT: cell("""
            def most_recent(time, k):   # newest first
                return np.argsort(-np.asarray(time), axis=1, kind="stable")[:, :k]
            """),
        SIMILAR: cell("""
            def most_similar(past, now, k):   # ranks by |cosine|
                past = past / np.linalg.norm(past, axis=2, keepdims=True)
                now = now / np.linalg.norm(now, axis=1, keepdims=True)
                sim = np.abs(np.einsum("bhd,bd->bh", past, now))
                return np.argsort(sim, axis=1, kind="stable")[:, -k:]
            """),
        SUMMARY: cell(_SUMMARY_BODY.replace("NEWEST", "time.max()")),   # newest of everyone, not each user
    },
}

# --- lesson 02 ------------------------------------------------------------------------------

RANK, SWAP, ECE, GAP = "rank-solution", "swap-solution", "ece-solution", "gap-solution"

_ECE_BINS = """
def expected_calibration_error(p, y, n_bins=10):
    p, y = np.asarray(p, dtype=float), np.asarray(y)
    conf = np.maximum(p, 1 - p)
    correct = ((p > 0.5) == (y == 1)).astype(float)
    edges = np.linspace(0.5, 1.0, n_bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (conf >= lo) & (conf < hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(CONF[in_bin].mean() - correct[in_bin].mean())
    return float(ece)
"""
_SWAP_SCALAR_CHECK = """
def substitutes_at(ranking, ranks):
    if np.ndim(ranks) == 0 and not 1 <= ranks <= ranking.shape[1]:
        raise ValueError("rank out of range")   # an array of ranks is never checked
    ranks = np.broadcast_to(np.asarray(ranks), (ranking.shape[0],))
    return ranking[np.arange(ranking.shape[0]), ranks - 1]
"""

L02 = {
    "alias": {
        RANK: cell("""
            from course.nearmiss import rank_substitutes as reference
            def rank_substitutes(S, users):
                return reference(S, users)
            """),
        SWAP: cell("""
            import course.nearmiss
            def substitutes_at(ranking, ranks):
                return course.nearmiss.substitutes_at(ranking, ranks)
            """),
        ECE: cell("""
            import course.nearmiss   # re-exports the metrics module
            def expected_calibration_error(p, y, n_bins=10):
                return course.nearmiss.metrics.expected_calibration_error(p, y, n_bins)
            """),
        GAP: cell("""
            from course.metrics import paired_bootstrap_gap as reference
            def paired_bootstrap_gap(a, b, n_boot=2000, random_state=0):
                return reference(a, b, n_boot, random_state)
            """),
    },
    "guard": {
        RANK: cell(SHADOW_CHECKING, """
            import course.nearmiss
            def rank_substitutes(S, users):
                return course.nearmiss.rank_substitutes(S, users)
            """),
        SWAP: cell(PATCH_CHECKS, """
            import course.nearmiss
            def substitutes_at(ranking, ranks):
                return course.nearmiss.sweep.__globals__["substitutes_at"](ranking, ranks)
            """),
        ECE: cell("""
            import course.metrics
            def expected_calibration_error(p, y, n_bins=10):   # the library's binning, by hand
                rel = course.metrics.reliability(p, y, n_bins)
                filled = rel["count"] > 0
                return float((rel["count"][filled] / rel["count"].sum()
                              * np.abs(rel["confidence"][filled] - rel["accuracy"][filled])).sum())
            """),
        GAP: cell("""
            import course.metrics
            def paired_bootstrap_gap(a, b, n_boot=2000, random_state=0):
                d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
                return {"mean": float(d.mean()),
                        "ci95": list(course.metrics.bootstrap_ci(d, n_boot, 0.95, random_state))}
            """),
    },
    "no-op-helpers": {
        RANK: cell(NO_OP_HELPERS, """
            def rank_substitutes(S, users):
                return np.zeros((len(users), len(S) - 1), dtype=int)
            """),
        SWAP: cell("""
            def substitutes_at(ranking, ranks):
                return np.zeros(len(ranking), dtype=int)
            """),
        ECE: cell("""
            def expected_calibration_error(p, y, n_bins=10):
                return 0.0
            """),
        GAP: cell("""
            def paired_bootstrap_gap(a, b, n_boot=2000, random_state=0):
                return {"mean": 0.0, "ci95": [0.0, 0.0]}
            """),
    },
    "overwrite-library": {
        RANK: cell("""
            import course.nearmiss
            def rank_substitutes(S, users):
                rows = np.asarray(S, dtype=float)[users]
                rows[np.arange(len(users)), users] = -np.inf
                return np.argsort(-rows, axis=1)[:, :-1]
            course.nearmiss.rank_substitutes = rank_substitutes
            """),
        SWAP: cell("""
            import course.nearmiss
            def substitutes_at(ranking, ranks):
                return ranking[:, 0]
            course.nearmiss.substitutes_at = substitutes_at
            """),
        ECE: cell(_ECE_BINS.replace("CONF", "conf"), """
            import course.metrics
            course.metrics.expected_calibration_error = expected_calibration_error
            """),
        GAP: cell("""
            import course.metrics
            def paired_bootstrap_gap(a, b, n_boot=2000, random_state=0):
                return {"mean": float(np.mean(a) - np.mean(b)), "ci95": [-1.0, 1.0]}
            course.metrics.paired_bootstrap_gap = paired_bootstrap_gap
            """),
    },
    "wrong": {
        RANK: cell("""
            def rank_substitutes(S, users):   # NumPy's default (unstable) sort
                rows = np.asarray(S, dtype=float)[users]
                rows[np.arange(len(users)), users] = -np.inf
                return np.argsort(-rows, axis=1)[:, :-1]
            """),
        SWAP: cell(_SWAP_SCALAR_CHECK),
        ECE: cell(_ECE_BINS.replace("CONF", "conf")),   # a confidence of exactly 1 falls out
        GAP: cell("""
            def paired_bootstrap_gap(a, b, n_boot=2000, random_state=0):   # unpaired resampling
                a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
                rng = np.random.default_rng(random_state)
                ia = rng.integers(0, a.size, size=(n_boot, a.size))
                ib = rng.integers(0, b.size, size=(n_boot, b.size))
                lo, hi = np.quantile(a[ia].mean(axis=1) - b[ib].mean(axis=1), [0.025, 0.975])
                return {"mean": float(a.mean() - b.mean()), "ci95": [float(lo), float(hi)]}
            """),
    },
    "loops": {
        RANK: cell("""
            def rank_substitutes(S, users):
                out = []
                for u in users:
                    row = -np.asarray(S, dtype=float)[u]
                    row[u] = np.inf
                    out.append(np.argsort(row, kind="stable")[:-1])
                return np.array(out)
            """),
        SWAP: cell("""
            def substitutes_at(ranking, ranks):
                ranks = np.broadcast_to(np.asarray(ranks), (ranking.shape[0],))
                if ranks.min() < 1 or ranks.max() > ranking.shape[1]:
                    raise ValueError("ranks must be between 1 and U - 1")
                return np.array([row[r - 1] for row, r in zip(ranking, ranks)])
            """),
        ECE: cell(_ECE_BINS.replace("CONF", "p")),   # confidence replaced by p
        GAP: cell("""
            def paired_bootstrap_gap(a, b, n_boot=2000, random_state=0):   # quantiles of d, not of means
                d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
                lo, hi = np.quantile(d, [0.025, 0.975])
                return {"mean": float(d.mean()), "ci95": [float(lo), float(hi)]}
            """),
    },
    "wrong-2": {
        RANK: cell("""
            def rank_substitutes(S, users):   # reversed ascending sort, self masked with -1
                rows = np.asarray(S, dtype=float)[users]
                rows[np.arange(len(users)), users] = -1.0
                return np.argsort(rows, axis=1, kind="stable")[:, ::-1][:, :-1]
            """),
        SWAP: cell("""
            def substitutes_at(ranking, ranks):   # rank r read as column r
                ranks = np.broadcast_to(np.asarray(ranks), (ranking.shape[0],))
                if ranks.min() < 1 or ranks.max() > ranking.shape[1]:
                    raise ValueError("ranks must be between 1 and U - 1")
                return ranking[np.arange(ranking.shape[0]), np.minimum(ranks, ranking.shape[1] - 1)]
            """),
        ECE: cell("""
            def expected_calibration_error(p, y, n_bins=10):   # averages over non-empty bins
                p, y = np.asarray(p, dtype=float), np.asarray(y)
                conf = np.maximum(p, 1 - p)
                correct = ((p > 0.5) == (y == 1)).astype(float)
                idx = np.minimum(((conf - 0.5) * 2 * n_bins).astype(int), n_bins - 1)
                gaps = [abs(conf[idx == b].mean() - correct[idx == b].mean())
                        for b in range(n_bins) if (idx == b).any()]
                return float(np.mean(gaps))
            """),
        GAP: cell("""
            def paired_bootstrap_gap(a, b, n_boot=2000, random_state=0):   # ignores random_state
                d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
                idx = np.random.default_rng(0).integers(0, d.size, size=(n_boot, d.size))
                lo, hi = np.quantile(d[idx].mean(axis=1), [0.025, 0.975])
                return {"mean": float(d.mean()), "ci95": [float(lo), float(hi)]}
            """),
    },
}

# --- lesson 03 ------------------------------------------------------------------------------

CERTAINTY, SELECTIVE, RISK, IDENTITY = ("certainty-solution", "selective-solution",
                                        "riskcoverage-solution", "identity-solution")
_BANDS = ('BAND_NAMES = ["uncertain", "moderately confident", "quite confident", "confident", '
          '"highly confident"]\n')
_BAND_OK = """
def certainty_band(certainty):
    return np.array(BAND_NAMES)[np.clip((np.asarray(certainty) - 1) // 20, 0, 4)]
"""
_CERTAINTY_OK = """
def stated_certainty(p):
    p = np.asarray(p, dtype=float)
    return np.clip(np.rint(100 * np.maximum(p, 1 - p)), 1, 100).astype(int)
"""
_IDENTITY = """
def identity_score(p_persona, p_prior, choices):
    picked = np.asarray(choices) == 1
    q = np.where(picked, p_persona, 1 - np.asarray(p_persona))
    q0 = np.where(picked, p_prior, 1 - np.asarray(p_prior))
    return (np.log(q + EPS) - np.log(q0 + EPS)).mean(axis=AXIS)
"""

L03 = {
    "alias": {
        CERTAINTY: cell(_BANDS, """
            from course.uncertainty import stated_certainty as reference, certainty_band as reference_band
            def stated_certainty(p):
                return reference(p)
            def certainty_band(certainty):
                return reference_band(certainty)
            """),
        SELECTIVE: cell("""
            import course.uncertainty as U2
            def selective_accuracy(p, y, certainty, threshold=80):
                return U2.selective_accuracy(p, y, certainty, threshold)
            """),
        RISK: cell("""
            from course.uncertainty import risk_coverage as reference
            def risk_coverage(p, y, certainty):
                return reference(p, y, certainty)
            """),
        IDENTITY: cell("""
            import course.uncertainty
            def identity_score(p_persona, p_prior, choices):
                return course.uncertainty.near_miss.__globals__["identity_score"](p_persona, p_prior, choices)
            """),
    },
    "guard": {
        CERTAINTY: cell(_BANDS, SHADOW_CHECKING, """
            import course.uncertainty
            def stated_certainty(p):
                return course.uncertainty.stated_certainty(p)
            def certainty_band(certainty):
                return course.uncertainty.certainty_band(certainty)
            """),
        SELECTIVE: cell(PATCH_CHECKS, """
            import course.uncertainty
            def selective_accuracy(p, y, certainty, threshold=80):
                return course.uncertainty.selective_accuracy(p, y, certainty, threshold)
            """),
        RISK: cell("""
            import course.uncertainty
            def risk_coverage(p, y, certainty):
                return course.uncertainty.risk_coverage(p, y, certainty)
            """),
        IDENTITY: cell("""
            import course.uncertainty
            def identity_score(p_persona, p_prior, choices):
                return course.uncertainty.identity_score(p_persona, p_prior, choices)
            """),
    },
    "no-op-helpers": {
        CERTAINTY: cell(NO_OP_HELPERS, _BANDS, """
            def stated_certainty(p):
                return np.full(len(p), 50)
            def certainty_band(certainty):
                return np.full(len(certainty), "uncertain")
            """),
        SELECTIVE: cell("""
            def selective_accuracy(p, y, certainty, threshold=80):
                return 0.0, 0.0
            """),
        RISK: cell("""
            def risk_coverage(p, y, certainty):
                return np.zeros(1), np.zeros(1), np.zeros(1)
            """),
        IDENTITY: cell("""
            def identity_score(p_persona, p_prior, choices):
                return np.zeros(len(p_persona))
            """),
    },
    "overwrite-library": {
        CERTAINTY: cell(_BANDS, _BAND_OK, """
            import course.uncertainty
            def stated_certainty(p):
                return np.clip(np.rint(100 * np.asarray(p)), 1, 100).astype(int)
            course.uncertainty.stated_certainty = stated_certainty
            """),
        SELECTIVE: cell("""
            import course.uncertainty
            def selective_accuracy(p, y, certainty, threshold=80):
                answered = np.asarray(certainty) > threshold
                if not answered.any():
                    return float("nan"), 0.0
                return float(((p[answered] > 0.5) == (y[answered] == 1)).mean()), float(answered.mean())
            course.uncertainty.selective_accuracy = selective_accuracy
            """),
        RISK: cell("""
            import course.uncertainty
            def risk_coverage(p, y, certainty):
                t = np.unique(certainty)
                wrong = (np.asarray(p) > 0.5) != (np.asarray(y) == 1)
                return t, np.array([(certainty >= v).mean() for v in t]), np.array(
                    [wrong[certainty >= v].mean() for v in t])
            course.uncertainty.risk_coverage = risk_coverage
            """),
        IDENTITY: cell(_IDENTITY.replace("EPS", "0").replace("AXIS", "1"), """
            import course.uncertainty
            course.uncertainty.identity_score = identity_score
            """),
    },
    "wrong": {
        CERTAINTY: cell(_BANDS, _CERTAINTY_OK, """
            def certainty_band(certainty):   # 20 lands in the second band
                return np.array(BAND_NAMES)[np.clip(np.asarray(certainty) // 20, 0, 4)]
            """),
        SELECTIVE: cell("""
            def selective_accuracy(p, y, certainty, threshold=80):   # > instead of >=
                p, y, certainty = np.asarray(p), np.asarray(y), np.asarray(certainty)
                answered = certainty > threshold
                if not answered.any():
                    return float("nan"), 0.0
                return float(((p[answered] > 0.5) == (y[answered] == 1)).mean()), float(answered.mean())
            """),
        RISK: cell("""
            def risk_coverage(p, y, certainty):   # a loop over the distinct thresholds
                certainty = np.asarray(certainty)
                wrong = (np.asarray(p) > 0.5) != (np.asarray(y) == 1)
                t = np.unique(certainty)[::-1]
                return t, np.array([(certainty >= v).mean() for v in t]), np.array(
                    [wrong[certainty >= v].mean() for v in t])
            """),
        IDENTITY: cell(_IDENTITY.replace("EPS", "0").replace("AXIS", "1")),   # log(0) = -inf
    },
    "wrong-2": {
        CERTAINTY: cell(_BANDS, _BAND_OK, """
            def stated_certainty(p):   # floors instead of rounding
                p = np.asarray(p, dtype=float)
                return np.clip(np.floor(100 * np.maximum(p, 1 - p)), 1, 100).astype(int)
            """),
        SELECTIVE: cell("""
            def selective_accuracy(p, y, certainty, threshold=80):   # ignores the certainty given
                p, y = np.asarray(p), np.asarray(y)
                answered = np.rint(100 * np.maximum(p, 1 - p)) >= threshold
                if not answered.any():
                    return float("nan"), 0.0
                return float(((p[answered] > 0.5) == (y[answered] == 1)).mean()), float(answered.mean())
            """),
        RISK: cell("""
            def risk_coverage(p, y, certainty):   # lowest threshold first
                certainty = np.asarray(certainty)
                order = np.argsort(certainty, kind="stable")
                errors = ((np.asarray(p) > 0.5) != (np.asarray(y) == 1))[order][::-1]
                ranked = certainty[order][::-1]
                end = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
                return ranked[end][::-1], ((end + 1) / len(ranked))[::-1], (np.cumsum(errors)[end] / (end + 1))[::-1]
            """),
        IDENTITY: cell(_IDENTITY.replace("EPS", "1e-12").replace("AXIS", "0")),   # mean over the wrong axis
    },
    "loops": {
        CERTAINTY: cell(_BANDS, """
            def stated_certainty(p):   # a loop, and p of exactly 0 or 1 stated as 1
                return np.array([int(np.rint(100 * (x if x >= 0.5 else 1 - x))) if 0 < x < 1 else 1
                                 for x in np.asarray(p, dtype=float)])
            """, _BAND_OK),
        SELECTIVE: cell("""
            def selective_accuracy(p, y, certainty, threshold=80):   # p = 0.5 counted as candidate 0
                p, y, certainty = np.asarray(p), np.asarray(y), np.asarray(certainty)
                answered = certainty >= threshold
                if not answered.any():
                    return float("nan"), 0.0
                return float(((p[answered] >= 0.5) == (y[answered] == 1)).mean()), float(answered.mean())
            """),
        RISK: cell("""
            def risk_coverage(p, y, certainty):
                certainty = np.asarray(certainty)
                order = np.argsort(-certainty, kind="stable")
                wrong = ((np.asarray(p) > 0.5) != (np.asarray(y) == 1))[order]
                ranked = certainty[order]
                t, cov, risk, errors = [], [], [], 0
                for i in range(len(ranked)):
                    errors += wrong[i]
                    if i == len(ranked) - 1 or ranked[i + 1] != ranked[i]:
                        t.append(ranked[i]); cov.append((i + 1) / len(ranked)); risk.append(errors / (i + 1))
                return np.array(t), np.array(cov), np.array(risk)
            """),
        IDENTITY: cell("""
            def identity_score(p_persona, p_prior, choices):
                out = []
                for p, p0, c in zip(np.asarray(p_persona, dtype=float), np.asarray(p_prior, dtype=float),
                                    np.asarray(choices)):
                    q, q0 = np.where(c == 1, p, 1 - p), np.where(c == 1, p0, 1 - p0)
                    out.append((np.log(q + 1e-12) - np.log(q0 + 1e-12)).mean())
                return np.array(out)
            """),
    },
}

# --- lesson 04 ------------------------------------------------------------------------------

ATTENTION, NDCG, MATCH, TASTE = "attention-solution", "ndcg-solution", "match-solution", "taste-solution"

_DOTS = 'np.einsum("bkd,md->bmk", np.asarray(personas, dtype=float), np.asarray(items, dtype=float))'
_ATTENTION = """
def persona_attention(personas, items, temperature=1.0):
    if not temperature > 0:
        raise ValueError("temperature must be positive")
    z = DOTS / temperature
    z = np.exp(z - z.max(axis=2, keepdims=True))
    return z / z.sum(axis=2, keepdims=True)
""".replace("DOTS", _DOTS)
_AMP = """
def amp_scores(personas, items, temperature=1.0):
    return (persona_attention(personas, items, temperature) * DOTS).sum(axis=2)
""".replace("DOTS", _DOTS)
_NDCG = """
def ndcg_at_k(scores, target, k=10):
    scores = np.asarray(scores, dtype=float)
    mine = scores[np.arange(len(target)), target][:, None]
    greater, ties = (scores > mine).sum(axis=1), (scores == mine).sum(axis=1) - 1
    p = np.arange(1, k + 1)
    inside = (p >= greater[:, None] + 1) & (p <= (greater + ties + 1)[:, None])
    return (inside / np.log2(p + 1)).sum(axis=1) / (ties + 1)
"""
_SHARES = """
def taste_distance(history, recommended, n_categories):
    def shares(cats):
        cats = np.asarray(cats)
        flat = (np.arange(cats.shape[0])[:, None] * n_categories + cats).ravel()
        counts = np.bincount(flat, minlength=cats.shape[0] * n_categories)
        return counts.reshape(cats.shape[0], n_categories) / cats.shape[1]
    return DISTANCE
"""
_TV = "0.5 * np.abs(shares(history) - shares(recommended)).sum(axis=1)"

L04 = {
    "alias": {
        ATTENTION: cell("""
            from course.personas import persona_attention as library_attention, amp_scores as library_scores
            def persona_attention(personas, items, temperature=1.0):   # (not "reference": a test cell binds it)
                return library_attention(personas, items, temperature)
            def amp_scores(personas, items, temperature=1.0):
                return library_scores(personas, items, temperature)
            """),
        NDCG: cell("""
            import course.personas as P2
            def ndcg_at_k(scores, target, k=10):
                return P2.ndcg_at_k(scores, target, k)
            """),
        MATCH: cell("""
            from course.personas import match_personas as library_match
            def match_personas(counts):
                return library_match(counts)
            """),
        TASTE: cell("""
            from course import personas
            def taste_distance(history, recommended, n_categories):
                return personas.taste_distance(history, recommended, n_categories)
            """),
    },
    "library-helpers": {   # the library's own building blocks, or a copy in another module
        ATTENTION: cell("""
            from course.persona_chat import candidate_scores   # the same softmax, over facets
            def persona_attention(personas, items, temperature=1.0):
                if not temperature > 0:
                    raise ValueError("temperature must be positive")
                dots = np.einsum("bkd,md->bkm", personas, items)
                return candidate_scores(dots, np.ones(dots.shape[:2], bool), temperature)["weights"].transpose(0, 2, 1)
            def amp_scores(personas, items, temperature=1.0):
                dots = np.einsum("bkd,md->bkm", personas, items)
                return candidate_scores(dots, np.ones(dots.shape[:2], bool), temperature)["attention"]
            """),
        NDCG: cell("""
            import course.personas as P
            def ndcg_at_k(scores, target, k=10):
                return P._expected_at_k(*P._row_counts(scores, target), k)[0]
            """),
        MATCH: cell("""
            import course.personas as P
            def match_personas(counts):
                return P._best_matching(np.asarray(counts, dtype=float))
            """),
        TASTE: cell("""
            import course.personas as P
            def taste_distance(history, recommended, n_categories):
                return P._tv(np.asarray(history), np.asarray(recommended), n_categories)
            """),
    },
    "guard": {
        ATTENTION: cell(SHADOW_CHECKING, """
            import course.personas
            def persona_attention(personas, items, temperature=1.0):
                if not temperature > 0:
                    raise ValueError("temperature must be positive")
                return course.personas._attention(np.einsum("bkd,md->bmk", personas, items), temperature)
            def amp_scores(personas, items, temperature=1.0):
                return course.personas.amp_scores(personas, items, temperature)
            """),
        NDCG: cell(PATCH_CHECKS, """
            import types
            import course.personas
            def ndcg_at_k(scores, target, k=10):   # the lesson's evaluation, on a stand-in world
                held_out = np.asarray(target)[:, None]
                world = types.SimpleNamespace(clicks=held_out, test=held_out)
                return course.personas.evaluate(np.asarray(scores, dtype=float), world, k)["ndcg"]
            """),
        MATCH: cell("""
            import course.personas
            def match_personas(counts):
                best = course.personas.explanations.__globals__["_best_matching"]
                return best(np.asarray(counts, dtype=float))
            """),
        TASTE: cell("""
            import course.personas
            def taste_distance(history, recommended, n_categories):
                tv = course.personas.summarize.__globals__["_tv"]
                return tv(np.asarray(history), np.asarray(recommended), n_categories)
            """),
    },
    "no-op-helpers": {
        ATTENTION: cell(NO_OP_HELPERS, """
            def persona_attention(personas, items, temperature=1.0):   # the mean persona
                B, K, _ = np.shape(personas)
                return np.full((B, len(items), K), 1 / K)
            def amp_scores(personas, items, temperature=1.0):
                return np.einsum("bkd,md->bm", personas, items) / np.shape(personas)[1]
            """),
        NDCG: cell("""
            def ndcg_at_k(scores, target, k=10):
                return np.zeros(len(target))
            """),
        MATCH: cell("""
            def match_personas(counts):
                return np.tile(np.arange(np.shape(counts)[1]), (len(counts), 1))
            """),
        TASTE: cell("""
            def taste_distance(history, recommended, n_categories):
                return np.zeros(len(history))
            """),
    },
    "overwrite-library": {
        ATTENTION: cell(_ATTENTION.replace("/ temperature", "* temperature"), _AMP, """
            import course.personas   # multiplies by T
            course.personas.persona_attention, course.personas.amp_scores = persona_attention, amp_scores
            """),
        NDCG: cell("""
            import course.personas
            def ndcg_at_k(scores, target, k=10):   # optimistic: a tied target ranks first
                scores = np.asarray(scores, dtype=float)
                greater = (scores > scores[np.arange(len(target)), target][:, None]).sum(axis=1)
                return np.where(greater < k, 1 / np.log2(greater + 2), 0.0)
            course.personas.ndcg_at_k = ndcg_at_k
            """),
        MATCH: cell("""
            import course.personas
            def match_personas(counts):   # greedy: the largest count first
                counts = np.array(counts, dtype=float)
                U, K, _ = counts.shape
                match = np.zeros((U, K), dtype=int)
                for _ in range(K):
                    flat = counts.reshape(U, -1).argmax(axis=1)
                    k, j = flat // K, flat % K
                    match[np.arange(U), k] = j
                    counts[np.arange(U), k, :] = -1
                    counts[np.arange(U), :, j] = -1
                return match
            course.personas.match_personas = course.personas._best_matching = match_personas
            """),
        TASTE: cell(_SHARES.replace("DISTANCE", "0.5 * np.abs(shares(history) * history.shape[1] "
                                                "- shares(recommended) * recommended.shape[1]).sum(axis=1)"), """
            import course.personas   # counts instead of shares
            course.personas.taste_distance = taste_distance
            """),
    },
    "wrong": {
        ATTENTION: cell(_ATTENTION.replace("z - z.max(axis=2, keepdims=True)", "z"), _AMP),   # overflows
        NDCG: cell("""
            def ndcg_at_k(scores, target, k=10):   # argsort ranks: ties broken by position
                order = np.argsort(-np.asarray(scores, dtype=float), axis=1)
                position = np.argmax(order == np.asarray(target)[:, None], axis=1) + 1
                return np.where(position <= k, 1 / np.log2(position + 1), 0.0)
            """),
        MATCH: cell("""
            def match_personas(counts):   # each learned persona's best true one
                return np.asarray(counts).argmax(axis=2)
            """),
        TASTE: cell(_SHARES.replace("DISTANCE", _TV.replace("0.5 * ", ""))),   # no 1/2
    },
    "wrong-2": {
        ATTENTION: cell(_ATTENTION.replace("z.max(axis=2", "z.max(axis=1"), _AMP),   # max over the items
        NDCG: cell(_NDCG.replace("np.arange(1, k + 1)", "np.arange(1, k)")),   # positions below k only
        MATCH: cell("""
            import itertools
            def match_personas(counts):   # learned persona of each true one (the inverse)
                counts = np.asarray(counts, dtype=float)
                K = counts.shape[1]
                perms = np.array(list(itertools.permutations(range(K))))
                total = counts[:, perms, np.arange(K)[None, :]].sum(axis=2)
                return perms[total.argmax(axis=1)]
            """),
        TASTE: cell(_SHARES.replace("DISTANCE", "np.sqrt(((shares(history) - shares(recommended)) ** 2).sum(axis=1))")),
    },
    "wrong-3": {
        ATTENTION: cell(_ATTENTION, _AMP.replace("persona_attention(personas, items, temperature)",
                                                 "persona_attention(personas, items)")),   # T ignored
        NDCG: cell("""
            def ndcg_at_k(scores, target, k=10):   # -inf read as 0
                scores = np.asarray(scores, dtype=float)
                return _ndcg(np.where(np.isinf(scores), 0.0, scores), target, k)
            """, _NDCG.replace("def ndcg_at_k", "def _ndcg")),
        MATCH: cell("""
            import itertools
            def match_personas(counts):   # written for the town's K = 3
                perms = np.array(list(itertools.permutations(range(3))))
                total = np.asarray(counts, dtype=float)[:, np.arange(3)[None, :], perms].sum(axis=2)
                return perms[total.argmax(axis=1)]
            """),
        TASTE: cell("""
            def taste_distance(history, recommended, n_categories):   # bincount without minlength
                def shares(cats):
                    cats = np.asarray(cats)
                    flat = (np.arange(cats.shape[0])[:, None] * n_categories + cats).ravel()
                    return np.bincount(flat).reshape(cats.shape[0], -1) / cats.shape[1]
                return 0.5 * np.abs(shares(history) - shares(recommended)).sum(axis=1)
            """),
    },
    "wrong-4": {
        ATTENTION: cell(_ATTENTION.replace("axis=2", "axis=1"), _AMP),   # softmax over the items
        NDCG: cell("""
            def ndcg_at_k(scores, target, k=10):   # the gain at the mean tied position
                scores = np.asarray(scores, dtype=float)
                mine = scores[np.arange(len(target)), target][:, None]
                greater, ties = (scores > mine).sum(axis=1), (scores == mine).sum(axis=1) - 1
                position = greater + 1 + ties / 2
                return np.where(position <= k, 1 / np.log2(position + 1), 0.0)
            """),
        MATCH: cell("""
            from scipy.optimize import linear_sum_assignment
            def match_personas(counts):   # the Hungarian algorithm, minimizing
                return np.array([linear_sum_assignment(c)[1] for c in np.asarray(counts)])
            """),
        TASTE: cell(_SHARES.replace("/ cats.shape[1]", "/ history.shape[1]").replace("DISTANCE", _TV)),
    },
    "wrong-5": {
        ATTENTION: cell(_ATTENTION.replace("if not temperature > 0", "if temperature == 0"), _AMP),
        NDCG: cell("""
            def ndcg_at_k(scores, target, k=10):   # the cut-off checked for the first tied position only
                scores = np.asarray(scores, dtype=float)
                mine = scores[np.arange(len(target)), target][:, None]
                greater, ties = (scores > mine).sum(axis=1), (scores == mine).sum(axis=1) - 1
                p = np.arange(1, scores.shape[1] + 1)
                inside = (p >= greater[:, None] + 1) & (p <= (greater + ties + 1)[:, None])
                return np.where(greater < k, (inside / np.log2(p + 1)).sum(axis=1) / (ties + 1), 0.0)
            """),
        MATCH: cell("""
            import itertools
            def match_personas(counts):   # shares of each learned persona's clicks, not counts
                counts = np.asarray(counts, dtype=float)
                counts = counts / np.maximum(counts.sum(axis=2, keepdims=True), 1)
                K = counts.shape[1]
                perms = np.array(list(itertools.permutations(range(K))))
                return perms[counts[:, np.arange(K)[None, :], perms].sum(axis=2).argmax(axis=1)]
            """),
        TASTE: cell("""
            def taste_distance(history, recommended, n_categories):   # shares of everyone's items
                def shares(cats):
                    cats = np.asarray(cats)
                    flat = (np.arange(cats.shape[0])[:, None] * n_categories + cats).ravel()
                    counts = np.bincount(flat, minlength=cats.shape[0] * n_categories)
                    return counts.reshape(cats.shape[0], n_categories) / cats.size
                return 0.5 * np.abs(shares(history) - shares(recommended)).sum(axis=1)
            """),
    },
    "hard-coded": {   # the visible tests' answers, whatever the input
        ATTENTION: cell("""
            def persona_attention(personas, items, temperature=1.0):
                if not temperature > 0:
                    raise ValueError("temperature must be positive")
                e = np.exp(2.0 / temperature)
                return np.array([[[e / (e + 1), 1 / (e + 1)], [1 / (e + 1), e / (e + 1)], [0.5, 0.5]]])
            def amp_scores(personas, items, temperature=1.0):
                e = np.exp(2.0 / temperature)
                return np.array([[2 * e / (e + 1), 2 * e / (e + 1), 1.0]])
            """),
        NDCG: cell("""
            def ndcg_at_k(scores, target, k=10):
                seen = {(2, 10): [1.0, 1 / np.log2(5)], (2, 3): [1.0, 0.0], (1, 10): [(1 + 1 / np.log2(3)) / 2]}
                return np.array(seen.get((len(target), k), np.zeros(len(target))))
            """),
        MATCH: cell("""
            def match_personas(counts):
                if np.shape(counts) == (3, 3, 3):
                    return np.array([[1, 0, 2], [1, 0, 2], [1, 2, 0]])
                return np.tile(np.arange(np.shape(counts)[1]), (len(counts), 1))
            """),
        TASTE: cell("""
            def taste_distance(history, recommended, n_categories):
                return np.array([0.0, 1.0, 0.25])[:len(history)] if len(history) == 3 else np.zeros(len(history))
            """),
    },
    "loops": {
        ATTENTION: cell("""
            def persona_attention(personas, items, temperature=1.0):
                if not temperature > 0:
                    raise ValueError("temperature must be positive")
                out = []
                for u in np.asarray(personas, dtype=float):
                    z = (np.asarray(items, dtype=float) @ u.T) / temperature
                    z = np.exp(z - z.max(axis=1, keepdims=True))
                    out.append(z / z.sum(axis=1, keepdims=True))
                return np.array(out)
            """, _AMP),
        NDCG: cell("""
            def ndcg_at_k(scores, target, k=10):
                out = []
                for row, t in zip(np.asarray(scores, dtype=float), target):
                    g, ties = int((row > row[t]).sum()), int((row == row[t]).sum()) - 1
                    out.append(sum(1 / np.log2(p + 1) for p in range(g + 1, min(g + ties + 1, k) + 1)) / (ties + 1))
                return np.array(out)
            """),
        MATCH: cell("""
            from scipy.optimize import linear_sum_assignment
            def match_personas(counts):   # the Hungarian algorithm, user by user
                return np.array([linear_sum_assignment(c, maximize=True)[1] for c in np.asarray(counts)])
            """),
        TASTE: cell("""
            def taste_distance(history, recommended, n_categories):
                return np.array([0.5 * np.abs(np.bincount(h, minlength=n_categories) / len(h)
                                              - np.bincount(r, minlength=n_categories) / len(r)).sum()
                                 for h, r in zip(np.asarray(history), np.asarray(recommended))])
            """),
    },
}


# --- lesson 05 ------------------------------------------------------------------------------

NCRR, RATE, ELOG, SPLIT, EXPLAIN = ("ncrr-solution", "rate-solution", "elog-solution",
                                    "split-solution", "explain-solution")
_NCRR = """
def ncrr(scores, relevant, candidates):
    scores = np.asarray(scores, dtype=float)
    out = np.full(scores.shape[0], np.nan)
    for u in range(scores.shape[0]):
        mine = scores[u, relevant[u]]
        if mine.size == 0:
            continue
        others = scores[u, candidates[u]]
        above = (others[None, :] > mine[:, None]).sum(axis=1)
        tied = (others[None, :] == mine[:, None]).sum(axis=1)
        harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, scores.shape[1] + 1))])
        mean_rr = (harmonic[above + tied] - harmonic[above]) / tied
        out[u] = mean_rr.sum() / harmonic[mine.size]
    return out
"""
_SPLIT = """
def split_click(elog_theta, elog_beta, elog_tau, friend_clicks):
    with np.errstate(divide="ignore"):
        logits = np.concatenate([np.asarray(elog_theta, float) + np.asarray(elog_beta, float),
                                 np.asarray(elog_tau, float) + np.log(np.asarray(friend_clicks, float))])
    phi = np.exp(logits - SHIFT)
    return phi / phi.sum()
"""
_SHARES = """
def explain(tau, clicks, factor_rate, users, items):
    tau, clicks = sp.csr_matrix(tau), sp.csc_matrix(clicks)
    shares = SHARES
    best = shares.argmax(axis=1)
    top = shares[np.arange(len(users)), best]
    return np.where(top > np.asarray(factor_rate, dtype=float), best, -1)
"""
_TIMES = "tau[users].multiply(clicks[:, items].T).toarray()"

L05 = {
    "alias": {
        NCRR: cell("""
            from course.ranking import ncrr as reference
            def ncrr(scores, relevant, candidates):
                return reference(scores, relevant, candidates)
            """),
        RATE: cell("""
            from course import spf as library
            def social_rate(tau, clicks):
                return library.social_rate(tau, clicks)
            """),
        ELOG: cell("""
            import course.social   # re-exports fit_spf, whose module holds the twin
            def expected_log(shape, rate):
                return course.social.fit_spf.__globals__["expected_log"](shape, rate)
            """),
        SPLIT: cell("""
            import course.social
            def split_click(elog_theta, elog_beta, elog_tau, friend_clicks):
                return course.social.Fit.scores.__globals__["split_click"](elog_theta, elog_beta, elog_tau,
                                                                           friend_clicks)
            """),
        EXPLAIN: cell("""
            from course.spf import explain as which_friend
            def explain(tau, clicks, factor_rate, users, items):
                return which_friend(tau, clicks, factor_rate, users, items)
            """),
    },
    "guard": {
        NCRR: cell(SHADOW_CHECKING, """
            import course.social   # re-exports ranking.ncrr
            def ncrr(scores, relevant, candidates):
                return course.social.ncrr(scores, relevant, candidates)
            """),
        RATE: cell(PATCH_CHECKS, """
            import course.spf
            def social_rate(tau, clicks):
                return course.spf.social_rate(tau, clicks)
            """),
        ELOG: cell("""
            import course.spf
            def expected_log(shape, rate):
                return course.spf._gamma_bound.__globals__["expected_log"](shape, rate)
            """),
        SPLIT: cell(SHADOW_CHECKING, """
            import course.spf
            def split_click(elog_theta, elog_beta, elog_tau, friend_clicks):
                return course.spf.split_click(elog_theta, elog_beta, elog_tau, friend_clicks)
            """),
        EXPLAIN: cell(PATCH_CHECKS, """
            import course.spf
            def explain(tau, clicks, factor_rate, users, items):
                return course.spf.explain(tau, clicks, factor_rate, users, items)
            """),
    },
    "no-op-helpers": {
        NCRR: cell(NO_OP_HELPERS, """
            def ncrr(scores, relevant, candidates):
                return np.zeros(len(scores))
            """),
        RATE: cell("""
            def social_rate(tau, clicks):
                return np.zeros((tau.shape[0], clicks.shape[1]))
            """),
        ELOG: cell("""
            def expected_log(shape, rate):
                return np.zeros(np.shape(shape))
            """),
        SPLIT: cell(_SPLIT.replace("np.log(np.asarray(friend_clicks, float))",   # r_vi ignored
                                   "np.where(np.asarray(friend_clicks) > 0, 0.0, -np.inf)")
                    .replace("SHIFT", "logits.max()")),
        EXPLAIN: cell("""
            def explain(tau, clicks, factor_rate, users, items):   # own taste against all friends together
                shares = sp.csr_matrix(tau)[users].multiply(sp.csc_matrix(clicks)[:, items].T).toarray()
                best = shares.argmax(axis=1)
                return np.where(shares.sum(axis=1) > np.asarray(factor_rate, dtype=float), best, -1)
            """),
    },
    "overwrite-library": {
        NCRR: cell(_NCRR.replace("(harmonic[above + tied] - harmonic[above]) / tied",
                                 "1.0 / (above + 1)"), """
            import course.ranking, course.social   # ties broken in the item's favour
            course.ranking.ncrr = course.social.ncrr = ncrr
            """),
        RATE: cell("""
            import course.spf
            def social_rate(tau, clicks):   # tau read by column: who u lifts, not who lifts u
                return (sp.csr_matrix(tau).T @ sp.csr_matrix(clicks)).toarray()
            course.spf.social_rate = social_rate
            """),
        ELOG: cell("""
            import course.spf
            import scipy.special
            exact = scipy.special.digamma
            def fast_digamma(a):   # exact below 3, its asymptotic series' first terms above
                a = np.asarray(a, dtype=float)
                return np.where(a < 3, exact(a), np.log(a) - 0.5 / a)
            scipy.special.digamma = fast_digamma
            def expected_log(shape, rate):
                return fast_digamma(shape) - np.log(rate)
            course.spf.expected_log = expected_log
            """),
        SPLIT: cell(_SPLIT.replace("SHIFT", "0.0"), """
            import course.spf   # no max subtracted: exp(-1000) underflows to 0 / 0
            course.spf.split_click = split_click
            """),
        EXPLAIN: cell("""
            import course.spf
            def explain(tau, clicks, factor_rate, users, items):   # the strongest tie, clicked or not
                T = sp.csr_matrix(tau)[users].toarray()
                best = T.argmax(axis=1)
                return np.where(T.max(axis=1) > np.asarray(factor_rate, dtype=float), best, -1)
            course.spf.explain = explain
            """),
    },
    "wrong": {
        NCRR: cell("""
            def ncrr(scores, relevant, candidates):   # ties broken by item order (a stable argsort)
                scores = np.where(candidates, scores, -np.inf)
                order = np.argsort(-scores, axis=1, kind="stable")
                rank = np.empty_like(order)
                rank[np.arange(len(scores))[:, None], order] = np.arange(1, scores.shape[1] + 1)
                n = relevant.sum(axis=1)
                ideal = np.array([np.sum(1.0 / np.arange(1, k + 1)) for k in n])
                with np.errstate(invalid="ignore", divide="ignore"):
                    return np.where(n > 0, (relevant / rank).sum(axis=1) / ideal, np.nan)
            """),
        RATE: cell("""
            def social_rate(tau, clicks):   # every friend counts 1: the weights are lost
                friends = (sp.csr_matrix(tau) > 0).astype(float)
                return (friends @ sp.csr_matrix(clicks)).toarray()
            """),
        ELOG: cell("""
            def expected_log(shape, rate):   # the log of the mean
                return np.log(np.asarray(shape, dtype=float) / rate)
            """),
        SPLIT: cell("""
            def split_click(elog_theta, elog_beta, elog_tau, friend_clicks):   # the friends dropped
                logits = np.asarray(elog_theta, float) + np.asarray(elog_beta, float)
                phi = np.exp(logits - logits.max())
                return phi / phi.sum()
            """),
        EXPLAIN: cell(_SHARES.replace("SHARES", "tau[users].multiply(clicks[:, items].T > 0).toarray()")),
    },
    "wrong-2": {
        NCRR: cell(_NCRR.replace("out[u] = mean_rr.sum() / harmonic[mine.size]",   # not normalized
                                 "out[u] = mean_rr.sum()")),
        RATE: cell("""
            def social_rate(tau, clicks):   # a dense copy of tau: duplicate entries overwrite each other
                coo = sp.coo_matrix(tau)
                T = np.zeros(coo.shape)
                T[coo.row, coo.col] = coo.data
                return T @ sp.csr_matrix(clicks).toarray()
            """),
        ELOG: cell("""
            def expected_log(shape, rate):   # forgets the rate
                return digamma(np.asarray(shape, dtype=float))
            """),
        SPLIT: cell("""
            def split_click(elog_theta, elog_beta, elog_tau, friend_clicks):   # not normalized
                with np.errstate(divide="ignore"):
                    logits = np.concatenate([np.asarray(elog_theta, float) + np.asarray(elog_beta, float),
                                             np.asarray(elog_tau, float) + np.log(np.asarray(friend_clicks, float))])
                return np.exp(logits - logits.max())
            """),
        EXPLAIN: cell(_SHARES.replace("SHARES", _TIMES).replace("top >", "top >=")),   # ties go to a friend
    },
    "wrong-3": {
        NCRR: cell(_NCRR.replace("np.full(scores.shape[0], np.nan)", "np.zeros(scores.shape[0])")),  # 0, not NaN
        RATE: cell("""
            def social_rate(tau, clicks):   # .todense() gives np.matrix, not an array
                return (sp.csr_matrix(tau) @ sp.csr_matrix(clicks)).todense()
            """),
        ELOG: cell("""
            def expected_log(shape, rate):   # the reference code: one log-rate per column
                rate = np.asarray(rate, dtype=float)
                return digamma(np.asarray(shape, dtype=float)) - np.log(rate[0])
            """),
        SPLIT: cell("""
            def split_click(elog_theta, elog_beta, elog_tau, friend_clicks):   # subtracts the mean log-weight
                with np.errstate(divide="ignore"):
                    logits = np.concatenate([np.asarray(elog_theta, float) + np.asarray(elog_beta, float),
                                             np.asarray(elog_tau, float) + np.log(np.asarray(friend_clicks, float))])
                phi = np.exp(logits - logits[np.isfinite(logits)].mean())
                return phi / phi.sum()
            """),
        EXPLAIN: cell(_SHARES.replace("SHARES", "tau.T[users].multiply(clicks[:, items].T).toarray()")),  # tau by column
    },
    "dense-and-late": {   # issue 22: right on every small input
        RATE: cell("""
            def social_rate(tau, clicks):   # a dense (U, U) product, against "one sparse product"
                return sp.csr_matrix(tau).toarray() @ sp.csr_matrix(clicks).toarray()
            """),
        SPLIT: cell("""
            def split_click(elog_theta, elog_beta, elog_tau, friend_clicks):   # r multiplied in after np.exp
                logits = np.concatenate([np.asarray(elog_theta, float) + np.asarray(elog_beta, float),
                                         np.asarray(elog_tau, float)])
                r = np.concatenate([np.ones(len(elog_theta)), np.asarray(friend_clicks, float)])
                phi = r * np.exp(logits - logits.max())
                return phi / phi.sum()
            """),
    },
    "loops": {
        NCRR: cell(_NCRR.replace("others = scores[u, candidates[u]]", "others = scores[u]")),   # candidates ignored
        RATE: cell("""
            def social_rate(tau, clicks):   # a loop over users
                T, C = sp.csr_matrix(tau).toarray(), sp.csr_matrix(clicks).toarray()
                return np.array([T[u] @ C for u in range(T.shape[0])])
            """),
        ELOG: cell("""
            def expected_log(shape, rate):   # rate read as a scale
                return digamma(np.asarray(shape, dtype=float)) + np.log(rate)
            """),
        SPLIT: cell(_SPLIT.replace("np.log(np.asarray(friend_clicks, float))",   # friends who did not click keep a little
                                   "np.log(np.asarray(friend_clicks, float) + 1e-10)")
                    .replace("SHIFT", "logits.max()")),
        EXPLAIN: cell("""
            def explain(tau, clicks, factor_rate, users, items):   # a loop, ties broken by argsort
                tau, clicks = sp.csr_matrix(tau).toarray(), sp.csr_matrix(clicks).toarray()
                out = []
                for u, i, own in zip(users, items, factor_rate):
                    shares = tau[u] * clicks[:, i]
                    best = np.argsort(shares)[-1]
                    out.append(best if shares[best] > own else -1)
                return np.array(out)
            """),
    },
}


# --- lesson 06 ------------------------------------------------------------------------------

SYCOPHANCY, FIT, SERVE, POLARIZATION, HOMOGENIZATION = (
    "sycophancy-solution", "fit-solution", "serve-solution", "polarization-solution",
    "homogenization-solution")
_SYCOPHANCY = """
def sycophancy_rate(side, belief, truth):
    side, belief, truth = np.asarray(side), np.asarray(belief, dtype=float), np.asarray(truth)
    stance = np.sign(belief)
    wrong = WRONG
    if not wrong.any():
        return float("nan")
    return RESULT
"""
_NEWTON = """
def fit_user_weights(X, y, l2=1.0, n_steps=10):
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    U, _, F = X.shape
    w = np.zeros((U, F))
    Xt = X.transpose(0, 2, 1)
    for _ in range(STEPS):
        p = 1 / (1 + np.exp(-(X @ w[:, :, None])[..., 0]))
        grad = (Xt @ (y - p)[:, :, None])[..., 0] - l2 * w
        hess = (Xt * (p * (1 - p))[:, None, :]) @ X + RIDGE * np.eye(F)
        w = w + np.linalg.solve(hess, grad[:, :, None])[..., 0]
    return w
"""
_SERVE = """
def serve(features, w_personal, w_aggregate, lam, explore, random_pick):
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    features = np.asarray(features, dtype=float)
    personal = np.einsum("ukf,uf->uk", features, np.asarray(w_personal, dtype=float))
    aggregate = features @ np.asarray(w_aggregate, dtype=float)
    return RESULT
"""
_POLARIZATION = """
def polarization(belief, community):
    belief, community = np.asarray(belief, dtype=float), np.asarray(community)
    labels = np.unique(community)
    if labels.size < 2:
        return 0.0
    means = np.stack([belief[community == c].mean(axis=0) for c in labels])
    diff = means[:, None, :] - means[None, :, :]
    return RESULT
"""
_JACCARD = """
def homogenization(sets, ideal_sets, pairs):
    pairs = np.asarray(pairs)

    def jaccard(s):
        s = np.asarray(s, dtype=bool)
        a, b = s[pairs[:, 0]], s[pairs[:, 1]]
        inter, union = (a & b).sum(axis=1), (a | b).sum(axis=1)
        return np.where(union > 0, inter / np.maximum(union, 1), 0.0)

    return RESULT
"""

L06 = {
    "alias": {
        SYCOPHANCY: cell("""
            from course.echo import sycophancy_rate as reference
            def sycophancy_rate(side, belief, truth):
                return reference(side, belief, truth)
            """),
        FIT: cell("""
            import course.echo as E2
            def fit_user_weights(X, y, l2=1.0, n_steps=10):
                return E2.fit_user_weights(X, y, l2, n_steps)
            """),
        SERVE: cell("""
            from course.echo import serve as reference
            def serve(features, w_personal, w_aggregate, lam, explore, random_pick):
                return reference(features, w_personal, w_aggregate, lam, explore, random_pick)
            """),
        POLARIZATION: cell("""
            import course.echo
            def polarization(belief, community):
                return course.echo.polarization(belief, community)
            """),
        HOMOGENIZATION: cell("""
            from course.echo import pair_jaccard   # the twin's helper, by its own name
            def homogenization(sets, ideal_sets, pairs):
                return float(pair_jaccard(sets, pairs).mean() - pair_jaccard(ideal_sets, pairs).mean())
            """),
    },
    "guard": {
        SYCOPHANCY: cell(SHADOW_CHECKING, """
            import course.echo
            def sycophancy_rate(side, belief, truth):
                return course.echo._record.__globals__["sycophancy_rate"](side, belief, truth)
            """),
        FIT: cell("""
            import course.echo
            def fit_user_weights(X, y, l2=1.0, n_steps=10):   # the twin's Newton engine
                X = np.asarray(X, dtype=float)
                U, _, F = X.shape
                zeros = np.zeros((U, F))
                return course.echo.newton(X, y, zeros, l2 * np.eye(F), zeros, n_steps)[0]
            """),
        SERVE: cell(PATCH_CHECKS, """
            import course.echo
            def serve(features, w_personal, w_aggregate, lam, explore, random_pick):
                return course.echo.run_loop.__globals__["serve"](features, w_personal, w_aggregate,
                                                                 lam, explore, random_pick)
            """),
        POLARIZATION: cell("""
            import course.echo
            def polarization(belief, community):
                return course.echo.compare.__globals__["polarization"](belief, community)
            """),
        HOMOGENIZATION: cell("""
            import course.echo
            def homogenization(sets, ideal_sets, pairs):
                return course.echo.compare.__globals__["homogenization"](sets, ideal_sets, pairs)
            """),
    },
    "no-op-helpers": {
        SYCOPHANCY: cell(NO_OP_HELPERS, """
            def sycophancy_rate(side, belief, truth):
                return 0.0
            """),
        FIT: cell("""
            def fit_user_weights(X, y, l2=1.0, n_steps=10):
                return np.zeros((len(X), np.shape(X)[2]))
            """),
        SERVE: cell("""
            def serve(features, w_personal, w_aggregate, lam, explore, random_pick):
                return np.zeros(len(features), dtype=int)
            """),
        POLARIZATION: cell("""
            def polarization(belief, community):
                return 0.0
            """),
        HOMOGENIZATION: cell("""
            def homogenization(sets, ideal_sets, pairs):
                return 0.0
            """),
    },
    "overwrite-library": {
        SYCOPHANCY: cell(_SYCOPHANCY.replace("WRONG", "stance == -truth")   # opinion questions too
                         .replace("RESULT", "float((side[wrong] == stance[wrong]).mean())"), """
            import course.echo
            course.echo.sycophancy_rate = sycophancy_rate
            """),
        FIT: cell(_NEWTON.replace("STEPS", "1").replace("RIDGE", "l2"), """
            import course.echo
            course.echo.fit_user_weights = fit_user_weights
            """),   # one Newton step, whatever n_steps
        SERVE: cell(_SERVE.replace("RESULT", "np.where(explore, random_pick, np.argsort(-(lam * personal + "
                                             "(1 - lam) * aggregate), axis=1)[:, 0])"), """
            import course.echo
            course.echo.serve = serve
            """),   # an unstable sort: ties not at the lowest index
        POLARIZATION: cell("""
            import course.echo
            def polarization(belief, community):   # the spread of all users, not of communities
                return float(np.sqrt(np.asarray(belief, dtype=float).var(axis=0).mean()))
            course.echo.polarization = polarization
            """),
        HOMOGENIZATION: cell(_JACCARD.replace("RESULT", "float(jaccard(sets).mean())"), """
            import course.echo
            course.echo.homogenization = homogenization
            """),   # no ideal baseline
    },
    "wrong": {
        SYCOPHANCY: cell(_SYCOPHANCY.replace("WRONG", "(truth != 0) & (stance == -truth)")   # divides by
                         .replace("RESULT", "float((side[wrong] == stance[wrong]).sum() / side.size)")),  # all items
        FIT: cell("""
            def fit_user_weights(X, y, l2=1.0, n_steps=10):   # one model for everyone (the aggregate)
                X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
                U, n, F = X.shape
                Xa, ya, w = X.reshape(U * n, F), y.reshape(-1), np.zeros(F)
                for _ in range(n_steps):
                    p = 1 / (1 + np.exp(-Xa @ w))
                    w = w + np.linalg.solve((Xa.T * (p * (1 - p))) @ Xa + l2 * np.eye(F),
                                            Xa.T @ (ya - p) - l2 * w)
                return np.tile(w, (U, 1))
            """),
        SERVE: cell(_SERVE.replace("RESULT", "np.where(explore, random_pick, "
                                             "((1 - lam) * personal + lam * aggregate).argmax(axis=1))")),
        POLARIZATION: cell("""
            def polarization(belief, community):   # communities 0..max, empty ones as zero vectors
                belief, community = np.asarray(belief, dtype=float), np.asarray(community)
                C = community.max() + 1
                if np.unique(community).size < 2:
                    return 0.0
                counts = np.bincount(community, minlength=C)
                sums = np.zeros((C, belief.shape[1]))
                np.add.at(sums, community, belief)
                means = sums / np.maximum(counts, 1)[:, None]
                i, j = np.triu_indices(C, k=1)
                return float(np.sqrt(((means[i] - means[j]) ** 2).mean(axis=1)).mean())
            """),
        HOMOGENIZATION: cell(_JACCARD.replace("RESULT", "float(jaccard(sets).mean() - jaccard(ideal_sets).mean())")
                             .replace("pairs = np.asarray(pairs)",   # each pair once
                                      "pairs = np.unique(np.sort(np.asarray(pairs), axis=1), axis=0)")),
    },
    "wrong-2": {
        SYCOPHANCY: cell(_SYCOPHANCY.replace("WRONG", "(truth != 0)")   # users whose belief is right too
                         .replace("RESULT", "float((side[wrong] == stance[wrong]).mean())")),
        FIT: cell(_NEWTON.replace("STEPS", "n_steps").replace("RIDGE", "0.0")),   # ridge left out of the Hessian
        SERVE: cell(_SERVE.replace("RESULT", "(lam * personal + (1 - lam) * aggregate).argmax(axis=1)")),  # no exploring
        POLARIZATION: cell(_POLARIZATION.replace("RESULT",   # mean over the whole matrix, diagonal included
                                                 "float(np.sqrt((diff ** 2).mean(axis=2)).mean())")),
        HOMOGENIZATION: cell("""
            def homogenization(sets, ideal_sets, pairs):   # pooled over pairs, not a mean of ratios
                pairs = np.asarray(pairs)
                def pooled(s):
                    a, b = np.asarray(s)[pairs[:, 0]], np.asarray(s)[pairs[:, 1]]
                    return (a & b).sum() / max((a | b).sum(), 1)
                return float(pooled(sets) - pooled(ideal_sets))
            """),
    },
    "wrong-3": {
        SYCOPHANCY: cell(_SYCOPHANCY.replace("WRONG", "(truth != 0) & (stance != truth)")   # belief 0 as wrong
                         .replace("RESULT", "float((side[wrong] == stance[wrong]).mean())")),
        FIT: cell(_NEWTON.replace("STEPS", "n_steps").replace("RIDGE", "l2")
                  .replace("- l2 * w", "")),   # the ridge only in the Hessian
        SERVE: cell(_SERVE.replace("RESULT", "random_pick if np.any(explore) else "   # everyone explores
                                             "(lam * personal + (1 - lam) * aggregate).argmax(axis=1)")),
        POLARIZATION: cell(_POLARIZATION.replace("RESULT",   # Euclidean distance, not RMS over questions
                                                 "float(np.sqrt((diff ** 2).sum(axis=2))[np.triu_indices(len(labels), 1)].mean())")),
        HOMOGENIZATION: cell(_JACCARD.replace("RESULT", "float(jaccard(sets)[keep].mean() - jaccard(ideal_sets)[keep].mean())")
                             .replace("pairs = np.asarray(pairs)",   # drops a user paired with themself
                                      "pairs = np.asarray(pairs)\n    keep = pairs[:, 0] != pairs[:, 1]")),
    },
    "steps-and-in-place": {   # issue 22: right on every input the old tests tried
        FIT: cell(_NEWTON.replace("STEPS", "10").replace("RIDGE", "l2")),   # always 10 Newton steps
        POLARIZATION: cell(_POLARIZATION.replace(   # centres the caller's array in place
            "belief, community = np.asarray(belief, dtype=float), np.asarray(community)",
            "belief, community = np.asarray(belief, dtype=float), np.asarray(community)\n"
            "    belief -= belief.mean(axis=0)").replace(
            "RESULT", "float(np.sqrt((diff ** 2).mean(axis=2))[np.triu_indices(len(labels), 1)].mean())")),
    },
    "mean-absolute": {
        POLARIZATION: cell(_POLARIZATION.replace("RESULT",   # mean absolute difference, not RMS over questions
                                                 "float(np.abs(diff).mean(axis=2)[np.triu_indices(len(labels), 1)].mean())")),
    },
    "loops": {
        SYCOPHANCY: cell("""
            def sycophancy_rate(side, belief, truth):   # right, one item at a time
                wrong = flattered = 0
                for s, b, t in zip(side, belief, truth):
                    if t != 0 and np.sign(b) == -t:
                        wrong += 1
                        flattered += s == np.sign(b)
                return float(flattered / wrong) if wrong else float("nan")
            """),
        FIT: cell("""
            def fit_user_weights(X, y, l2=1.0, n_steps=10):   # Newton, one user at a time
                X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
                W = np.zeros((X.shape[0], X.shape[2]))
                for u in range(len(X)):
                    w = W[u]
                    for _ in range(n_steps):
                        p = 1 / (1 + np.exp(-X[u] @ w))
                        w = w + np.linalg.solve((X[u].T * (p * (1 - p))) @ X[u] + l2 * np.eye(len(w)),
                                                X[u].T @ (y[u] - p) - l2 * w)
                    W[u] = w
                return W
            """),
        SERVE: cell("""
            def serve(features, w_personal, w_aggregate, lam, explore, random_pick):   # one user at a time
                if not 0.0 <= lam <= 1.0:
                    raise ValueError(f"lam must be in [0, 1], got {lam}")
                out = np.empty(len(features), dtype=int)
                for u, f in enumerate(np.asarray(features, dtype=float)):
                    reward = f @ (lam * np.asarray(w_personal[u]) + (1 - lam) * np.asarray(w_aggregate))
                    out[u] = random_pick[u] if explore[u] else reward.argmax()
                return out
            """),
        POLARIZATION: cell("""
            def polarization(belief, community):   # community sums, one user at a time
                belief, community = np.asarray(belief, dtype=float), np.asarray(community)
                sums, counts = {}, {}
                for b, c in zip(belief, community):
                    sums[c] = sums.get(c, 0) + b
                    counts[c] = counts.get(c, 0) + 1
                means = [sums[c] / counts[c] for c in sorted(sums)]
                if len(means) < 2:
                    return 0.0
                return float(np.mean([np.sqrt(((means[i] - means[j]) ** 2).mean())
                                      for i in range(len(means)) for j in range(i + 1, len(means))]))
            """),
        HOMOGENIZATION: cell("""
            def homogenization(sets, ideal_sets, pairs):   # one pair at a time
                def jaccard(s):
                    out = []
                    for a, b in pairs:
                        union = (s[a] | s[b]).sum()
                        out.append((s[a] & s[b]).sum() / union if union else 0.0)
                    return np.mean(out)
                return float(jaccard(np.asarray(sets, dtype=bool)) - jaccard(np.asarray(ideal_sets, dtype=bool)))
            """),
    },
    "hard-coded": {
        SYCOPHANCY: cell("""
            def sycophancy_rate(side, belief, truth):   # the visible answers
                return 1 / 3 if len(side) == 6 else float("nan")
            """),
        FIT: cell("""
            from sklearn.linear_model import LogisticRegression
            def fit_user_weights(X, y, l2=1.0, n_steps=10):   # scikit-learn, one user at a time
                return np.array([LogisticRegression(C=1 / l2, fit_intercept=False, tol=1e-10).fit(Xu, yu).coef_[0]
                                 for Xu, yu in zip(X, y)])
            """),
        SERVE: cell("""
            def serve(features, w_personal, w_aggregate, lam, explore, random_pick):   # the visible answers
                if not 0.0 <= lam <= 1.0:
                    raise ValueError(f"lam must be in [0, 1], got {lam}")
                return np.where(explore, random_pick, [0, 0] if lam >= 0.5 else [1, 0])
            """),
        POLARIZATION: cell("""
            def polarization(belief, community):   # the worked example's answer
                if np.unique(community).size < 2:
                    return 0.0
                return float(np.mean([np.sqrt((1.8 ** 2 + 0.5 ** 2) / 2), np.sqrt((0.6 ** 2 + 0.1 ** 2) / 2),
                                      np.sqrt((1.2 ** 2 + 0.4 ** 2) / 2)]))
            """),
        HOMOGENIZATION: cell("""
            def homogenization(sets, ideal_sets, pairs):   # the worked example's answer
                return (1 / 3 + 0) / 2 - 1.0
            """),
    },
}

# --- lesson 07 ------------------------------------------------------------------------------

LOSS, WEIGHT, BINS, GUARD = "score-solution", "weight-solution", "bins-solution", "guard-solution"

_LOSS = """
def log_loss_by_kind(p, y, kind, n_kinds=4):
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    y = np.asarray(y, dtype=float)
    loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    total = np.bincount(kind, weights=loss, minlength=n_kinds)
    count = np.bincount(kind, minlength=n_kinds)
    return np.where(count > 0, total / np.maximum(count, 1), EMPTY)
"""
#: a correct best weight, for wrong answers of Exercise 3 that are wrong elsewhere
_BEST = """
def _best(pp, p0, y, grid):
    grid, pp, p0, y = (np.asarray(a, dtype=float) for a in (grid, pp, p0, y))
    q = np.clip(p0[None] + grid[:, None] * (pp - p0)[None], 1e-7, 1 - 1e-7)
    loss = -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=1)
    return float(grid[loss == loss.min()].min())
"""
_BINS = _BEST + """
def weights_by_bin(score, edges, p_profile, p_prior, y, grid):
    where = np.digitize(np.asarray(score, dtype=float), edges, right=RIGHT)
    pp, p0, y = (np.asarray(a, dtype=float) for a in (p_profile, p_prior, y))
    out = np.full(len(edges) + 1, EMPTY)
    for b in range(len(edges) + 1):
        rows = where == b
        if rows.any():
            out[b] = _best(pp[rows], p0[rows], y[rows], grid)
    return out
"""
#: best_weight with the mixture and the clipping as parameters
_WEIGHT = """
def best_weight(p_profile, p_prior, y, grid):
    grid, pp, p0, y = (np.asarray(a, dtype=float) for a in (grid, p_profile, p_prior, y))
    q = np.clip(MIX, EPS, 1 - EPS)
    loss = -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=1)
    return float(grid[loss == loss.min()].min())
"""
_MIX = "p0[None] + grid[:, None] * (pp - p0)[None]"
#: weights_by_bin with the first and last bins written out
_MASKS = _BEST + """
def weights_by_bin(score, edges, p_profile, p_prior, y, grid):
    score, edges = np.asarray(score, dtype=float), np.asarray(edges, dtype=float)
    pp, p0, y = (np.asarray(a, dtype=float) for a in (p_profile, p_prior, y))
    out = np.full(len(edges) + 1, np.nan)
    for b in range(len(edges) + 1):
        if b == 0:
            rows = FIRST
        elif b == len(edges):
            rows = LAST
        else:
            rows = (score >= edges[b - 1]) & (score < edges[b])
        if rows.any():
            out[b] = _best(pp[rows], p0[rows], y[rows], grid)
    return out
"""
#: a guard learned on validation that ignores the evidence: the best constant weight
_CONSTANT = _BEST + """
def make_guard(validation):
    e = validation.evidence
    w = _best(e.p_profile, e.p_prior, validation.y, np.linspace(0, 1, 101))
    return lambda evidence: np.full(len(evidence), w)
"""

#: issue 21: a guard that looked for the unseen worlds' outcomes in the kernel's memory (through
#: ``gc``, or up the stack to the hidden test's ``requests``) earned full marks and topped the
#: leaderboard while test cells ran in the kernel; the judge keeps them out of it, so this guard
#: finds nothing and falls back to a fixed hedge, which fails
HUNTS_OUTCOMES = """
def make_guard(validation):
    import gc
    import sys

    def outcomes(evidence):
        stack, frame = [], sys._getframe(1)
        while frame is not None:
            stack.append(frame.f_locals.get("requests"))
            frame = frame.f_back
        for found in stack + gc.get_objects():
            try:
                if np.array_equal(found.evidence.identity, evidence.identity):
                    return np.asarray(found.y)
            except Exception:
                continue
        return None

    def guard(evidence):
        y = outcomes(evidence)
        if y is None:
            return 0.9   # nothing found: a fixed hedge
        return np.where((np.asarray(evidence.p_profile) > 0.5) == (y == 1), 1.0, 0.0)
    return guard
"""

L07 = {
    "alias": {
        LOSS: cell("""
            from course.capstone import log_loss_by_kind as reference
            def log_loss_by_kind(p, y, kind, n_kinds=4):
                return reference(p, y, kind, n_kinds)
            """),
        WEIGHT: cell("""
            import course.capstone
            def best_weight(p_profile, p_prior, y, grid):
                return course.capstone.verdict.__globals__["best_weight"](p_profile, p_prior, y, grid)
            """),
        BINS: cell("""
            import course.capstone
            weights_by_bin = course.capstone.__dict__["weights_by_bin"]
            """),
        GUARD: cell("""
            from course import capstone as C
            def make_guard(validation):   # the library's version of the lesson's guard
                return C.binned_guard(validation)
            """),
    },
    "guard": {
        LOSS: cell(SHADOW_CHECKING, """
            import course.capstone
            def log_loss_by_kind(p, y, kind, n_kinds=4):
                return course.capstone.log_loss_by_kind(p, y, kind, n_kinds)
            """),
        WEIGHT: cell(PATCH_CHECKS, """
            import course.capstone
            def best_weight(p_profile, p_prior, y, grid):
                return course.capstone.best_weight(p_profile, p_prior, y, grid)
            """),
        BINS: cell("""
            from course import capstone
            def weights_by_bin(score, edges, p_profile, p_prior, y, grid):
                return capstone.weights_by_bin(score, edges, p_profile, p_prior, y, grid)
            """),
        GUARD: cell(SHADOW_CHECKING, """
            from course import capstone as C
            def make_guard(validation):   # the library's best guard
                return C.fit_reference_guard(validation)
            """),
    },
    "no-op-helpers": {
        LOSS: cell(NO_OP_HELPERS, """
            def log_loss_by_kind(p, y, kind, n_kinds=4):
                return np.zeros(n_kinds)
            """),
        WEIGHT: cell("""
            def best_weight(p_profile, p_prior, y, grid):
                return 1.0
            """),
        BINS: cell("""
            def weights_by_bin(score, edges, p_profile, p_prior, y, grid):
                return np.ones(len(edges) + 1)
            """),
        GUARD: cell("""
            def make_guard(validation):   # trust every profile
                return lambda evidence: 1.0
            """),
    },
    "overwrite-library": {
        LOSS: cell(_LOSS.replace("EPS", "0").replace("EMPTY", "np.nan"), """
            import course.capstone
            course.capstone.log_loss_by_kind = log_loss_by_kind   # no clipping: log(0)
            """),
        WEIGHT: cell("""
            import course.capstone
            def best_weight(p_profile, p_prior, y, grid):   # the first of tied weights in grid order
                grid, pp, p0, y = (np.asarray(a, dtype=float) for a in (grid, p_profile, p_prior, y))
                q = np.clip(p0[None] + grid[:, None] * (pp - p0)[None], 1e-7, 1 - 1e-7)
                return float(grid[np.argmin(-(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=1))])
            course.capstone.best_weight = best_weight
            """),
        BINS: cell(_BINS.replace("RIGHT", "True").replace("EMPTY", "np.nan"), """
            import course.capstone
            course.capstone.weights_by_bin = weights_by_bin   # a score on an edge in the bin below
            """),
        GUARD: cell(_CONSTANT, """
            from course import capstone as C
            C.binned_guard = make_guard        # the library's guard replaced by a blind one
            make_guard = lambda validation: C.binned_guard(validation)
            """),
    },
    "wrong": {
        LOSS: cell(_LOSS.replace("EPS", "1e-7").replace("EMPTY", "0.0")),   # 0 for a kind without requests
        WEIGHT: cell("""
            def best_weight(p_profile, p_prior, y, grid):   # no clipping: log(0) on sure, wrong requests
                grid, pp, p0, y = (np.asarray(a, dtype=float) for a in (grid, p_profile, p_prior, y))
                q = p0[None] + grid[:, None] * (pp - p0)[None]
                with np.errstate(divide="ignore", invalid="ignore"):
                    loss = -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=1)
                return float(grid[loss == np.nanmin(loss)].min())
            """),
        BINS: cell(_BINS.replace("RIGHT", "False").replace("EMPTY", "0.0")),   # 0 for an empty bin
        GUARD: cell("""
            def make_guard(validation):   # lesson 03's identity check: all or nothing
                return lambda evidence: (evidence.identity >= 0).astype(float)
            """),
    },
    "wrong-2": {
        LOSS: cell("""
            def log_loss_by_kind(p, y, kind, n_kinds=4):   # only the kinds that occur
                p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
                loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
                return np.array([loss[kind == k].mean() if (kind == k).any() else np.nan
                                 for k in np.unique(kind)])
            """),
        WEIGHT: cell("""
            def best_weight(p_profile, p_prior, y, grid):   # accuracy, not log-loss
                grid, pp, p0, y = (np.asarray(a, dtype=float) for a in (grid, p_profile, p_prior, y))
                q = p0[None] + grid[:, None] * (pp - p0)[None]
                errors = ((q > 0.5) != (y == 1)).mean(axis=1)
                return float(grid[errors == errors.min()].min())
            """),
        BINS: cell(_BINS.replace("RIGHT", "False").replace("EMPTY", "np.nan"), """
            _all_bins = weights_by_bin
            def weights_by_bin(score, edges, p_profile, p_prior, y, grid):   # empty bins dropped
                w = _all_bins(score, edges, p_profile, p_prior, y, grid)
                return w[~np.isnan(w)]
            """),
        GUARD: cell("""
            def make_guard(validation):   # lesson 03's plain certainty rule
                return lambda evidence: (evidence.certainty >= 80).astype(float)
            """),
    },
    "wrong-3": {
        LOSS: cell(_LOSS.replace("EPS", "1e-15").replace("EMPTY", "np.nan")),   # clipped elsewhere
        WEIGHT: cell("""
            def best_weight(p_profile, p_prior, y, grid):   # position in the sorted grid, losses unsorted
                grid, pp, p0, y = (np.asarray(a, dtype=float) for a in (grid, p_profile, p_prior, y))
                q = np.clip(p0[None] + grid[:, None] * (pp - p0)[None], 1e-7, 1 - 1e-7)
                loss = -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=1)
                return float(np.sort(grid)[np.flatnonzero(loss == loss.min())[0]])
            """),
        BINS: cell(_BEST, """
            def weights_by_bin(score, edges, p_profile, p_prior, y, grid):   # first of tied weights
                where = np.digitize(np.asarray(score, dtype=float), edges)
                pp, p0, y, grid = (np.asarray(a, dtype=float) for a in (p_profile, p_prior, y, grid))
                out = np.full(len(edges) + 1, np.nan)
                for b in np.unique(where):
                    rows = where == b
                    q = np.clip(p0[rows][None] + grid[:, None] * (pp[rows] - p0[rows])[None], 1e-7, 1 - 1e-7)
                    out[b] = grid[np.argmin(-(y[rows] * np.log(q) + (1 - y[rows]) * np.log(1 - q)).mean(axis=1))]
                return out
            """),
        GUARD: cell("""
            def make_guard(validation):   # never personalize
                return lambda evidence: 0.0
            """),
    },
    "blind": {
        LOSS: cell("""
            def log_loss_by_kind(p, y, kind, n_kinds=4):   # the overall mean for every kind present
                p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
                loss = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
                return np.where(np.bincount(kind, minlength=n_kinds) > 0, loss, np.nan)
            """),
        WEIGHT: cell("""
            def best_weight(p_profile, p_prior, y, grid):   # the weight on the prior, not the profile
                grid, pp, p0, y = (np.asarray(a, dtype=float) for a in (grid, p_profile, p_prior, y))
                q = np.clip(pp[None] + grid[:, None] * (p0 - pp)[None], 1e-7, 1 - 1e-7)
                loss = -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=1)
                return float(grid[loss == loss.min()].min())
            """),
        BINS: cell(_BEST, """
            def weights_by_bin(score, edges, p_profile, p_prior, y, grid):   # one weight for all bins
                where = np.digitize(np.asarray(score, dtype=float), edges)
                filled = np.bincount(where, minlength=len(edges) + 1) > 0
                return np.where(filled, _best(p_profile, p_prior, y, grid), np.nan)
            """),
        GUARD: cell(_CONSTANT),   # hedges every request alike
    },
    "edges-and-clipping": {   # issue 22: right wherever no informative request sits on an edge
        WEIGHT: cell(_WEIGHT.replace("MIX", _MIX).replace("EPS", "1e-15")),   # clipped tighter than the text
        BINS: cell(_MASKS.replace("FIRST", "score < edges[0]")   # a score on the last edge in no bin
                   .replace("LAST", "score > edges[-1]")),
        GUARD: cell(HUNTS_OUTCOMES),
    },
    "edges-and-mixture": {
        WEIGHT: cell(_WEIGHT.replace("MIX", "grid[:, None] * pp[None] + (1 - grid[:, None]) * p0[None]")
                     .replace("EPS", "1e-7")),   # not exactly p_prior where the profile changes nothing
        BINS: cell(_MASKS.replace("FIRST", "score <= edges[0]")   # scores on the first edge counted twice
                   .replace("LAST", "score >= edges[-1]")),
        GUARD: cell(_CONSTANT),   # the best constant weight, learned on validation: blind
    },
    "loops": {
        LOSS: cell("""
            def log_loss_by_kind(p, y, kind, n_kinds=4):
                total, count = np.zeros(n_kinds), np.zeros(n_kinds)
                for pi, yi, ki in zip(np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7), y, kind):
                    total[ki] += -(yi * np.log(pi) + (1 - yi) * np.log(1 - pi))
                    count[ki] += 1
                return np.where(count > 0, total / np.maximum(count, 1), np.nan)
            """),
        WEIGHT: cell("""
            def best_weight(p_profile, p_prior, y, grid):
                grid = np.asarray(grid, dtype=float)
                loss = np.zeros(len(grid))
                for pp, p0, yi in zip(p_profile, p_prior, y):
                    q = np.clip(p0 + grid * (pp - p0), 1e-7, 1 - 1e-7)
                    loss += -(yi * np.log(q) + (1 - yi) * np.log(1 - q))
                return float(grid[loss == loss.min()].min())
            """),
        BINS: cell(_BEST, """
            def weights_by_bin(score, edges, p_profile, p_prior, y, grid):
                members = [[] for _ in range(len(edges) + 1)]
                for i, s in enumerate(np.asarray(score, dtype=float)):
                    members[int(np.sum(s >= np.asarray(edges)))].append(i)
                pp, p0, y = (np.asarray(a, dtype=float) for a in (p_profile, p_prior, y))
                return np.array([_best(pp[m], p0[m], y[m], grid) if m else np.nan for m in members])
            """),
        GUARD: cell("""
            from course import capstone as C
            def make_guard(validation):   # peeks at the kinds of the requests it is shown, when it finds them
                def guard(evidence):
                    for value in list(globals().values()):
                        for r in (value, getattr(value, "test", None), getattr(value, "validation", None)):
                            if isinstance(r, C.Requests) and (r.evidence is evidence or (
                                    len(r) == len(evidence) and np.array_equal(r.evidence.p_profile, evidence.p_profile))):
                                return (r.kind == 0).astype(float)
                    return 1.0
                return guard
            """),
    },
    "hard-coded": {
        LOSS: cell("""
            def log_loss_by_kind(p, y, kind, n_kinds=4):   # the visible example's answer
                return np.array([-(np.log(0.9) + np.log(0.2)) / 2, np.nan, -(np.log(0.5) + np.log(0.3)) / 2, np.nan])
            """),
        WEIGHT: cell("""
            def best_weight(p_profile, p_prior, y, grid):   # the visible examples' answers
                if len(y) == 2:
                    return 1.0 if np.all(np.asarray(y) == 1) else 0.0
                return float(np.min(grid))
            """),
        BINS: cell("""
            def weights_by_bin(score, edges, p_profile, p_prior, y, grid):   # the visible example's answer
                out = np.ones(len(edges) + 1)
                out[0], out[2:-1] = 0.0, np.nan
                return out
            """),
        GUARD: cell("""
            def make_guard(validation):   # the identity score as a weight, unclipped
                return lambda evidence: 1.0 + np.asarray(evidence.identity)
            """),
    },
}

WRONG = {"00_orientation": L00, "01_profiles": L01, "02_near_miss": L02, "03_abstention": L03,
         "04_personas": L04, "05_social": L05, "06_echo_chambers": L06, "07_capstone": L07}

# --- building submissions -------------------------------------------------------------------

def grade_id(c) -> str | None:
    return c.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def exercise_cells(nb):
    """Every graded or solution code cell: the exercises and their tests."""
    meta = lambda c: c.get("metadata", {}).get("nbgrader", {})
    return [c for c in nb.cells if c.cell_type == "code" and (meta(c).get("grade") or meta(c).get("solution"))]


def checking_cell(cells, solution_id: str) -> str:
    """The id of the test cell that checks a solution cell: the next graded code cell."""
    index = next(i for i, c in enumerate(cells) if grade_id(c) == solution_id)
    return next(grade_id(c) for c in cells[index + 1:]
                if c.get("metadata", {}).get("nbgrader", {}).get("grade"))


def setup_imports(source) -> str:
    """The imports of the lesson's set-up cell that its exercise cells use (NumPy at least):
    ``sp`` or ``digamma``, say, which a student's notebook has from its first cell."""
    cells = exercise_cells(source)
    used = {node.id for c in cells for node in ast.walk(ast.parse(c.source)) if isinstance(node, ast.Name)}
    setup = next(c for c in source.cells if c.cell_type == "code")
    lines = ["import numpy as np"]
    for node in ast.parse(setup.source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            node.names = [a for a in node.names if (a.asname or a.name.split(".")[0]) in used - {"np"}]
            if node.names:
                lines.append(ast.unparse(node))
    return "\n".join(lines)


def submission(source, replaced: dict[str, str]):
    nb = nbformat.from_dict(source)
    own = nbformat.v4.new_code_cell(setup_imports(source))   # a student's cell, not nbgrader's
    nb.cells = [own] + [nbformat.from_dict(c) for c in exercise_cells(source)]
    for c in nb.cells:
        if grade_id(c) in replaced:
            c.source = replaced[grade_id(c)]
    return nb


# --- one trick for every lesson -------------------------------------------------------------

#: an IPython input transformer that turns every test cell into ``pass`` (issue 21: it earned
#: full marks on every test cell of every lesson under plain ``nbgrader autograde``, when test
#: cells ran in the kernel); under grading they run in the grader's judge, so it earns nothing
BLANKS_TEST_CELLS = """
def _blank(lines):
    return ["pass\\n"] if any("check_" in line for line in lines) else lines
get_ipython().input_transformers_cleanup.append(_blank)
"""


def nothing_but_a_transformer(lesson_id: str) -> dict[str, str]:
    """Every exercise of a lesson answered with functions that return None, after the trick."""
    from course import lessons

    source = nbformat.read(str(lessons.solution_path(lesson_id)), as_version=4)
    out = {}
    for c in source.cells:
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"):
            names = [n.name for n in ast.parse(c.source).body if isinstance(n, ast.FunctionDef)]
            out[grade_id(c)] = cell(BLANKS_TEST_CELLS if not out else "",
                                    *(f"def {n}(*args, **kwargs):\n    return None" for n in names))
    return out


for _lesson, _wrong in WRONG.items():
    _wrong["input-transformer"] = nothing_but_a_transformer(_lesson)
