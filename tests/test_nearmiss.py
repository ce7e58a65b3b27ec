import numpy as np
import pytest

from course import nearmiss
from course.world import make_town


def test_rank_substitutes_excludes_self_and_orders_by_similarity():
    S = np.array([[1, .2, .9, .5], [.2, 1, .3, .3], [.9, .3, 1, .1], [.5, .3, .1, 1]])
    ranking = nearmiss.rank_substitutes(S, np.array([0, 1]))
    np.testing.assert_array_equal(ranking, [[2, 3, 1], [2, 3, 0]])
    np.testing.assert_array_equal(nearmiss.substitutes_at(ranking, np.array([1, 3])), [2, 0])
    with pytest.raises(ValueError, match="ranks must be in"):
        nearmiss.substitutes_at(ranking, 4)
    with pytest.raises(ValueError, match="users must be"):
        nearmiss.rank_substitutes(S, np.array([9]))


def test_the_n_nearest_are_the_full_rankings_first_columns_even_with_ties():
    rng = np.random.default_rng(0)
    S = rng.integers(0, 6, size=(300, 300)) / 5.0  # six distinct values: ties everywhere
    users = np.arange(0, 300, 7)
    full = nearmiss.rank_substitutes(S, users)
    for n in (1, 20, 150, 298):
        np.testing.assert_array_equal(nearmiss.rank_substitutes(S, users, n=n), full[:, :n],
                                      err_msg=f"n={n}")
    with pytest.raises(ValueError, match="n must be between"):
        nearmiss.rank_substitutes(S, users, n=300)


def test_draws_beyond_the_nearest_are_uniform_and_never_self():
    users, top = np.array([0, 1] * 2000), np.array([[1, 2], [0, 2]] * 2000)
    drawn = nearmiss._other_than(users, 5, np.random.default_rng(0), top)
    assert set(drawn[users == 0]) == {3, 4} and set(drawn[users == 1]) == {3, 4}
    assert abs((drawn == 3).mean() - 0.5) < 0.03


def test_buckets_cover_every_rank_once():
    edges = nearmiss.bucket_edges(2999)
    assert [e[0] for e in edges] == ["1", "2-5", "6-20", "21-100", "101-500", "501-2999"]
    covered = np.concatenate([np.arange(lo, hi + 1) for _, lo, hi in edges])
    np.testing.assert_array_equal(covered, np.arange(1, 3000))
    assert [e[0] for e in nearmiss.bucket_edges(12)] == ["1", "2-5", "6-12"]


@pytest.fixture(scope="module")
def small_sweep():
    town = make_town(n_users=400, n_interactions=60, seed=5)
    trained = nearmiss.train_reader(town, k=16, epochs=3, progress=False)
    return trained, nearmiss.sweep(trained)


def test_sweep_shapes_and_self_first(small_sweep):
    trained, result = small_sweep
    assert result["buckets"][:2] == ["self", "1"]
    for key in ("accuracy", "log_loss", "confidence", "ece"):
        assert len(result[key]) == len(result["buckets"])
    lo, hi = result["gap_near_minus_random"]["ci95"]
    assert lo <= result["gap_near_minus_random"]["mean"] <= hi
    p, y = result["predictions"]["self"]
    assert p.shape == y.shape == (len(trained.test), 10)
    p, y = result["predictions"]["1"]  # five draws of substitutes, side by side
    assert p.shape == y.shape == (len(trained.test), 50)
    assert result["owners"]["1"].shape == (5, len(trained.test))
    assert not (result["owners"]["1"] == trained.test).any(), "a user was their own substitute"


@pytest.mark.slow  # the per-user loop is the slow reference the sweep replaces
def test_batched_sweep_agrees_with_the_per_user_loop(small_sweep):
    trained, result = small_sweep
    loop = nearmiss.per_user_loop(trained)
    assert loop["self"] == pytest.approx(result["accuracy"][0], abs=1e-9)
    assert loop["no_profile"] == pytest.approx(result["no_profile"]["accuracy"], abs=1e-9)
    assert set(loop) == set(result["buckets"]) | {"random", "no_profile"}
    # other random draws: the substituted conditions agree within sampling noise
    for label, acc in zip(result["buckets"][1:], result["accuracy"][1:]):
        assert loop[label] == pytest.approx(acc, abs=0.05), label


def test_output_profiles_reflect_choices():
    town = make_town(n_users=50, n_interactions=200, seed=1)
    prof = nearmiss.output_profiles(town, 200).reshape(50, town.config.n_topics, -1)
    usage = town.topic_mix
    main = usage.argmax(1)
    # on a user's main topic, the mean output points along their taste there
    taste = town.taste_start[np.arange(50), main] + town.population
    agree = (prof[np.arange(50), main] * taste).sum(1) > 0
    assert agree.mean() > 0.9
