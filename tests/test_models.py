import numpy as np
import pytest
from sklearn.base import clone

from course import profiles as P
from course.models import PreferenceModel
from course.world import make_town


@pytest.fixture(scope="module")
def data():
    town = make_town(n_users=300, n_interactions=50, seed=2)
    layout = P.Layout.for_town(town, 16)
    users = np.arange(300)
    idx = np.broadcast_to(P.recent_indices(40, 16), (300, 16))
    X, y = P.examples(town, users, P.gather(P.item_features(town), users, idx), 40, layout)
    return layout, X, y


def test_estimator_contract(data):
    layout, X, y = data
    model = PreferenceModel(layout, epochs=2, progress=False, random_state=3)
    assert model.get_params()["random_state"] == 3
    assert clone(model).get_params()["layout"] == layout
    model.fit(X, y)
    first = X.subset(slice(0, 5))  # 5 users' profiles, 10 queries each
    proba = model.predict_proba(first)
    assert proba.shape == (50, 2) and np.allclose(proba.sum(1), 1)
    attention = model.attention(first)
    assert attention.shape == (50, 1 + layout.n_items) and np.allclose(attention.sum(1), 1)
    np.testing.assert_array_equal(model.predict(first), (proba[:, 1] > 0.5).astype(int))


def test_grouped_queries_score_as_if_asked_one_by_one(data):
    layout, X, y = data
    model = PreferenceModel(layout, epochs=1, progress=False).fit(X, y)
    first = X.subset(slice(0, 3))
    one_by_one = P.Episodes(np.repeat(first.items, 10, axis=0), first.query.reshape(30, 1, -1),
                            first.diff.reshape(30, 1, -1))
    np.testing.assert_allclose(model.decision_function(one_by_one),
                               model.decision_function(first), rtol=1e-5, atol=1e-5)


def test_same_seed_same_model(data):
    layout, X, y = data
    a = PreferenceModel(layout, epochs=1, progress=False).fit(X, y).decision_function(X)
    b = PreferenceModel(layout, epochs=1, progress=False).fit(X, y).decision_function(X)
    np.testing.assert_allclose(a, b)


def test_it_learns_from_profiles(data):
    layout, X, y = data
    train, test = X.subset(slice(0, 240)), X.subset(slice(240, None))
    model = PreferenceModel(layout, epochs=6, progress=False).fit(train, y[:2400])
    with_profile = (model.predict(test) == y[2400:]).mean()
    blank = P.Episodes(np.zeros_like(test.items), test.query, test.diff)
    without = (model.predict(blank) == y[2400:]).mean()
    assert with_profile > without + 0.02, f"profile {with_profile:.3f} vs none {without:.3f}"


def test_wrong_shapes_are_rejected(data):
    layout, X, y = data
    model = PreferenceModel(layout, progress=False)
    with pytest.raises(ValueError, match="X does not fit this layout"):
        model.fit(P.Episodes(X.items[..., :-1], X.query, X.diff), y)
    with pytest.raises(ValueError, match="y must have shape"):
        model.fit(X, y[:-1])
    with pytest.raises(TypeError, match="X must be course.profiles.Episodes"):
        model.fit(np.zeros((len(y), 5)), y)
