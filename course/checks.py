"""Helpers for the tests in lesson notebooks: every failure says expected, seen, and a hint."""
from __future__ import annotations

import contextlib
import importlib
import os
from typing import Iterator

import numpy as np

__all__ = ["check_shape", "check_close", "check_equal", "library_twin_disabled", "grading"]


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
