import numpy as np
import pytest

from course.world import TownConfig, make_town, topic_usage


def test_same_seed_same_town_and_other_seed_differs():
    a, b, c = make_town(n_users=50, seed=3), make_town(n_users=50, seed=3), make_town(n_users=50, seed=4)
    np.testing.assert_array_equal(a.choice, b.choice)
    assert not np.array_equal(a.choice, c.choice), "a different seed should give other choices"


def test_shapes_and_types():
    town = make_town(n_users=40, n_interactions=30, n_topics=5, n_dims=4, n_attributes=3)
    assert town.topic.shape == (40, 30) and town.topic.max() < 5
    assert town.candidates.shape == (40, 30, 2, 4)
    assert town.chosen.shape == (40, 30, 4)
    assert town.attributes.shape == (40, 3)
    assert set(np.unique(town.choice)) <= {0, 1}
    assert np.all(np.diff(town.time, axis=1) >= 0), "histories must be ordered in time"
    np.testing.assert_allclose(town.topic_mix.sum(1), 1, atol=1e-5)


def test_chosen_is_the_picked_candidate():
    town = make_town(n_users=20, n_interactions=10)
    first = town.choice == 1
    np.testing.assert_array_equal(town.chosen[first], town.candidates[:, :, 0][first])
    np.testing.assert_array_equal(town.chosen[~first], town.candidates[:, :, 1][~first])


def test_choices_follow_true_probabilities():
    town = make_town(n_users=500, n_interactions=100, seed=1)
    # the realized choice agrees with the likelier option about as often as the model says
    likely = (town.p_first > 0.5) == (town.choice == 1)
    expected = np.maximum(town.p_first, 1 - town.p_first).mean()
    assert abs(likely.mean() - expected) < 0.01


def test_topic_usage_matches_topic_mix():
    town = make_town(n_users=200, n_interactions=400, seed=2)
    usage = topic_usage(town)
    np.testing.assert_allclose(usage.sum(1), 1)
    assert np.abs(usage - town.topic_mix).mean() < 0.02


def test_community_members_share_topics():
    town = make_town(n_users=300, seed=0)
    mix = town.topic_mix
    same = town.community[:, None] == town.community[None, :]
    dist = np.abs(mix[:, None] - mix[None]).sum(-1)
    assert dist[same].mean() < 0.7 * dist[~same].mean(), "communities should share topic interests"


def test_no_drift_means_fixed_taste_and_drift_rotates_it():
    still = make_town(n_users=30, drift=0.0)
    np.testing.assert_array_equal(still.taste_at(np.ones(30)), still.taste_start)
    moving = make_town(n_users=30, drift=1.0)
    np.testing.assert_allclose(moving.taste_at(np.ones(30)), moving.taste_end, atol=1e-5)


@pytest.mark.parametrize("field,value", [("n_users", 0), ("shared_taste", 1.5),
                                         ("drift", -1.0), ("topic_focus", 0.0)])
def test_bad_parameters_name_the_parameter(field, value):
    with pytest.raises(ValueError, match=field):
        TownConfig(**{field: value})
