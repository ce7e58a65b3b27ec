import numpy as np
import pytest

import course.similarity
from course.checks import CheckFailed, check_close, check_equal, check_shape, library_twin_disabled


def test_messages_say_expected_seen_and_hint():
    with pytest.raises(CheckFailed) as err:
        check_close([1.0, 2.0], [1.0, 3.0], "the thing", "try harder")
    text = str(err.value)
    assert "expected: 3" in text and "seen:     2" in text and "hint:     try harder" in text


def test_checks_pass_on_correct_values():
    check_close(np.ones(3), [1, 1, 1], "ones", "-")
    check_equal([1, 2], np.array([1, 2]), "ints", "-")
    check_shape(np.zeros((2, 3)), (2, 3), "zeros", "-")


@pytest.mark.parametrize("call", [
    lambda: check_shape([1, 2], (2,), "a list", "h"),
    lambda: check_shape(np.zeros(3), (2,), "wrong shape", "h"),
    lambda: check_equal([1, 2], [1, 3], "ints", "h"),
    lambda: check_close(np.zeros(2), np.zeros(3), "shapes", "h"),
])
def test_checks_fail_on_wrong_values(call):
    with pytest.raises(CheckFailed):
        call()


def test_library_twin_is_disabled_then_restored():
    original = course.similarity.cosine_similarity_matrix
    with library_twin_disabled("course.similarity", "cosine_similarity_matrix"):
        with pytest.raises(CheckFailed, match="reference version"):
            course.similarity.cosine_similarity_matrix(np.ones((2, 2)))
    assert course.similarity.cosine_similarity_matrix is original
