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
"""
from __future__ import annotations

import contextlib
import importlib
import os
from typing import Callable, Iterator, TypeVar

import numpy as np

__all__ = ["check_shape", "check_close", "check_equal", "check_raises", "twin", "checking",
           "library_twin_disabled", "grading", "CheckFailed"]

F = TypeVar("F", bound=Callable)


class CheckFailed(AssertionError):
    """Raised by a check; the message is written for a student."""


def _fail(what: str, expected, seen, hint: str) -> None:
    raise CheckFailed(f"{what}\n  expected: {expected}\n  seen:     {seen}\n  hint:     {hint}")


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
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail(f"{what} ({int(bad.sum())} of {bad.size} entries differ; first at {where})",
              f"{expected[where]:.6g}", f"{value[where]:.6g}", hint)


def check_equal(value, expected, what: str, hint: str) -> None:
    """Fail unless ``value == expected`` (arrays compared elementwise)."""
    value, expected = np.asarray(value), np.asarray(expected)
    if value.shape != expected.shape:
        _fail(what, f"shape {expected.shape}", f"shape {value.shape}", hint)
    bad = value != expected
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
        _fail(f"{what} ({int(bad.sum())} of {bad.size} entries differ; first at {where})",
              expected[where], value[where], hint)


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


#: names of the twins that raise right now ("module.function"), or "*" for all of them
_disabled: set[str] = set()


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
            _twin_raises()
        return func(*args, **kwargs)

    guarded.__name__, guarded.__qualname__ = func.__name__, func.__qualname__
    guarded.__doc__, guarded.__module__ = func.__doc__, func.__module__
    guarded.__twin__ = key
    return guarded  # type: ignore[return-value]


@contextlib.contextmanager
def checking(*twins: str) -> Iterator[None]:
    """While the block runs, library twins raise: all of them, or only those named
    (``"course.nearmiss.rank_substitutes"``), so that a test checks the student's own code."""
    names = set(twins) or {"*"}
    added = names - _disabled
    _disabled.update(added)
    try:
        yield
    finally:
        _disabled.difference_update(added)


def _twin_raises(*args, **kwargs):
    raise CheckFailed("Your answer called the course library's reference version. "
                      "Write the computation yourself: that is the exercise.")


@contextlib.contextmanager
def library_twin_disabled(module: str, name: str) -> Iterator[None]:
    """Swap a library twin for one that raises, so a test checks the student's own code."""
    mod = importlib.import_module(module)
    original = getattr(mod, name)
    setattr(mod, name, _twin_raises)
    try:
        yield
    finally:
        setattr(mod, name, original)


def grading() -> bool:
    """True while nbgrader validates or autogrades (it sets ``NBGRADER_EXECUTION``).

    Lessons use it to shrink heavy work (fewer users, fewer epochs) during grading.
    """
    return bool(os.environ.get("NBGRADER_EXECUTION"))
