"""Helpers for the tests in lesson notebooks: every failure says expected, seen, and a hint.

How a lesson's test cell is written (design §4)
-----------------------------------------------
* Bind the helpers **inside the test cell** (``from course.checks import check_close, ...``),
  so that a student who redefines ``check_close`` in a solution cell does not reach the test.
* Hidden tests compute their expected values **in the test cell** (a few lines of reference
  code, or constants), never with the library, which a student can call or overwrite.
* Hidden tests call the student's function inside ``with checking():``. Every library function
  marked :func:`twin` (the reference version of an exercise) then raises, by whatever name
  or re-export the student reached it, so an answer that only calls the library fails.
* Inputs are adversarial: negative values, ties at sizes where an unstable sort reorders,
  unsorted times, probabilities of exactly 0 and 1, empty bins.
* "Vectorize" is checked with :func:`check_vectorized`, which counts the Python lines a call
  runs: a loop over rows runs at least one per row, a vectorized answer a few dozen in all.

The module cannot be changed from a notebook (assigning ``course.checks.check_close = ...``
raises), so a test cell that imports its helpers gets the real ones.
"""
from __future__ import annotations

import contextlib
import os
import sys
import types
from typing import Callable, Iterator, TypeVar

import numpy as np

__all__ = ["check_shape", "check_close", "check_equal", "check_raises", "check_vectorized",
           "python_lines", "twin", "checking", "grading", "CheckFailed"]

F = TypeVar("F", bound=Callable)


class CheckFailed(AssertionError):
    """Raised by a check; the message is written for a student."""


def _fail(what: str, expected, seen, hint: str) -> None:
    raise CheckFailed(f"{what}\n  expected: {expected}\n  seen:     {seen}\n  hint:     {hint}")


def _first(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()


def _where(what: str, bad: np.ndarray, where: tuple[int, ...]) -> str:
    """``what``, and for arrays how many entries differ and where the first one is."""
    return f"{what} ({int(bad.sum())} of {bad.size} entries differ; first at {where})" if bad.ndim else what


def check_shape(value, shape: tuple, what: str, hint: str = "") -> None:
    """Fail unless ``value`` is an array of ``shape``."""
    seen = getattr(value, "shape", None)
    if seen is None:
        _fail(what, f"an array of shape {shape}", f"{type(value).__name__} (not an array)",
              hint or "return a NumPy array, not a list or None")
    if tuple(seen) != tuple(shape):
        _fail(what, f"shape {tuple(shape)}", f"shape {tuple(seen)}",
              hint or "check which axis you reduced over")


def check_close(value, expected, what: str, hint: str, atol: float = 1e-6) -> None:
    """Fail unless ``value`` matches ``expected`` elementwise within ``atol``."""
    value, expected = np.asarray(value, dtype=float), np.asarray(expected, dtype=float)
    if value.shape != expected.shape:
        _fail(what, f"shape {expected.shape}", f"shape {value.shape}", hint)
    bad = ~np.isclose(value, expected, atol=atol, rtol=0, equal_nan=False)
    if bad.any():
        where = _first(bad)
        _fail(_where(what, bad, where), f"{expected[where]:.6g}", f"{value[where]:.6g}", hint)


def check_equal(value, expected, what: str, hint: str) -> None:
    """Fail unless ``value == expected`` (arrays compared elementwise)."""
    value, expected = np.asarray(value), np.asarray(expected)
    if value.shape != expected.shape:
        _fail(what, f"shape {expected.shape}", f"shape {value.shape}", hint)
    bad = np.asarray(value != expected)
    if bad.any():
        where = _first(bad)
        _fail(_where(what, bad, where), expected[where], value[where], hint)


def check_raises(call: Callable[[], object], error: type[BaseException], what: str,
                 hint: str) -> None:
    """Fail unless ``call()`` raises ``error``."""
    try:
        call()
    except error:
        return
    except Exception as err:  # noqa: BLE001 - the student sees what was raised instead
        _fail(what, f"{error.__name__} raised", f"{type(err).__name__}: {err}", hint)
    _fail(what, f"{error.__name__} raised", "no error", hint)


def python_lines(call: Callable[[], object]) -> tuple[object, int]:
    """Run ``call()`` and count the Python lines it executes, in every function it reaches.

    Returns ``(result, lines)``. NumPy's work in C counts nothing; a Python loop counts at
    least one line per pass, whether it is a ``for``, a comprehension, ``map`` with a lambda,
    ``np.vectorize`` or ``np.apply_along_axis``.
    """
    lines = 0

    def local(frame, event, arg):
        nonlocal lines
        lines += event == "line"
        return local

    def on_call(frame, event, arg):
        nonlocal lines
        lines += 1
        return local

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        result = call()
    finally:
        sys.settrace(previous)
    return result, lines


def check_vectorized(call: Callable[[], object], rows: int, what: str, hint: str = ""):
    """Run ``call()`` on an input of ``rows`` rows; fail if it runs a Python loop over them.

    A loop over rows executes at least one Python line per row; a vectorized answer runs a
    few dozen lines in all (NumPy's Python wrappers included), so the limit is ``rows // 4``.
    Counting lines, not seconds, gives the same verdict on a busy machine. Returns the result.
    """
    result, lines = python_lines(call)
    limit = rows // 4
    if lines > limit:
        _fail(f"{what}: Python lines run on {rows:,} rows", f"at most {limit:,} (a vectorized answer "
              f"runs a few dozen)", f"{lines:,}", hint or "no Python loop over rows: let NumPy "
              "work on whole arrays (broadcasting, axis=, np.einsum, fancy indexing)")
    return result


#: names of the twins that raise right now ("module.function"), or "*" for all of them;
#: rebound, never mutated, so a reference to it cannot switch the guard off
_disabled: frozenset[str] = frozenset()


def twin(func: F) -> F:
    """Mark a library function as the reference version of an exercise (its *twin*).

    The returned function behaves exactly like ``func``, except inside :func:`checking`, where
    it raises :class:`CheckFailed`. The check lives in the function object itself, so it holds
    for every name the function is reached by: ``from course.x import f as g`` before the
    test, or a re-export in another module.
    """
    key = f"{func.__module__}.{func.__name__}"

    def guarded(*args, **kwargs):
        if "*" in _disabled or key in _disabled:
            raise CheckFailed("Your answer called the course library's reference version "
                              f"({key}). Write the computation yourself: that is the exercise.")
        return func(*args, **kwargs)

    guarded.__name__, guarded.__qualname__ = func.__name__, func.__qualname__
    guarded.__doc__, guarded.__module__ = func.__doc__, func.__module__
    guarded.__twin__ = key
    return guarded  # type: ignore[return-value]


@contextlib.contextmanager
def checking(*twins: str) -> Iterator[None]:
    """While the block runs, library twins raise: all of them, or only those named
    (``"course.nearmiss.rank_substitutes"``), so that a test checks the student's own code."""
    global _disabled
    added = (frozenset(twins) or frozenset({"*"})) - _disabled
    _disabled = _disabled | added
    try:
        yield
    finally:
        _disabled = _disabled - added


def grading() -> bool:
    """True while nbgrader validates or autogrades (it sets ``NBGRADER_EXECUTION``).

    Lessons run in full while graded, so that the graded notebook shows what the student saw;
    they use it only to skip what grading cannot do (a download) and say so in a sentence.
    """
    return bool(os.environ.get("NBGRADER_EXECUTION"))


class _Sealed(types.ModuleType):
    """This module, read-only: a solution cell cannot swap a helper a test cell imports."""

    def __setattr__(self, name, value):
        raise AttributeError(f"course.checks is read-only: {name} cannot be replaced")

    def __delattr__(self, name):
        raise AttributeError(f"course.checks is read-only: {name} cannot be deleted")


types.ModuleType.__setattr__(sys.modules[__name__], "__class__", _Sealed)
