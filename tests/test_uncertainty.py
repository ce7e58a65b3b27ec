"""Lesson 03 (course.uncertainty): the judge, certainty, selective prediction, the near-miss
twist, the acceptance criteria of the headline experiment, and exercise/twin agreement."""
from __future__ import annotations

import nbformat
import numpy as np
import pytest
from sklearn.base import clone

from course import lessons
from course import uncertainty as U


# --- the headline experiment ---------------------------------------------------------------

@pytest.fixture
def result(reproduced):
    return reproduced("03_abstention")


@pytest.mark.lesson("03_abstention")
def test_result_has_the_documented_keys(result):
    import json

    json.loads(json.dumps(result, allow_nan=False))  # valid JSON, no NaN
    assert set(result) >= {"sparsity", "full_persona", "overconfident", "near_miss",
                           "real_data", "seed"}
    keys = {"accuracy", "high_certainty_accuracy", "high_certainty_coverage"}
    assert set(result["sparsity"]) == keys | {"n_attributes"}
    assert set(result["full_persona"]) == keys
    assert set(result["overconfident"]["before"]) == keys
    assert set(result["overconfident"]["after_calibration"]) == keys
    for row in ("true", "swapped", "swapped_with_identity_check", "true_with_identity_check"):
        assert set(result["near_miss"][row]) == {"accuracy", "mean_certainty", "abstain_rate",
                                                  "users_rejected", "answered_accuracy"}


@pytest.mark.lesson("03_abstention")
def test_full_and_sparse_personas(result):
    full, sweep = result["full_persona"], result["sparsity"]
    assert 0.60 <= full["accuracy"] <= 0.85, f"full-persona accuracy {full['accuracy']:.3f}"
    assert full["high_certainty_accuracy"] >= 0.80, (
        f"high-certainty accuracy {full['high_certainty_accuracy']:.3f} < 0.80")
    assert 0.05 <= full["high_certainty_coverage"] <= 0.50, (
        f"high-certainty coverage {full['high_certainty_coverage']:.3f} outside [0.05, 0.50]")
    sparsest = sweep["accuracy"][sweep["n_attributes"].index(0)]
    assert sparsest <= 0.58, f"accuracy with no persona {sparsest:.3f} > 0.58"
    assert sweep["accuracy"][-1] > sparsest + 0.1, "accuracy should rise with the persona"


@pytest.mark.lesson("03_abstention")
def test_overconfident_judge_and_its_calibration(result):
    before, after = result["overconfident"]["before"], result["overconfident"]["after_calibration"]
    assert before["high_certainty_coverage"] >= 0.60, (
        f"over-confident judge covers only {before['high_certainty_coverage']:.3f} at >= 80")
    gap = before["high_certainty_accuracy"] - before["accuracy"]
    assert abs(gap) <= 0.03, f"its high-certainty accuracy gains {gap:.3f} (should be ~0)"
    gain = after["high_certainty_accuracy"] - after["accuracy"]
    assert gain >= 0.08, f"after calibration the high-certainty gain is only {gain:.3f}"


@pytest.mark.lesson("03_abstention")
def test_near_miss_defeats_certainty_and_the_identity_check_restores_it(result):
    m = result["near_miss"]
    true, swapped = m["true"], m["swapped"]
    assert swapped["mean_certainty"] >= true["mean_certainty"] - 5, (
        f"swapped certainty {swapped['mean_certainty']:.1f} vs true {true['mean_certainty']:.1f}")
    assert swapped["accuracy"] <= true["accuracy"] - 0.08, (
        f"swapped accuracy {swapped['accuracy']:.3f} vs true {true['accuracy']:.3f}")
    assert swapped["abstain_rate"] <= true["abstain_rate"] + 0.10, (
        f"plain rule abstains {swapped['abstain_rate']:.3f} on swapped vs {true['abstain_rate']:.3f}")
    checked_swap, checked_true = m["swapped_with_identity_check"], m["true_with_identity_check"]
    assert checked_swap["users_rejected"] >= 0.50, (
        f"identity check rejects only {checked_swap['users_rejected']:.3f} of swapped personas")
    assert checked_true["users_rejected"] <= 0.25, (
        f"identity check rejects {checked_true['users_rejected']:.3f} of true personas")
    for name in ("true", "swapped"):  # the check only ever adds abstentions
        assert m[f"{name}_with_identity_check"]["abstain_rate"] >= m[name]["abstain_rate"], name
    assert checked_swap["abstain_rate"] >= 0.85, f"swapped personas answered: {checked_swap}"
    assert m["true"]["users_rejected"] == 0.0 and m["swapped"]["users_rejected"] == 0.0


@pytest.mark.lesson("03_abstention")
def test_real_data_is_reported_or_skipped_with_a_reason(result):
    real = result["real_data"]
    if "skipped" in real:
        assert real["skipped"], "a skip must give its reason"
    else:
        assert len(real["accuracy"]) == len(real["n_attributes"]), "one accuracy per sparsity"


# --- units ---------------------------------------------------------------------------------

def test_stated_certainty_and_bands():
    np.testing.assert_array_equal(U.stated_certainty([0.5, 0.9, 0.1, 1.0, 0.0]),
                                  [50, 90, 90, 100, 100])
    np.testing.assert_array_equal(
        U.certainty_band([1, 20, 21, 40, 41, 60, 61, 80, 81, 100]),
        ["uncertain"] * 2 + ["moderately confident"] * 2 + ["quite confident"] * 2
        + ["confident"] * 2 + ["highly confident"] * 2)


def test_selective_accuracy_and_risk_coverage_agree():
    rng = np.random.default_rng(0)
    p = rng.random(200)
    y = (rng.random(200) < p).astype(int)
    c = U.stated_certainty(p)
    t, cov, risk = U.risk_coverage(p, y, c)
    assert np.all(np.diff(t) < 0) and cov[-1] == 1.0, "thresholds descend to full coverage"
    for i in range(0, len(t), 7):
        acc, coverage = U.selective_accuracy(p, y, c, t[i])
        assert coverage == pytest.approx(cov[i]) and 1 - acc == pytest.approx(risk[i])
    acc, coverage = U.selective_accuracy(p, y, c, 101)
    assert np.isnan(acc) and coverage == 0.0, "nothing answered: (nan, 0)"


def test_identity_score_sign():
    rng = np.random.default_rng(1)
    truth = rng.random((50, 30))
    choices = (rng.random((50, 30)) < truth).astype(int)
    prior = np.full_like(truth, 0.5)
    assert U.identity_score(truth, prior, choices).mean() > 0, "the right persona scores > 0"
    assert U.identity_score(1 - truth, prior, choices).mean() < 0, "a wrong one scores < 0"


def test_reveal_keeps_k_attributes_per_user():
    persona = np.where(np.random.default_rng(2).random((30, 10)) < 0.5, -1.0, 1.0)
    shown = U.reveal(persona, 4, random_state=3)
    np.testing.assert_array_equal((shown != 0).sum(1), 4)
    kept = shown != 0
    np.testing.assert_array_equal(shown[kept], persona[kept])
    with pytest.raises(ValueError, match="k must be"):
        U.reveal(persona, 11)


def test_judge_follows_the_estimator_contract_and_learns():
    town = U.lesson_town(0, n_users=400, n_interactions=40)
    persona = U.personas(town)
    assert persona.shape == (400, town.config.n_topics + town.config.n_attributes)
    X = U.judge_inputs(persona, town.difference)
    assert X.shape == (400 * 40, persona.shape[1] + town.config.n_dims)
    np.testing.assert_array_equal(X[41, :persona.shape[1]], persona[1])  # user-major rows
    y = town.choice.ravel()
    judge = U.PersonaJudge(persona.shape[1])
    assert clone(judge).get_params() == judge.get_params()
    judge.fit(X[:12000], y[:12000])
    p = judge.predict_proba(X[12000:])[:, 1]
    assert ((p > 0.5) == y[12000:]).mean() > 0.6, "the judge should learn from personas"
    student = U.distilled_judge(judge, X[:12000])
    c_teacher = U.stated_certainty(p).mean()
    c_student = U.stated_certainty(student.predict_proba(X[12000:])[:, 1]).mean()
    assert c_student > c_teacher + 10, "the distilled judge should be over-confident"
    repaired = U.calibrated(student, X[8000:12000], y[8000:12000])
    assert U.stated_certainty(repaired.predict_proba(X[12000:])[:, 1]).mean() < c_student


def test_twins_are_other_users_from_the_pool():
    town = U.lesson_town(0, n_users=200, n_interactions=20)
    pool = np.arange(50, 150)
    twin = U.twins(U.personas(town), pool)
    assert np.isin(twin, pool).all() and (twin != pool).all()


# --- the lesson's exercises agree with their library twins ---------------------------------

def _solution(cell_id: str) -> dict:
    cells = nbformat.read(str(lessons.solution_path("03_abstention")), as_version=4).cells
    source = next(c.source for c in cells if c.get("id") == cell_id)
    namespace = {"np": np}
    exec(source, namespace)
    return namespace


def test_exercises_agree_with_library_twins():
    rng = np.random.default_rng(7)
    p, y = rng.random(500), rng.integers(0, 2, 500)
    cert = U.stated_certainty(p)
    ns = _solution("certainty-solution")
    np.testing.assert_array_equal(ns["stated_certainty"](p), U.stated_certainty(p))
    levels = rng.integers(1, 101, 500)
    np.testing.assert_array_equal(ns["certainty_band"](levels), U.certainty_band(levels))
    ns = _solution("selective-solution")
    for t in (50, 65, 80, 99):
        np.testing.assert_allclose(ns["selective_accuracy"](p, y, cert, t),
                                   U.selective_accuracy(p, y, cert, t))
    ns = _solution("riskcoverage-solution")
    for mine, ref in zip(ns["risk_coverage"](p, y, cert), U.risk_coverage(p, y, cert)):
        np.testing.assert_allclose(mine, ref)
    ns = _solution("identity-solution")
    a, b, ch = rng.random((20, 9)), rng.random((20, 9)), rng.integers(0, 2, (20, 9))
    np.testing.assert_allclose(ns["identity_score"](a, b, ch), U.identity_score(a, b, ch))
