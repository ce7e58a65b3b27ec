"""Lesson 07's library (course.capstone), its course summary (course.findings) and the
instructor's leaderboard (autograder.leaderboard), on small towns."""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import nbformat
import numpy as np
import pytest

from autograder import leaderboard, secret
from conftest import ROOT, cells, nbgrader_meta
from course import capstone as C
from course import checks, findings, lessons, nearmiss
from course.similarity import cosine_similarity_matrix
from course.uncertainty import identity_score
from course.world import make_town


@pytest.fixture(scope="module")
def small():
    """A small practice-like town: a reader on 400 users, 200 validation and 200 test sessions."""
    town = make_town(replace(C.PRACTICE_TOWN, n_users=800, seed=1))
    tr = C.system(town, random_state=1, progress=False)
    return tr, C.make_requests(tr, tr.test[:200], random_state=1), C.make_requests(tr, tr.test[200:], random_state=2)


def fake_requests(n_sessions=30, seed=0) -> C.Requests:
    """Requests with random evidence (no model), for the judge's units."""
    rng = np.random.default_rng(seed)
    n, R = n_sessions * C.N_REQUESTS, C.N_RECENT
    p0 = rng.uniform(0.2, 0.8, n)
    pp = np.clip(p0 + rng.normal(0, 0.3, n), 0, 1)
    ev = C.Evidence(pp, p0, rng.random(n), rng.integers(50, 101, n), np.repeat(rng.normal(0, 0.3, n_sessions), C.N_REQUESTS),
                    rng.random((n, R)), rng.random((n, R)), rng.integers(0, 2, (n, R)))
    kind = np.repeat(rng.integers(0, len(C.KINDS), n_sessions), C.N_REQUESTS)
    return C.Requests(ev, (rng.random(n) < pp).astype(int), kind, np.repeat(np.arange(n_sessions), C.N_REQUESTS))


# --- the judge --------------------------------------------------------------------------------

def test_log_loss_by_kind_clips_and_leaves_empty_kinds_nan():
    got = C.log_loss_by_kind(np.array([0.0, 1.0, 0.5]), np.array([1, 1, 0]), np.array([2, 2, 0]), 4)
    assert np.isnan(got[[1, 3]]).all(), got
    assert got[0] == pytest.approx(np.log(2)) and got[2] == pytest.approx(-np.log(1e-7) / 2), got


@pytest.mark.parametrize("call,name", [
    (lambda: C.log_loss_by_kind(np.ones(3) / 2, np.ones(2), np.zeros(3, int)), "p, y and kind"),
    (lambda: C.log_loss_by_kind(np.ones(3) / 2, np.ones(3), np.array([0, 1, 4]), 4), "kind"),
    (lambda: C.best_weight(np.ones(2) / 2, np.ones(2) / 2, np.ones(2), [0.5, 1.2]), "grid"),
    (lambda: C.best_weight([], [], []), "y"),
    (lambda: C.weights_by_bin(np.zeros(3), [0.5, 0.1], np.ones(3) / 2, np.ones(3) / 2, np.ones(3)), "edges"),
    (lambda: C.guard_output(np.full(4, 1.5), 4), "w"),
    (lambda: C.guard_output(np.array([0.5, np.nan]), 2), "w"),
    (lambda: C.guard_output(np.ones(3), 4), "w"),
    (lambda: C.guard_output((1.0, np.zeros(4)), 4), "abstain"),
    (lambda: C.binned_guard(fake_requests(), n_bins=0), "n_bins"),
    (lambda: C.fit_reference_guard(fake_requests(), l2=-1), "l2"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=re.escape(name)):
        call()


def test_best_weight_ties_go_to_the_smallest_weight_whatever_the_grid_order():
    same = np.full(20, 0.7)
    assert C.best_weight(same, same, np.arange(20) % 2, np.array([1.0, 0.3, 0.6, 0.05])) == 0.05
    right = C.best_weight(np.array([0.9, 0.8]), np.full(2, 0.5), np.array([1, 1]), np.array([0.5, 1.0, 0.0]))
    assert right == 1.0


def test_weights_by_bin_matches_best_weight_per_bin_and_marks_empty_bins():
    r = fake_requests(60)
    e, edges = r.evidence, np.array([-0.2, 0.0, 0.2, 5.0])
    got = C.weights_by_bin(e.identity, edges, e.p_profile, e.p_prior, r.y)
    where = np.digitize(e.identity, edges)
    for b in range(4):
        rows = where == b
        assert got[b] == C.best_weight(e.p_profile[rows], e.p_prior[rows], r.y[rows]), b
    assert np.isnan(got[4]), "no score is >= 5: the last bin is empty"


def test_score_serves_abstained_requests_the_prior_and_reports_coverage():
    r = fake_requests()
    abstain = np.arange(len(r)) % 4 == 0
    s = C.score(r, 1.0, abstain)
    mixed = np.where(abstain, r.evidence.p_prior, r.evidence.p_profile)
    assert s["log_loss"] == pytest.approx(C.score(r, (~abstain).astype(float))["log_loss"])
    assert s["accuracy"] == pytest.approx(np.mean((mixed > 0.5) == (r.y == 1)))
    assert s["coverage"] == pytest.approx(0.75)
    assert sum(k["requests"] for k in s["by_kind"].values()) == len(r) == s["requests"]


def test_verdict_fails_blind_guards():
    r = fake_requests(80)
    trusting = C.verdict(r, 1.0)
    assert trusting["own_loss"] == 0 and trusting["wrong_gain"] == 0 and not trusting["passed"]
    best = C.verdict(r, trusting["best_constant"])
    assert best["blind_gain"] == pytest.approx(0.0, abs=1e-12) and not best["passed"]


def test_kinds_have_the_documented_shares():
    kinds = C._kinds(400, np.random.default_rng(0))
    assert np.bincount(kinds).tolist() == [int(s * 400) for s in C.KIND_SHARES]


# --- requests from a trained system -----------------------------------------------------------

def test_retrieval_hands_over_the_documented_profiles(small):
    tr, _, _ = small
    users = tr.test[:120]
    kind, owner, index = C.retrieve(tr, users, np.random.default_rng(3))
    K, h = tr.k, tr.n_history
    S = cosine_similarity_matrix(nearmiss.input_profiles(tr.town, h))
    np.fill_diagonal(S, -np.inf)
    own, twin, rand, shared = (kind == i for i in range(4))
    assert (owner[own] == users[own, None]).all()
    assert (owner[twin, 0] == S[users[twin]].argmax(axis=1)).all(), "near-twin: rank 1 by topic usage"
    assert (owner[rand] != users[rand, None]).all() and (owner[rand] == owner[rand, :1]).all()
    assert (owner[shared, :K // 2] == users[shared, None]).all()
    assert (owner[shared, K // 2:] != users[shared, None]).all()
    assert (index[~shared] == np.arange(h - K, h)).all()
    assert (index[shared] == np.tile(np.arange(h - K // 2, h), 2)).all(), "both members' most recent halves"


def test_requests_agree_with_lesson_02s_predictions_and_lesson_03s_identity(small):
    tr, val, _ = small
    e = val.evidence
    M, R = C.N_REQUESTS, C.N_RECENT
    assert len(val) == 200 * M and e.recent_profile.shape == (len(val), R)
    users = val.session[::M]
    own = val.kind[::M] == 0
    p, y = nearmiss.predict_with(tr, users[own], users[own])      # lesson 02's own, separate path
    assert np.allclose(e.p_profile.reshape(-1, M)[own], p[:, R:], atol=1e-5)
    assert (val.y.reshape(-1, M)[own] == y[:, R:]).all()
    p0, _ = nearmiss.predict_with(tr, None, users)
    assert np.allclose(e.p_prior.reshape(-1, M), p0[:, R:], atol=1e-5)
    assert np.allclose(e.identity, identity_score(e.recent_profile, e.recent_prior, e.recent_choices))
    assert ((e.trust >= 0) & (e.trust <= 1)).all() and ((e.certainty >= 50) & (e.certainty <= 100)).all()


def test_requests_are_one_batched_pass(small):
    tr, _, _ = small
    calls = []
    original = tr.model.predict_proba
    tr.model.predict_proba = lambda X: calls.append(len(X)) or original(X)
    try:
        for n in (10, 80):
            C.make_requests(tr, tr.test[:n])
    finally:
        del tr.model.predict_proba
    assert len(calls) == 2, f"one prediction pass per call, whatever the number of users: {calls}"


def test_reference_guards_order_on_a_small_world(small):
    _, val, test = small
    scores = {name: C.evaluate(g, test) for name, g in C.reference_guards(val).items()}
    overall = {name: s["log_loss"] for name, s in scores.items()}
    kind = lambda k: {name: s["by_kind"][k]["log_loss"] for name, s in scores.items()}  # noqa: E731
    assert min(overall, key=overall.get) == "reference", overall
    assert max(kind("own"), key=kind("own").get) == "never", kind("own")
    assert kind("near_twin")["reference"] < kind("near_twin")["identity"] < kind("near_twin")["none"], kind("near_twin")
    assert scores["reference"]["verdict"]["blind_gain"] > 0, scores["reference"]["verdict"]


def test_lesson_guard_is_monotone_and_learned_from_validation_only(small):
    _, val, test = small
    g = C.binned_guard(val)
    assert (np.diff(g.centres) > 0).all() and (np.diff(g.weights) >= -1e-12).all()
    w = g(test.evidence)
    assert w.shape == (len(test),) and ((w >= 0) & (w <= 1)).all()
    shuffled = replace(val, y=np.random.default_rng(0).permutation(val.y))
    assert not np.allclose(C.binned_guard(shuffled).weights, g.weights), "the guard must depend on the outcomes"


def test_unseen_worlds_draw_from_the_documented_ranges():
    configs = [C.unseen_config(s) for s in range(25)]
    for name, (lo, hi) in C.UNSEEN_RANGES.items():
        values = [getattr(c, name) for c in configs]
        assert all(lo <= v <= hi for v in values), (name, values)
        assert len(set(values)) > 1, f"{name} never varies"
    assert C.unseen_config(7) == C.unseen_config(7) and C.unseen_config(7).seed == 7
    assert C.unseen_world(3).n_users == C.UNSEEN_USERS


# --- hidden seeds -----------------------------------------------------------------------------

def test_hidden_seeds_come_from_the_class_secret_not_the_course():
    """The unseen worlds' seeds are no constant of the course: the judge derives them from the
    class's private secret (autograder.secret); an own run gets public ones, never the graded."""
    source = next(c.source for c in cells(lessons.solution_path("07_capstone"))
                  if nbgrader_meta(c).get("grade_id") == "guard-tests")
    hidden = source.split("### BEGIN HIDDEN TESTS")[1]
    assert 'UNSEEN = hidden_seeds(3, "unseen worlds")' in hidden
    assert not re.search(r"\d{7,}", hidden), "no literal seed in the hidden tests"
    graded = secret.seeds("a" * 64, "07_capstone", "unseen worlds", 3)
    assert graded == secret.seeds("a" * 64, "07_capstone", "unseen worlds", 3), "stable across re-grades"
    assert graded != secret.seeds("b" * 64, "07_capstone", "unseen worlds", 3), "another class, other worlds"
    assert set(graded).isdisjoint(checks.hidden_seeds(3, "unseen worlds"))
    public = {s for base in range(100) for s in C.unseen_seeds(base, 10)}
    assert not public & set(graded), "a graded seed is one that reproduce reports"


# --- the course summary -----------------------------------------------------------------------

def test_summary_has_a_finding_per_lesson_and_formats():
    assert [f.lesson for f in findings.FINDINGS] == [l.id for l in lessons.SYLLABUS]
    table = findings.markdown_table()
    assert table.count("\n") == len(findings.FINDINGS) + 1 and "{" not in table
    assert findings.lookup({"a": [{"b": 2}]}, "a.0.b") == 2.0


# --- the leaderboard --------------------------------------------------------------------------

KEY = "k" * 64


def graded_notebook(path, student: str, record: dict | None, key: str = KEY, claimed: str = "") -> None:
    """An autograded notebook whose test cell carries ``record`` as the grader stores it."""
    test = nbformat.v4.new_code_cell("...")
    test.metadata["nbgrader"] = {"grade": True, "locked": True, "solution": False, "grade_id": "guard-tests", "points": 6}
    if record is not None:
        payload = {"assignment": "07_capstone", "student": claimed or student, "cell": "guard-tests",
                   "records": {"leaderboard": record}}
        test.metadata["autograder"] = {**payload, "mac": secret.sign(key, payload)}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[test]), str(path))


def board(yours: list[float], none: list[float]) -> dict:
    def guard(s, passed):
        return {"log_loss": float(np.mean(s)), "by_kind": {"own": 0.3, "near_twin": 0.5},
                "passed_worlds": passed, "sessions": list(s)}
    return {"worlds": 3, "guards": {"yours": guard(yours, 3), "none": guard(none, 0)}}


def test_leaderboard_reads_signed_records_and_ranks_ties_as_ties(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.normal(0.45, 0.1, 300)
    none = base + 0.08
    root = tmp_path / "autograded"
    graded_notebook(root / "ada" / "07_capstone" / "07_capstone.ipynb", "ada", board(base, none))
    graded_notebook(root / "bob" / "07_capstone" / "07_capstone.ipynb", "bob",
                    board(base + rng.normal(0, 0.001, 300), none))          # a tie with ada
    graded_notebook(root / "cy" / "07_capstone" / "07_capstone.ipynb", "cy", board(base - 0.3, none),
                    key="forged" * 11)                                      # not the grader's
    graded_notebook(root / "dee" / "07_capstone" / "07_capstone.ipynb", "dee", board(base - 0.3, none),
                    claimed="ada")                                          # someone else's record
    graded_notebook(root / "eve" / "07_capstone" / "07_capstone.ipynb", "eve", None)
    course = replace(leaderboard.course_dir.load(tmp_path), autograded=root)
    table = leaderboard.rows(leaderboard.collect(course, "07_capstone", KEY))
    by = {r["name"]: r for r in table}
    assert by["ada"]["rank"] == by["bob"]["rank"] == 1, "indistinguishable guards share the rank"
    assert by["none"]["rank"] == 3 and by["none"]["role"] == "reference"
    assert "signature" in by["cy"]["note"] and by["cy"]["rank"] is None
    assert "ada's" in by["dee"]["note"] and "no leaderboard record" in by["eve"]["note"]
    lo, hi = by["ada"]["interval"]
    assert lo < by["ada"]["log_loss"] < hi
    text = leaderboard.format_table(table)
    assert "=1" in text and "near_twin" in text and "3/3" in text and "0/3" in text
    leaderboard.write_csv(table, tmp_path / "board.csv")
    assert (tmp_path / "board.csv").read_text().splitlines()[1].startswith("1,")


def test_leaderboard_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv(secret.ENV, str(tmp_path / "secret"))
    (tmp_path / "secret").write_text(KEY)
    graded_notebook(tmp_path / "autograded" / "ada" / "07_capstone" / "07_capstone.ipynb", "ada",
                    board([0.4, 0.5, 0.45], [0.6, 0.6, 0.7]))
    run = lambda *a: subprocess.run([sys.executable, "-m", "autograder", "--course", str(tmp_path), *a],  # noqa: E731
                                    cwd=ROOT, capture_output=True, text=True)
    proc = run("leaderboard", "07_capstone", "--csv", str(tmp_path / "b.csv"))
    assert proc.returncode == 0, proc.stderr
    assert "ada" in proc.stdout and "none" in proc.stdout and (tmp_path / "b.csv").exists()
    empty = run("leaderboard", "06_echo_chambers")
    assert empty.returncode == 1 and "no autograded submissions" in empty.stdout
    (tmp_path / "secret").unlink()
    assert run("leaderboard", "07_capstone").returncode == 2


@pytest.mark.lesson("07_capstone")
def test_grading_records_the_leaderboard_outside_the_kernel(notebooks, tmp_path):
    graded = notebooks.graded("07_capstone").notebooks
    path = tmp_path / "solution.ipynb"
    nbformat.write(graded["solution"], str(path))
    scores = leaderboard.read_record(path, "solution", "07_capstone", secret.load())
    guards = scores["guards"]
    assert scores["worlds"] == 3
    assert guards["yours"]["passed_worlds"] == scores["worlds"], guards["yours"]
    for name in ("none", "never", "certainty"):
        assert guards[name]["passed_worlds"] == 0, (name, guards[name])
    assert set(guards) >= {"yours", "none", "never", "certainty", "identity", "reference"}
    assert len(guards["yours"]["sessions"]) == len(guards["none"]["sessions"]) >= 3 * 300
    assert not any("leaderboard" in o.get("text", "") for c in graded["solution"].cells
                   for o in c.get("outputs", [])), "the record is not printed where a kernel could forge it"
    nbformat.write(graded["untouched"], str(tmp_path / "release.ipynb"))
    with pytest.raises(ValueError, match="no leaderboard record"):
        leaderboard.read_record(tmp_path / "release.ipynb", "untouched", "07_capstone", secret.load())
