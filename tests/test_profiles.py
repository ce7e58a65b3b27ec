import numpy as np
import pytest

from course import profiles as P
from course.world import make_town


@pytest.fixture(scope="module")
def town():
    return make_town(n_users=60, n_interactions=40, seed=1, drift=1.0)


def test_kept_tokens_cuts_outputs_of_pairs_first():
    assert P.kept_tokens("both", 10, 4) == (4, 4)
    assert P.kept_tokens("both", 6, 4) == (4, 0)
    assert P.kept_tokens("outputs", 6, 4) == (0, 4)
    assert P.kept_tokens("inputs", 2, 4) == (1, 0)
    assert P.kept_tokens("none", 99, 4) == (0, 0)


def test_source_mask_matches_kept_tokens(town):
    T, D = town.config.n_topics, town.config.n_dims
    mask = P.source_mask("both", D + 3, T, D)
    assert mask[1:1 + T].all(), "the topic token survives"
    assert mask[1 + T:1 + T + D].sum() == D and mask[1 + T + D:1 + T + 2 * D].sum() == 1
    assert P.source_mask("none", 50, T, D)[1:].sum() == 0


def test_inputs_carry_no_output_numbers(town):
    feat = P.item_features(town)
    masked = feat * P.source_mask("inputs", 100, town.config.n_topics, town.config.n_dims)
    T, D = town.config.n_topics, town.config.n_dims
    assert np.all(masked[..., 1 + T + D:1 + T + 2 * D] == 0)


def test_most_recent_and_most_similar_pick_the_right_items():
    time = np.array([[3.0, 1.0, 2.0, 0.0]])
    np.testing.assert_array_equal(P.most_recent(time, 2), [[2, 0]])
    past = np.array([[[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]])
    np.testing.assert_array_equal(P.most_similar(past, np.array([[1.0, 0.1]]), 2), [[2, 0]])


def test_topic_summary_by_hand():
    topic = np.array([[0, 0, 1]])
    out = np.array([[[2.0], [4.0], [1.0]]])
    time = np.array([[0.0, 1.0, 1.0]])
    summary, total = P.topic_summary(topic, out, time, 2, half_life=1.0)
    np.testing.assert_allclose(total, [[1.5, 1.0]])
    np.testing.assert_allclose(summary[0, :, 0], [(0.5 * 2 + 4) / 2.5, 1 / 2])


def test_examples_group_each_users_queries_under_one_profile(town):
    layout = P.Layout.for_town(town, 3)
    users = np.array([4, 7])
    idx = np.broadcast_to(P.recent_indices(30, 3), (2, 3))
    items = P.gather(P.item_features(town), users, idx)
    X, y = P.examples(town, users, items, 30, layout)
    assert (X.items.shape, X.query.shape, X.diff.shape) == (
        (2, 3, layout.item_dim), (2, 10, layout.query_dim), (2, 10, town.config.n_dims))
    assert len(X) == 20
    np.testing.assert_array_equal(X.items, items)
    np.testing.assert_array_equal(y, town.choice[users, 30:].ravel())
    np.testing.assert_array_equal(X.diff[1, 2], town.difference[7, 32])
    np.testing.assert_array_equal(X.query[1, 2, :town.config.n_topics].argmax(), town.topic[7, 32])


def test_examples_with_a_profile_per_query_make_one_episode_per_query(town):
    layout = P.Layout.for_town(town, 3)
    users = np.array([4, 7])
    items = np.random.default_rng(0).random((2, 10, 3, layout.item_dim)).astype(np.float32)
    X, y = P.examples(town, users, items, 30, layout)
    assert (X.items.shape, X.query.shape) == ((20, 3, layout.item_dim), (20, 1, layout.query_dim))
    np.testing.assert_array_equal(X.items[13], items[1, 3])
    np.testing.assert_array_equal(X.diff[13, 0], town.difference[7, 33])
    np.testing.assert_array_equal(X.subset([13]).items[0], items[1, 3])


@pytest.mark.parametrize("call,match", [
    (lambda t: P.kept_tokens("everything", 3, 4), "source must be one of"),
    (lambda t: P.recent_indices(10, 0), "k must be between 1"),
    (lambda t: P.most_recent(np.ones(3), 1), r"time must be \(U, H\)"),
    (lambda t: P.summary_items(t, 30, 99), "k must be between 1 and the number of topics"),
    (lambda t: P.topic_summary(t.topic, t.output, t.time, 16, 0.0), "half_life must be positive"),
    (lambda t: P.examples(t, np.arange(2), np.zeros((2, 4, 27)), 30, P.Layout.for_town(t, 3)),
     "items must end with"),
    (lambda t: P.examples(t, np.arange(3), np.zeros((2, 3, 27)), 30, P.Layout.for_town(t, 3)),
     "items must have shape"),
])
def test_bad_arguments_name_the_argument(town, call, match):
    with pytest.raises(ValueError, match=match):
        call(town)
