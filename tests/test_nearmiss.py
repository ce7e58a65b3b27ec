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


def test_batched_sweep_agrees_with_the_per_user_loop(small_sweep):
    trained, result = small_sweep
    loop = nearmiss.per_user_loop(trained)
    assert loop["self"] == pytest.approx(result["accuracy"][0], abs=1e-9)
    assert set(loop) == set(result["buckets"]) | {"random"}


def test_output_profiles_reflect_choices():
    town = make_town(n_users=50, n_interactions=200, seed=1)
    prof = nearmiss.output_profiles(town, 200).reshape(50, town.config.n_topics, -1)
    usage = town.topic_mix
    main = usage.argmax(1)
    # on a user's main topic, the mean output points along their taste there
    taste = town.taste_start[np.arange(50), main] + town.population
    agree = (prof[np.arange(50), main] * taste).sum(1) > 0
    assert agree.mean() > 0.9
