"""Each exercise's solution cell and its library twin agree on fresh random inputs."""
from __future__ import annotations

import numpy as np
import pytest

import course.metrics
import course.nearmiss
import course.profiles
import course.similarity
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
]


def solution_function(lesson_id: str, cell_id: str, name: str):
    source = next(c.source for c in cells(lessons.solution_path(lesson_id))
                  if nbgrader_meta(c).get("grade_id") == cell_id)
    namespace = {"np": np}
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
