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
    proba = model.predict_proba(X[:50])
    assert proba.shape == (50, 2) and np.allclose(proba.sum(1), 1)
    attention = model.attention(X[:5])
    assert attention.shape == (5, 1 + layout.n_items) and np.allclose(attention.sum(1), 1)
    np.testing.assert_array_equal(model.predict(X[:50]), (proba[:, 1] > 0.5).astype(int))


def test_same_seed_same_model(data):
    layout, X, y = data
    a = PreferenceModel(layout, epochs=1, progress=False).fit(X, y).decision_function(X[:20])
    b = PreferenceModel(layout, epochs=1, progress=False).fit(X, y).decision_function(X[:20])
    np.testing.assert_allclose(a, b)


def test_it_learns_from_profiles(data):
    layout, X, y = data
    train, test = slice(0, 2400), slice(2400, None)
    model = PreferenceModel(layout, epochs=6, progress=False).fit(X[train], y[train])
    with_profile = (model.predict(X[test]) == y[test]).mean()
    blank = X[test].copy()
    blank[:, :layout.n_items * layout.item_dim] = 0
    without = (model.predict(blank) == y[test]).mean()
    assert with_profile > without + 0.02, f"profile {with_profile:.3f} vs none {without:.3f}"


def test_wrong_shapes_are_rejected(data):
    layout, X, y = data
    model = PreferenceModel(layout, progress=False)
    with pytest.raises(ValueError, match="X must have shape"):
        model.fit(X[:, :-1], y)
    with pytest.raises(ValueError, match="y must have shape"):
        model.fit(X, y[:-1])
