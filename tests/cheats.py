"""Wrong submissions for every lesson: each must lose points under real ``nbgrader autograde``.

``WRONG[lesson_id]`` maps a student name to the solution cells it replaces (grade id ->
source). ``tests/conftest.py`` grades them in the same ``nbgrader autograde`` call as the
lesson's solution and untouched release (one call per lesson), with an honest submission
beside them; ``tests/test_cheats.py`` checks the scores.

A submission holds the lesson's solution and test cells after a cell of its own that
imports NumPy (the set-up and the experiments are left out: a test cell needs nothing else,
and this keeps grading fast), with some solution cells replaced by a wrong answer. Every test
cell after a replaced solution cell must score less than full; every other test cell, and
every test cell of the honest submission, must score full. One submission carries one wrong
answer per exercise, so the answers are independent and a lesson needs as few kernels as it
has variants per exercise.

The wrong answers are those of issue #18 (a student's and a sceptical TA's review) and a few
more: the reference version called by another name, through a re-export, with the guard's
notebook name redefined or ``course.checks`` patched; check helpers redefined as no-ops; the
library overwritten with a wrong version; genuinely wrong code that the old hidden tests let
through (clipped similarities, ``argmax(S - I)``, the last column taken as the newest, an
unstable sort, ECE bins that drop a confidence of exactly 1, loops where the exercise says
vectorize), and other plausible mistakes.
"""
from __future__ import annotations

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
        COSINE: cell("""
            import contextlib
            import course.similarity
            library_twin_disabled = lambda *args: contextlib.nullcontext()
            checking = lambda *names: contextlib.nullcontext()
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
        KEPT: cell("""
            import contextlib
            import course.profiles
            library_twin_disabled = checking = lambda *args: contextlib.nullcontext()
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
        RANK: cell("""
            import contextlib
            import course.nearmiss
            library_twin_disabled = checking = lambda *args: contextlib.nullcontext()
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
        CERTAINTY: cell(_BANDS, """
            import contextlib
            import course.uncertainty
            library_twin_disabled = checking = lambda *args: contextlib.nullcontext()
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

WRONG = {"00_orientation": L00, "01_profiles": L01, "02_near_miss": L02, "03_abstention": L03}


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


def submission(source, replaced: dict[str, str]):
    nb = nbformat.from_dict(source)
    own = nbformat.v4.new_code_cell("import numpy as np")   # a student's cell, not nbgrader's
    nb.cells = [own] + [nbformat.from_dict(c) for c in exercise_cells(source)]
    for c in nb.cells:
        if grade_id(c) in replaced:
            c.source = replaced[grade_id(c)]
    return nb
