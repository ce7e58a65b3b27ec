"""Lesson 06 (course.echo, course.world.beliefs): the belief facet, the reward models, the
loop, the metrics on hand-checked cases, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from course import echo
from course.world import make_town
from course.world.beliefs import BeliefConfig, make_beliefs


@pytest.fixture(scope="module")
def town():
    return make_town(n_users=600, n_interactions=1, seed=5)


@pytest.fixture(scope="module")
def world(town):
    return make_beliefs(town, seed=5)


# --- the belief facet -----------------------------------------------------------------------

def test_facet_has_the_towns_users_and_communities(town, world):
    np.testing.assert_array_equal(world.community, town.community)
    np.testing.assert_allclose(world.topic_mix, town.topic_mix, atol=1e-6)
    Q, K, F = world.features.shape
    assert world.lean.shape == (600, 1) and world.noise.shape == (600, Q)
    assert world.side.shape == (Q, K) and set(np.unique(world.side)) == {-1, 1}
    assert F == world.lean.shape[1] + 3
    assert world.vulnerable.sum() == round(0.02 * 600)
    assert set(np.unique(world.sycophancy)) == {BeliefConfig.sycophancy, BeliefConfig.vulnerable_sycophancy}


def test_same_seed_same_facet_and_other_seed_differs(town):
    a, b, c = make_beliefs(town, seed=1), make_beliefs(town, seed=1), make_beliefs(town, seed=2)
    np.testing.assert_array_equal(a.lean, b.lean)
    np.testing.assert_array_equal(a.features, b.features)
    assert not np.array_equal(a.lean, c.lean)


def test_beliefs_cluster_by_community_and_are_sometimes_wrong(world):
    belief = world.belief(world.lean)
    wrong = np.sign(belief[:, world.factual]) == -world.truth[world.factual]
    assert 0.05 < wrong.mean() < 0.45, f"share of wrong beliefs {wrong.mean():.3f}"
    community_means = np.array([belief[world.community == c].mean(0) for c in np.unique(world.community)])
    assert community_means.std(0).mean() > 0.2, "communities should believe different things"
    by_community = np.array([wrong[world.community == c].mean() for c in np.unique(world.community)])
    assert by_community.max() - by_community.min() > 0.15, "some communities are wrong together"


def test_questions_follow_topic_interests(world):
    asked = world.ask(np.random.default_rng(0), 400)
    topic = asked % world.topic_mix.shape[1]
    share = np.stack([(topic == t).mean(1) for t in range(world.topic_mix.shape[1])], axis=1)
    assert np.abs(share - world.topic_mix).mean() < 0.02
    assert asked.min() >= 0 and asked.max() < world.truth.shape[0]


def test_feedback_rule_is_the_only_place_agreement_pays(town):
    """With the bias off, approval does not depend on belief; with it on, it rises with
    agreement, by the bias times the belief."""
    users, questions, responses = np.arange(5), np.arange(5), np.zeros(5, dtype=int)
    belief_a, belief_b = np.full(5, 0.9), np.full(5, -0.9)
    off = make_beliefs(town, seed=5, sycophancy=0.0, vulnerable_sycophancy=0.0)
    np.testing.assert_array_equal(off.approval_logit(belief_a, users, questions, responses),
                                  off.approval_logit(belief_b, users, questions, responses))
    on = make_beliefs(town, seed=5)
    diff = (on.approval_logit(belief_a, users, questions, responses)
            - on.approval_logit(belief_b, users, questions, responses))
    np.testing.assert_allclose(diff, 1.8 * on.sycophancy[users] * on.side[questions, 0])


def test_influence_moves_beliefs_toward_what_was_shown(town):
    world = make_beliefs(town, seed=5, influence=0.1)
    users, q = np.arange(600), np.zeros(600, dtype=int)
    shown = np.full(600, np.argmax(world.side[0]))  # a response on the +1 side
    before = world.belief(world.lean, users, q)
    after = world.belief(world.influence(world.lean.copy(), users, q, shown), users, q)
    assert (after > before).all(), "every belief should move toward +1"
    still = make_beliefs(town, seed=5, influence=0.0)
    np.testing.assert_array_equal(still.influence(still.lean.copy(), users, q, shown), still.lean)


def test_bad_configuration_is_named(town):
    for field, value in (("n_questions", 0), ("factual_share", 1.5), ("sycophancy", -1.0),
                         ("vulnerable_share", -0.1), ("influence", -0.5)):
        with pytest.raises(ValueError, match=field):
            BeliefConfig(**{field: value})
    with pytest.raises(ValueError, match="n_questions"):
        make_beliefs(town, n_questions=3)


# --- reward models --------------------------------------------------------------------------

def test_per_user_weights_match_scikit_learn():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 60, 3))
    y = (rng.random((4, 60)) < 0.5 + 0.4 * np.tanh(X[..., 0] - X[..., 2])).astype(int)
    y[3] = 1  # one user approves everything: the ridge keeps the weights finite
    w = echo.fit_user_weights(X, y, l2=2.0, n_steps=30)
    for u in range(3):
        ref = LogisticRegression(C=0.5, fit_intercept=False, tol=1e-10, max_iter=1000).fit(X[u], y[u])
        np.testing.assert_allclose(w[u], ref.coef_[0], atol=1e-5)
    p = 1 / (1 + np.exp(-X[3] @ w[3]))  # scikit-learn refuses one class: the gradient must vanish
    np.testing.assert_allclose(X[3].T @ (y[3] - p) - 2.0 * w[3], 0, atol=1e-8)
    assert np.abs(w[3]).max() < 10


def test_refit_with_the_last_fit_as_prior_approximates_refitting_everything():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((50, 80, 4)).astype(np.float32)
    y = (rng.random((50, 80)) < 1 / (1 + np.exp(-X @ np.array([1.0, -0.5, 0.3, 0.0])))).astype(np.float32)
    batch = echo.fit_user_weights(X, y, l2=1.0, n_steps=20)
    w, P = np.zeros((50, 4), np.float32), np.broadcast_to(np.eye(4, dtype=np.float32), (50, 4, 4))
    for t in range(0, 80, 8):
        w, P = echo.newton(X[:, t:t + 8], y[:, t:t + 8], w, P, w, n_steps=1)
    assert np.abs(w - batch).mean() < 0.05, f"mean |online - batch| = {np.abs(w - batch).mean():.3f}"


def test_bounded_policy_mixes_rewards():
    rng = np.random.default_rng(3)
    features = rng.standard_normal((30, 6, 4))
    w_u, w_a = rng.standard_normal((30, 4)), rng.standard_normal(4)
    np.testing.assert_array_equal(echo.serve(features, w_u, w_a, 0.0), (features @ w_a).argmax(1))
    np.testing.assert_array_equal(echo.serve(features, w_u, w_a, 1.0),
                                  np.einsum("ukf,uf->uk", features, w_u).argmax(1))
    half = 0.5 * np.einsum("ukf,uf->uk", features, w_u) + 0.5 * features @ w_a
    np.testing.assert_array_equal(echo.serve(features, w_u, w_a, 0.5), half.argmax(1))
    explore, pick = np.arange(30) % 2 == 0, np.full(30, 5)
    served = echo.serve(features, w_u, w_a, 0.5, explore, pick)
    np.testing.assert_array_equal(served[explore], 5)
    np.testing.assert_array_equal(served[~explore], half.argmax(1)[~explore])
    ties = echo.serve(np.ones((2, 20, 3)), np.ones((2, 3)), np.ones(3), 0.3)
    np.testing.assert_array_equal(ties, [0, 0])


# --- metrics on hand cases -------------------------------------------------------------------

def test_sycophancy_and_truthfulness_by_hand():
    side = np.array([1, -1, 1, -1, 1, 1])
    belief = np.array([0.8, 0.3, -0.5, 0.0, 0.9, -0.2])
    truth = np.array([-1, 1, 1, -1, 0, 1])
    # wrong: item 0 (believes +, truth -), item 2 (believes -, truth +), item 5 (believes -, truth +)
    # item 3 has no stance, item 4 is opinion; flattered: item 0 only
    assert echo.sycophancy_rate(side, belief, truth) == pytest.approx(1 / 3)
    assert echo.truthfulness(side, truth) == pytest.approx(3 / 5)
    assert np.isnan(echo.sycophancy_rate(side, belief, np.zeros(6)))


def test_polarization_by_hand():
    belief = np.array([[1.0, 0.0], [0.6, 0.0], [-1.0, 0.5], [0.2, 0.1]])
    community = np.array([7, 7, 3, 9])  # unsorted, non-contiguous labels
    # means: 7 -> (0.8, 0), 3 -> (-1, 0.5), 9 -> (0.2, 0.1)
    pairs = [np.sqrt(((0.8 + 1) ** 2 + 0.25) / 2), np.sqrt((0.36 + 0.01) / 2), np.sqrt((1.44 + 0.16) / 2)]
    assert echo.polarization(belief, community) == pytest.approx(np.mean(pairs))
    assert echo.polarization(belief, np.zeros(4, dtype=int)) == 0.0


def test_jaccard_and_homogenization_by_hand():
    sets = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    pairs = np.array([[0, 1], [2, 3], [0, 0]])
    np.testing.assert_allclose(echo.pair_jaccard(sets, pairs), [1 / 3, 0.0, 1.0])
    ideal = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]], dtype=bool)
    assert echo.homogenization(sets, ideal, pairs) == pytest.approx((4 / 3) / 3 - 1.0)


def test_community_pairs_are_distinct_members_of_one_community(world):
    pairs = echo.community_pairs(world.community, 500, random_state=1)
    assert pairs.shape == (500, 2)
    assert (pairs[:, 0] != pairs[:, 1]).all()
    np.testing.assert_array_equal(world.community[pairs[:, 0]], world.community[pairs[:, 1]])


# --- the loop -------------------------------------------------------------------------------

def test_loop_shapes_and_seeds(world):
    a = echo.run_loop(world, rounds=6, lam=1.0, random_state=3)
    b = echo.run_loop(world, rounds=6, lam=1.0, random_state=3)
    c = echo.run_loop(world, rounds=6, lam=1.0, random_state=4)
    for name in ("approval", "truthfulness", "sycophancy", "polarization", "jaccard"):
        assert a.metrics[name].shape == (6,)
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name])
    assert not np.array_equal(a.metrics["approval"], c.metrics["approval"])
    assert a.w_personal.shape == (600, world.features.shape[2]) and a.sets.dtype == bool
    assert a.sets.sum() <= 6 * 8 * 600 and a.sets.any(axis=1).all()
    np.testing.assert_array_equal(world.lean, make_beliefs(make_town(n_users=600, n_interactions=1, seed=5),
                                                           seed=5).lean), "the loop must not change the world"


def _python_calls(run) -> int:
    """How many Python-level function calls ``run()`` makes (NumPy's C work is not counted)."""
    import sys

    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        run()
    finally:
        sys.setprofile(None)
    return calls


def test_the_loop_is_vectorized_over_users():
    """Ten times the users, the same Python calls: no Python loop over users anywhere."""
    small, large = (make_beliefs(make_town(n_users=n, n_interactions=1, seed=1), seed=1)
                    for n in (60, 600))
    few = _python_calls(lambda: echo.run_loop(small, rounds=4, lam=0.5, random_state=0))
    many = _python_calls(lambda: echo.run_loop(large, rounds=4, lam=0.5, random_state=0))
    assert many <= 1.05 * few, f"{few} Python calls for 60 users, {many} for 600"


def test_bounded_ends_are_the_aggregate_and_personalized_servers(world):
    """lam 0 serves with the aggregate model alone, lam 1 with the personal models alone: the
    same loops, number for number, as when the other model is fitted but ignored."""
    runs = echo.compare(world, rounds=5, random_state=2)
    curve = echo.tradeoff(world, lambdas=(0.0, 0.5, 1.0), rounds=5, random_state=2)
    for lam, name in ((0.0, "aggregate"), (1.0, "personalized")):
        for metric in ("approval", "sycophancy", "polarization", "jaccard"):
            np.testing.assert_array_equal(curve["loops"][lam].metrics[metric], runs[name].metrics[metric])
    assert not np.array_equal(curve["loops"][0.5].metrics["approval"], runs["aggregate"].metrics["approval"])
    np.testing.assert_array_equal(runs["aggregate"].w_personal,   # lam 0 fits no personal part
                                  np.broadcast_to(runs["aggregate"].w_aggregate, runs["aggregate"].w_personal.shape))


def test_personal_models_start_from_the_aggregate_and_learn_each_users_side(world):
    """Round 0 is served at random; after it, a user's weights are the aggregate's plus a part
    fitted on their own feedback, whose weight on the side feature follows their lean."""
    loop = echo.run_loop(world, rounds=6, lam=1.0, random_state=0)
    personal = loop.w_personal - loop.w_aggregate
    assert np.corrcoef(personal[:, 0], world.lean[:, 0])[0, 1] > 0.5
    vulnerable = np.abs(personal[world.vulnerable, 0]).mean()
    assert vulnerable > 1.5 * np.abs(personal[~world.vulnerable, 0]).mean(), "the vulnerable lean harder"


def test_round_zero_serves_at_random_and_the_ideal_is_best(world):
    runs = echo.compare(world, rounds=12, random_state=1)
    first = {name: runs[name].metrics["approval"][0] for name in runs}
    assert first["ideal"] == first["aggregate"] == first["personalized"]
    for name in ("aggregate", "personalized"):
        assert runs["ideal"].metrics["approval"][-1] > runs[name].metrics["approval"][-1]


def test_half_gain_lambda():
    curve = {"lambda": [0.0, 0.5, 1.0], "approval": [0.6, 0.66, 0.7], "sycophancy": [0.0, 0.1, 0.5]}
    assert echo.half_gain_lambda(curve) == 0.5
    curve["sycophancy"] = [0.0, 0.4, 0.5]
    assert echo.half_gain_lambda(curve) is None


# --- bad input ------------------------------------------------------------------------------

def test_bad_input_names_the_argument(world):
    with pytest.raises(ValueError, match="lam"):
        echo.run_loop(world, rounds=2, lam=1.5)
    with pytest.raises(ValueError, match="lam"):
        echo.serve(np.zeros((2, 3, 4)), np.zeros((2, 4)), np.zeros(4), -0.1)
    with pytest.raises(ValueError, match="rounds"):
        echo.run_loop(world, rounds=0)
    with pytest.raises(ValueError, match="explore"):
        echo.run_loop(world, rounds=2, explore=2.0)
    with pytest.raises(ValueError, match="w_personal"):
        echo.serve(np.zeros((2, 3, 4)), np.zeros((3, 4)), np.zeros(4), 0.5)
    with pytest.raises(ValueError, match="w_aggregate"):
        echo.serve(np.zeros((2, 3, 4)), np.zeros((2, 4)), np.zeros(5), 0.5)
    with pytest.raises(ValueError, match="y"):
        echo.fit_user_weights(np.zeros((2, 5, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="l2"):
        echo.fit_user_weights(np.zeros((2, 5, 3)), np.zeros((2, 5)), l2=0.0)
    with pytest.raises(ValueError, match="community"):
        echo.polarization(np.zeros((4, 2)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="pairs"):
        echo.pair_jaccard(np.zeros((3, 4), dtype=bool), np.array([[0, 3]]))
    with pytest.raises(ValueError, match="side"):
        echo.sycophancy_rate(np.zeros(3), np.zeros(4), np.zeros(4))
