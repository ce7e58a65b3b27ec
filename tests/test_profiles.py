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


def test_pack_and_unpack_round_trip(town):
    layout = P.Layout.for_town(town, 5)
    items = np.random.default_rng(0).random((3, 4, layout.item_dim)).astype(np.float32)
    q, d = np.ones((3, layout.query_dim)), np.full((3, town.config.n_dims), 2.0)
    back_items, back_q, back_d = P.unpack(P.pack(items, q, d, layout), layout)
    np.testing.assert_array_equal(back_items[:, :4], items)
    assert np.all(back_items[:, 4] == 0) and np.all(back_q == 1) and np.all(back_d == 2)


def test_examples_are_user_major_with_held_out_queries(town):
    layout = P.Layout.for_town(town, 3)
    users = np.array([4, 7])
    idx = np.broadcast_to(P.recent_indices(30, 3), (2, 3))
    X, y = P.examples(town, users, P.gather(P.item_features(town), users, idx), 30, layout)
    assert X.shape == (2 * 10, layout.width)
    np.testing.assert_array_equal(y, town.choice[users, 30:].ravel())


@pytest.mark.parametrize("call,match", [
    (lambda t: P.kept_tokens("everything", 3, 4), "source must be one of"),
    (lambda t: P.recent_indices(10, 0), "k must be between 1"),
    (lambda t: P.most_recent(np.ones(3), 1), r"time must be \(U, H\)"),
    (lambda t: P.summary_items(t, 30, 99), "k must be between 1 and the number of topics"),
    (lambda t: P.topic_summary(t.topic, t.output, t.time, 16, 0.0), "half_life must be positive"),
    (lambda t: P.unpack(np.zeros((2, 3)), P.Layout.for_town(t, 2)), "X must have"),
])
def test_bad_arguments_name_the_argument(town, call, match):
    with pytest.raises(ValueError, match=match):
        call(town)
