"""Each exercise's solution cell and its library twin agree on fresh random inputs."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import digamma

import course.echo
import course.metrics
import course.nearmiss
import course.personas
import course.profiles
import course.similarity
import course.ranking
import course.spf
from conftest import READY, cells, nbgrader_meta
from course import lessons

rng = np.random.default_rng(123)
_X = rng.random((40, 6))
_S = _X @ _X.T
_time = rng.random((30, 25))
_past, _now = rng.standard_normal((30, 25, 4)), rng.standard_normal((30, 4))
_topic, _out = rng.integers(0, 6, (30, 25)), rng.standard_normal((30, 25, 3))
_p, _y = rng.random(3000), rng.integers(0, 2, 3000)
_a, _b = rng.random(300), rng.random(300)
# lesson 05: scores with ties and negatives, every user with a relevant candidate
_scores = np.where(rng.random((25, 40)) < 0.5, rng.integers(-2, 2, (25, 40)), rng.standard_normal((25, 40)))
_rel = rng.random((25, 40)) < 0.15
_rel[np.arange(25), rng.integers(0, 40, 25)] = True
_cand = _rel | (rng.random((25, 40)) < 0.7)
_tau = sp.random(30, 30, density=0.2, random_state=4, format="csr")
_tau.setdiag(0)
_clicks = sp.random(30, 12, density=0.3, random_state=5, format="csr")
_clicks.data = np.ceil(3 * _clicks.data)
_pairs = (rng.integers(0, 30, 50), rng.integers(0, 12, 50))
_factor = rng.uniform(0, 0.8, 50)

_side, _belief = rng.choice([-1, 1], 500), np.round(rng.uniform(-1, 1, 500), 1)
_truth = rng.choice([-1, 0, 1], 500)
_Xw, _yw = rng.standard_normal((20, 30, 4)), rng.integers(0, 2, (20, 30))
_yw[0] = 1  # one user approves everything
_feat, _wu, _wa = rng.standard_normal((40, 17, 3)), rng.standard_normal((40, 3)), rng.standard_normal(3)
_explore, _pick = rng.random(40) < 0.3, rng.integers(0, 17, 40)
_bel, _comm = rng.uniform(-1, 1, (300, 9)), rng.choice([4, 1, 9], 300)
_sets, _ideal = rng.random((60, 25)) < 0.2, rng.random((60, 25)) < 0.3
_sets[:3] = False
_user_pairs = rng.integers(0, 60, (200, 2))
_personas, _items = rng.standard_normal((7, 3, 5)), rng.standard_normal((23, 5))
_ranked = rng.integers(-2, 3, size=(60, 25)).astype(float)      # many ties
_ranked[rng.random((60, 25)) < 0.2] = -np.inf
_target = rng.integers(0, 25, size=60)
_ranked[np.arange(60), _target] = rng.integers(-2, 3, size=60)
_counts = rng.integers(0, 5, size=(50, 3, 3)).astype(float)
_hist, _recs = rng.integers(0, 12, (30, 40)), rng.integers(0, 16, (30, 10))

# (lesson, solution cell id, function name, library twin, argument tuples)
TWINS = [
    ("00_orientation", "cosine-solution", "cosine_similarity_matrix",
     course.similarity.cosine_similarity_matrix, [(_X,)]),
    ("00_orientation", "nearest-solution", "nearest_neighbour", course.similarity.nearest_neighbour, [(_S,)]),
    ("01_profiles", "kept-solution", "kept_tokens", course.profiles.kept_tokens,
     [(s, t, 4) for s in ("none", "inputs", "outputs", "both") for t in range(12)]),
    ("01_profiles", "recent-solution", "most_recent", course.profiles.most_recent, [(_time, 5)]),
    ("01_profiles", "similar-solution", "most_similar", course.profiles.most_similar, [(_past, _now, 7)]),
    ("01_profiles", "summary-solution", "topic_summary", course.profiles.topic_summary,
     [(_topic, _out, _time, 6, 0.2)]),
    ("02_near_miss", "rank-solution", "rank_substitutes", course.nearmiss.rank_substitutes,
     [(_S, np.arange(0, 40, 3))]),
    ("02_near_miss", "swap-solution", "substitutes_at", course.nearmiss.substitutes_at,
     [(np.argsort(_S, axis=1)[:, :-1], 3)]),
    ("02_near_miss", "ece-solution", "expected_calibration_error",
     course.metrics.expected_calibration_error, [(_p, _y, 10), (_p, _y, 7)]),
    ("02_near_miss", "gap-solution", "paired_bootstrap_gap", course.metrics.paired_bootstrap_gap,
     [(_a, _b, 500, 4)]),
    ("05_social", "ncrr-solution", "ncrr", course.ranking.ncrr, [(_scores, _rel, _cand)]),
    ("05_social", "rate-solution", "social_rate", course.spf.social_rate, [(_tau, _clicks)]),
    ("05_social", "elog-solution", "expected_log", course.spf.expected_log,
     [(rng.uniform(0.05, 9, (20, 6)), rng.uniform(0.1, 30, (20, 6)))]),
    ("05_social", "split-solution", "split_click", course.spf.split_click,
     [(-900 + rng.standard_normal(5), rng.standard_normal(5), -901 + rng.standard_normal(18),
       rng.integers(0, 3, 18).astype(float)), (np.zeros(3), np.zeros(3), np.array([]), np.array([]))]),
    ("05_social", "explain-solution", "explain", course.spf.explain,
     [(_tau, _clicks, _factor, *_pairs)]),
    ("06_echo_chambers", "sycophancy-solution", "sycophancy_rate", course.echo.sycophancy_rate,
     [(_side, _belief, _truth), (_side[:1], np.array([-1.0]), np.array([1]))]),
    ("06_echo_chambers", "fit-solution", "fit_user_weights", course.echo.fit_user_weights,
     [(_Xw, _yw), (_Xw, _yw, 3.0, 25)]),
    ("06_echo_chambers", "serve-solution", "serve", course.echo.serve,
     [(_feat, _wu, _wa, lam, _explore, _pick) for lam in (0.0, 0.4, 1.0)]),
    ("06_echo_chambers", "polarization-solution", "polarization", course.echo.polarization,
     [(_bel, _comm), (_bel, np.zeros(300, int))]),
    ("06_echo_chambers", "homogenization-solution", "homogenization", course.echo.homogenization,
     [(_sets, _ideal, _user_pairs)]),
    ("04_personas", "attention-solution", "persona_attention", course.personas.persona_attention,
     [(_personas, _items, t) for t in (0.1, 1.0, 3.0)] + [(300 * _personas, _items, 1.0)]),
    ("04_personas", "attention-solution", "amp_scores", course.personas.amp_scores,
     [(_personas, _items, t) for t in (0.1, 1.0, 3.0)] + [(_personas[:, :1], _items, 0.5)]),
    ("04_personas", "ndcg-solution", "ndcg_at_k", course.personas.ndcg_at_k,
     [(_ranked, _target, k) for k in (1, 5, 10, 40)] + [(np.zeros((4, 30)), np.arange(4), 10)]),
    ("04_personas", "match-solution", "match_personas", course.personas.match_personas,
     [(_counts,), (_counts[:, :2, :2],), (rng.integers(0, 4, (20, 4, 4)),)]),
    ("04_personas", "taste-solution", "taste_distance", course.personas.taste_distance,
     [(_hist, _recs, 16), (_recs, _recs, 16), (_hist[:1], _hist[:1, :10], 12)]),
]


def solution_function(lesson_id: str, cell_id: str, name: str):
    source = next(c.source for c in cells(lessons.solution_path(lesson_id))
                  if nbgrader_meta(c).get("grade_id") == cell_id)
    namespace = {"np": np, "sp": sp, "digamma": digamma}
    exec(compile(source, f"{lesson_id}:{cell_id}", "exec"), namespace)
    return namespace[name]


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple) and not isinstance(b, np.ndarray):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), atol=1e-9)


@pytest.mark.parametrize("lesson_id,cell_id,name,twin,calls",
                         [t for t in TWINS if t[0] in READY], ids=lambda v: v if isinstance(v, str) else "")
def test_solution_agrees_with_library_twin(lesson_id, cell_id, name, twin, calls):
    student = solution_function(lesson_id, cell_id, name)
    for args in calls:
        assert same(student(*args), twin(*args)), f"{lesson_id}:{cell_id} differs from {twin.__module__}.{name}"


def test_every_exercise_has_a_twin():
    covered = {(t[0], t[1]) for t in TWINS}
    for lesson_id in READY:
        if lesson_id == "03_abstention":
            continue  # its twins are checked in tests/test_uncertainty.py
        for c in cells(lessons.solution_path(lesson_id)):
            meta = nbgrader_meta(c)
            if meta.get("solution") and c.cell_type == "code":
                assert (lesson_id, meta["grade_id"]) in covered, f"no twin test for {lesson_id}:{meta['grade_id']}"


def test_every_library_twin_is_guarded():
    """Each twin raises inside course.checks.checking(), by any name (see course/checks.py)."""
    import course.uncertainty as U

    twins = [t[3] for t in TWINS] + [U.stated_certainty, U.certainty_band, U.selective_accuracy,
                                     U.risk_coverage, U.identity_score]
    unguarded = [f"{f.__module__}.{f.__name__}" for f in twins if not hasattr(f, "__twin__")]
    assert not unguarded, f"library twins without @course.checks.twin: {unguarded}"
