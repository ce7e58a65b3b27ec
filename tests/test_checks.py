import numpy as np
import pytest

import course.checks
import course.similarity
from course.checks import (CheckFailed, check_close, check_equal, check_raises, check_shape,
                           check_vectorized, checking, python_lines, twin)


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


def test_a_scalar_mismatch_says_no_entry_count():
    with pytest.raises(CheckFailed) as err:
        check_close(0.5, 0.25, "the gap", "h")
    assert "entries differ" not in str(err.value) and "the gap\n" in str(err.value)
    with pytest.raises(CheckFailed, match=r"\(1 of 3 entries differ; first at \(2,\)\)"):
        check_equal([1, 2, 3], [1, 2, 4], "ints", "h")


def test_library_twins_raise_inside_checking_by_every_route():
    import course.nearmiss
    import course.uncertainty

    routes = [course.similarity.cosine_similarity_matrix, course.nearmiss.cosine_similarity_matrix,
              course.uncertainty.cosine_similarity_matrix]
    assert all(r is routes[0] for r in routes), "a re-export is the same guarded function"
    with checking():
        for route in routes:
            with pytest.raises(CheckFailed, match="reference version"):
                route(np.ones((2, 2)))
    assert course.similarity.cosine_similarity_matrix(np.eye(2)).shape == (2, 2)


def test_checks_module_cannot_be_patched_from_a_notebook():
    for name in ("check_close", "checking", "_disabled"):
        with pytest.raises(AttributeError, match="read-only"):
            setattr(course.checks, name, None)
    with pytest.raises(AttributeError, match="read-only"):
        del course.checks.check_equal
    assert course.checks.check_close is check_close


def _rows_in_a_loop(X):
    return np.array([row * 2 for row in X])


def test_vectorized_code_passes_and_a_loop_over_rows_fails():
    X = np.ones((2000, 3))
    assert np.array_equal(check_vectorized(lambda: X * 2, 2000, "doubling"), X * 2)
    _, lines = python_lines(lambda: _rows_in_a_loop(X))
    assert lines >= 2000
    for loop in (lambda: _rows_in_a_loop(X), lambda: np.apply_along_axis(lambda r: r * 2, 1, X),
                 lambda: list(map(lambda r: r * 2, X))):
        with pytest.raises(CheckFailed, match="Python lines run on 2,000 rows"):
            check_vectorized(loop, 2000, "doubling")


def _reference(x):
    """A stand-in twin, defined here so the test does not depend on a lesson's module."""
    return x + 1


def test_a_twin_raises_inside_checking_by_any_name_and_only_there():
    guarded = twin(_reference)
    captured = guarded  # a student's `from course.x import f as g` before the test
    assert captured(1) == 2 and guarded.__name__ == "_reference" and guarded.__doc__ == _reference.__doc__
    with checking():
        with pytest.raises(CheckFailed, match="reference version"):
            captured(1)
    with checking(f"{__name__}._reference"):
        with pytest.raises(CheckFailed):
            captured(1)
    with checking("course.somewhere_else.other"):
        assert captured(1) == 2, "only the named twins raise"
    assert captured(1) == 2, "twins work again after the block"


def test_nested_checking_keeps_the_outer_block_in_force():
    guarded = twin(_reference)
    with checking():
        with checking(f"{__name__}._reference"):
            pass
        with pytest.raises(CheckFailed):
            guarded(1)


def test_check_raises_names_what_happened_instead():
    check_raises(lambda: int("x"), ValueError, "int of a word", "-")
    with pytest.raises(CheckFailed, match="no error"):
        check_raises(lambda: 1, ValueError, "nothing raised", "h")
    with pytest.raises(CheckFailed, match="KeyError"):
        check_raises(lambda: {}["k"], ValueError, "another error", "h")
