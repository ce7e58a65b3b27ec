import numpy as np
import pytest

from course.similarity import cosine_similarity_matrix, nearest_neighbour


def test_cosine_matches_the_formula_and_handles_zero_rows():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 5))
    X[7] = 0
    S = cosine_similarity_matrix(X)
    for i, j in [(0, 1), (3, 19), (5, 5)]:
        expected = X[i] @ X[j] / np.linalg.norm(X[i]) / np.linalg.norm(X[j])
        assert S[i, j] == pytest.approx(expected)
    assert np.all(S[7] == 0) and np.all(S[:, 7] == 0)


def test_nearest_excludes_self_and_breaks_ties_low():
    S = np.array([[1.0, 0.5, 0.5], [0.1, 1.0, 0.9], [0.3, 0.9, 1.0]])
    np.testing.assert_array_equal(nearest_neighbour(S), [1, 2, 1])
    assert S[0, 0] == 1.0, "the input must not be modified"


def test_bad_shapes_raise_value_error():
    with pytest.raises(ValueError, match="X must be a 2-D"):
        cosine_similarity_matrix(np.ones(3))
    with pytest.raises(ValueError, match="square"):
        nearest_neighbour(np.ones((2, 3)))
