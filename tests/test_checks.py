import numpy as np
import pytest

import course.checks
import course.similarity
from course import plaindata
from course.checks import (CheckFailed, check_close, check_equal, check_raises, check_shape,
                           check_vectorized, checking, hidden_seeds, python_lines, record, records,
                           student_function, twin)


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


def _doubled(X):
    return X * 2


def _applied(X):
    return np.apply_along_axis(lambda r: r * 2, 1, X)


def _mapped(X):
    return np.array(list(map(lambda r: r * 2, X)))


def test_vectorized_code_passes_and_a_loop_over_rows_fails():
    X = np.ones((2000, 3))
    doubled = student_function("_doubled")
    assert np.array_equal(check_vectorized(lambda: doubled(X), 2000, "doubling"), X * 2)
    looped = student_function("_rows_in_a_loop")
    _, lines = python_lines(lambda: looped(X))
    assert lines >= 2000
    for name in ("_rows_in_a_loop", "_applied", "_mapped"):
        loop = student_function(name)
        with pytest.raises(CheckFailed, match="Python lines run on 2,000 rows"):
            check_vectorized(lambda: loop(X), 2000, "doubling")
    with pytest.raises(RuntimeError, match="called no student function"):
        check_vectorized(lambda: X * 2, 2000, "an authoring mistake")
    with pytest.raises(RuntimeError, match="called no student function"):
        python_lines(lambda: X * 2)


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


# --- a student's functions, called through plain data ----------------------------------------

class _AlwaysEqual:
    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        return np.zeros(3)


def _returns_a_trick(x):
    return _AlwaysEqual()


def _returns_a_list_subclass(x):
    return type("Sneaky", (list,), {"__eq__": lambda self, other: True})([1])


def _returns_objects(x):
    return np.array([_AlwaysEqual()], dtype=object)


def _changes_its_input(x):
    x[0] = -1.0
    return x.sum()


def _make_adder(k):
    return lambda x: x + k


def _fails(x):
    raise KeyError(f"no {x}")


def test_results_that_are_not_plain_data_fail_with_what_was_expected():
    for name in ("_returns_a_trick", "_returns_a_list_subclass", "_returns_objects"):
        with pytest.raises(TypeError, match="NumPy array of numbers"):
            student_function(name)(1)


def test_a_student_function_gets_copies_and_returns_them_on_request():
    x = np.ones(3)
    total, (seen,) = student_function("_changes_its_input").with_inputs(x)
    assert total == 1.0 and seen[0] == -1.0 and x[0] == 1.0, "the test's own input is untouched"


def test_a_returned_function_comes_back_callable_and_errors_keep_their_kind():
    add = student_function("_make_adder")(2)
    assert add(np.arange(3)).tolist() == [2, 3, 4]
    check_raises(lambda: student_function("_fails")(1), KeyError, "a KeyError", "-")
    with pytest.raises(NameError, match="defines no function 'renamed'"):
        student_function("renamed")(1)


def test_plain_data_round_trips_and_malformed_data_is_refused():
    import scipy.sparse as sp

    from course.capstone import Evidence

    value = {"a": [1, 2.5, None, True, "s", (np.int64(3), np.arange(4.0).reshape(2, 2))],
             7: np.array(["x", "yz"]), "z": 1 + 2j}
    node, buffers = plaindata.encode(value, inbound=False)
    back = plaindata.decode(node, buffers, inbound=False)
    assert back["a"][:5] == [1, 2.5, None, True, "s"] and back[7].tolist() == ["x", "yz"]
    assert isinstance(back["a"][5][0], np.int64) and back["a"][5][1].flags.writeable
    ev = Evidence(*(np.arange(3.0) for _ in range(8)))
    node, buffers = plaindata.encode((ev, sp.csr_matrix(np.eye(3))), inbound=True)
    ev2, m = plaindata.decode(node, buffers, inbound=True)
    assert isinstance(ev2, Evidence) and (m.toarray() == np.eye(3)).all()
    with pytest.raises(plaindata.PlainDataError):
        plaindata.encode(ev, inbound=False)  # a dataclass never comes back from a student
    for bad in ({"t": "array", "dtype": "O", "shape": [1], "b": 0}, {"t": "array", "dtype": "<f8", "shape": [2], "b": 0},
                {"t": "dataclass", "cls": "os.path"}, {"t": "pickle"}, ["not", "a", "node"]):
        with pytest.raises(plaindata.PlainDataError):
            plaindata.decode(bad, [b"12345678"], inbound=False)


def test_hidden_seeds_and_records_in_an_own_run():
    assert hidden_seeds(3, "x") == hidden_seeds(3, "x") != hidden_seeds(3, "y")
    record("board", {"a": 1})
    assert records()["board"] == {"a": 1}


def _student_answer(x):
    return x + 1


def _calls_another(x):
    return _student_answer(x) * 2


def test_a_test_cell_that_rebinds_the_students_name_keeps_calling_the_student(monkeypatch):
    """A test cell says ``f = student_function("f")`` in the notebook's namespace: the name then
    holds the proxy, and running the cell again, or a student function that calls ``f``, must
    still reach the student's own function (not the proxy, recursively)."""
    namespace = {"_student_answer": _student_answer, "_calls_another": _calls_another}
    exec('f = student_function("_student_answer")\n'
         '_student_answer = student_function("_student_answer")\n'
         '_student_answer = student_function("_student_answer")\n'
         'g = student_function("_calls_another")', {"student_function": student_function, **namespace}, namespace)
    monkeypatch.setitem(globals(), "_student_answer", namespace["_student_answer"])
    assert namespace["_student_answer"](np.ones(2)).tolist() == [2.0, 2.0]
    assert namespace["g"](np.ones(2)).tolist() == [4.0, 4.0], "a student function calling another"
