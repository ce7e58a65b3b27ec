"""Helpers for the tests in lesson notebooks: every failure says expected, seen, and a hint.

How a lesson's test cell is written (design §4 and §9)
------------------------------------------------------
Under grading a test cell never runs in the student's kernel: the grader runs it in a trusted
process of its own (its *judge*, ``autograder/judge.py``), and each call to a student's function
crosses to the kernel and back as plain data (:mod:`course.plaindata`). In a student's own run
the same cell runs in the kernel and calls cross the same boundary in place, so it behaves and
fails the same way. One way to write a test cell works in both:

* The cell imports everything it uses itself (``import numpy as np``, the check helpers from
  ``course.checks``, library modules) and names each student function it calls::

      nearest_neighbour = student_function("nearest_neighbour")

  It uses no other name from the notebook, and later cells use no name the test cell makes.
  A student function gets copies of its inputs; ``f.with_inputs(*args)`` returns
  ``(result, inputs_after_the_call)`` to check that inputs were left unchanged. Results come
  back as arrays, numbers, strings, lists, tuples and dicts, or fail with a message that says
  what was expected; a function the student returns comes back callable, the same way.
* Expected values are computed **in the cell** (a few lines of reference code, or constants),
  never with a student's code and never with a library twin.
* Hidden tests call the student's functions inside ``with checking():``. Every library
  function marked :func:`twin` (the reference version of an exercise) then raises in the
  kernel, by whatever name the student reached it, so an answer that only calls it fails.
* Inputs are adversarial: negative values, ties at sizes where an unstable sort reorders,
  unsorted times, probabilities of exactly 0 and 1, empty bins.
* "Vectorize" is checked with :func:`check_vectorized`, which counts the Python lines the
  student's function runs (in the kernel): a loop over rows runs at least one per row.
* Seeds of hidden data that must stay secret come from :func:`hidden_seeds` (under grading they
  derive from the class's private secret); results an instructor wants beyond the score go to
  :func:`record` (under grading, stored by the grader, out of the kernel's reach).

``tests/test_notebooks.py`` fails a test cell that does not follow these rules. The module
cannot be changed from a notebook (assigning ``course.checks.check_close = ...`` raises).
"""
from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import re
import sys
import traceback
import types
from typing import Any, Callable, Iterator, TypeVar

import numpy as np

from . import plaindata

__all__ = ["check_shape", "check_close", "check_equal", "check_raises", "check_vectorized",
           "python_lines", "twin", "checking", "grading", "student_function", "StudentFunction",
           "hidden_seeds", "record", "records", "serve", "CheckFailed"]

#: the comm target through which the grader's judge calls a kernel's functions
COMM_TARGET = "course.checks"
MAX_MESSAGE = 2000  # characters of a student's error message kept
MAX_TRACE = 40  # lines of a student's traceback kept
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,79}$")

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


def _traced_lines(call: Callable[[], object]) -> tuple[object, int]:
    """Run ``call()`` here and count the Python lines it executes, in every function it reaches.

    NumPy's work in C counts nothing; a Python loop counts at least one line per pass, whether
    it is a ``for``, a comprehension, ``map`` with a lambda, ``np.vectorize`` or
    ``np.apply_along_axis``.
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


def python_lines(call: Callable[[], object]) -> tuple[object, int]:
    """Run ``call()``, which calls student functions, and count the Python lines *they* run
    (where they run: in the kernel, under grading too). Returns ``(result, lines)``.

    A Python loop counts at least one line per pass, whether it is a ``for``, a comprehension,
    ``map`` with a lambda, ``np.vectorize`` or ``np.apply_along_axis``; NumPy's work in C
    counts nothing."""
    global _counting
    outer, _counting = _counting, [0, 0]  # [student calls, their Python lines]
    try:
        result = call()
    finally:
        counted, _counting = _counting, outer
    if not counted[0]:
        raise RuntimeError("python_lines() called no student function: call one named with "
                           "student_function() inside it")
    if outer is not None:  # nested: the outer count includes these
        outer[0] += counted[0]
        outer[1] += counted[1]
    return result, counted[1]


def check_vectorized(call: Callable[[], object], rows: int, what: str, hint: str = ""):
    """Run ``call()``, which calls student functions on an input of ``rows`` rows; fail if they
    run a Python loop over the rows.

    Only the lines of the student's functions count (:func:`python_lines`). A loop over rows
    executes at least one Python line per row; a vectorized answer runs a few dozen lines in
    all (NumPy's Python wrappers included), so the limit is ``rows // 4``. Counting lines, not
    seconds, gives the same verdict on a busy machine. Returns the result.
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


# --- a student's functions, called through plain data ----------------------------------------

#: the judge's channel to the kernel while grading (see ``autograder/judge.py``); None in a
#: student's own run, where calls happen in place
_transport = None
#: [calls, lines] while check_vectorized counts; None otherwise
_counting: list[int] | None = None
#: functions a student's function returned, in a student's own run
_handles = plaindata.Handles()
#: what record() kept in a student's own run
_records: dict[str, Any] = {}
#: > 0 while a student's function runs (call_here): a student function it calls is called as is
_inside = 0


class StudentFunction:
    """A student's function as a test calls it: inputs and results cross as plain data
    (:mod:`course.plaindata`). Make one with :func:`student_function`."""

    def __init__(self, name: str, namespace: dict | None = None, func: Callable | None = None,
                 handle: int | None = None):
        self.name, self._namespace, self._func, self._handle = name, namespace, func, handle
        self.__name__ = name

    def __repr__(self) -> str:
        return f"<your function {self.name}>"

    def __call__(self, *args, **kwargs):
        if _inside and _transport is None:  # one student function calling another, as graded
            return self._function()(*args, **kwargs)
        return self._call(args, kwargs, return_inputs=False)[0]

    def with_inputs(self, *args, **kwargs) -> tuple[Any, tuple]:
        """``(result, inputs)``: the result, and the positional inputs as they are after the
        call (the function received copies; these are its copies)."""
        return self._call(args, kwargs, return_inputs=True)

    def _call(self, args: tuple, kwargs: dict, return_inputs: bool) -> tuple[Any, tuple | None]:
        request = {"twins_off": sorted(_disabled) or None, "count_lines": _counting is not None,
                   "return_inputs": return_inputs}
        node, buffers = plaindata.encode((list(args), kwargs), inbound=True)
        if _transport is not None:
            target = {"handle": self._handle} if self._handle is not None else {"name": self.name}
            reply, back = _transport.call(target, node, buffers, request)
            make = lambda number, label: StudentFunction(label, handle=number)  # noqa: E731
        else:
            reply, back = self._here(node, buffers, request)
            make = lambda number, label: StudentFunction(label, func=_handles.table[number])  # noqa: E731
        if _counting is not None:
            _counting[0] += 1
            _counting[1] += int(reply.get("lines", 0))
        if "error" in reply:
            raise _rebuilt(reply["error"])
        value, inputs = plaindata.decode(reply["value"], back, inbound=False, handle=make)
        return value, (tuple(inputs) if inputs is not None else None)

    def _function(self) -> Callable | None:
        """The student's function itself: the one this names when it was made, else the one
        the notebook defines now (never a test's own StudentFunction of the same name)."""
        if self._func is not None:
            return self._func
        found = (self._namespace or {}).get(self.name)
        return found._func if isinstance(found, StudentFunction) else found

    def _here(self, node: dict, buffers: list, request: dict) -> tuple[dict, list]:
        """The call in this process (a student's own run): the same crossing, in place."""
        args, kwargs = plaindata.decode(node, buffers, inbound=True)
        func = self._function()
        if not callable(func):
            return {"error": missing(self.name)}, []
        result = call_here(func, tuple(args), kwargs, twins_off=request["twins_off"],
                                   count_lines=request["count_lines"])
        if "exception" in result:  # the student's own error, with its traceback
            raise result["exception"]
        return reply_for(result, tuple(args) if request["return_inputs"] else None, _handles)


def student_function(name: str) -> StudentFunction:
    """The student's function ``name``, defined in the notebook, as a test cell calls it.

    In a student's own run it is the function the notebook defines now (or, if none yet, when
    called); a test cell that binds it to the student's name replaces the name with this
    object, which keeps calling the student's own function. Under grading the call goes to the
    student's kernel. Either way the function gets copies of its inputs and its result comes
    back as plain data (see the module doc)."""
    namespace = sys._getframe(1).f_globals
    current = namespace.get(name)
    if isinstance(current, StudentFunction):
        current = current._func
    return StudentFunction(name, namespace=namespace, func=current if callable(current) else None)


def _rebuilt(error: dict) -> BaseException:
    """A student's error, described in plain data, as an exception of the same built-in kind
    (so that ``except ValueError`` and :func:`check_raises` work) with the same message."""
    base: type[BaseException] = RuntimeError
    for name in error.get("bases", []):
        found = CheckFailed if name == "CheckFailed" else getattr(builtins, name, None)
        if isinstance(found, type) and issubclass(found, Exception):
            base = found
            break
    else:
        if error.get("bases"):  # an interrupt or exit inside the student's function
            error = {**error, "message": f"your function stopped: {error.get('type')} "
                                         f"{error.get('message', '')}".rstrip()}
    name = str(error.get("type", "Error"))
    kind = base if name == base.__name__ else type(name, (base,), {"__module__": "submission"})
    try:
        err = kind(str(error.get("message", "")))
    except TypeError:  # a built-in kind whose constructor wants more (e.g. UnicodeDecodeError)
        err = type(name, (RuntimeError,), {"__module__": "submission"})(str(error.get("message", "")))
    err.student_trace = list(error.get("trace", []))
    return err


def hidden_seeds(n: int, name: str = "unseen") -> list[int]:
    """``n`` seeds for hidden data. Under grading they derive from the class's private secret
    (the same in every re-grade, never in the course's files); in a student's or an author's own
    run, from the public text ``name`` (so they differ from the graded ones)."""
    if _transport is not None:
        return list(_transport.seeds(name, n))
    return [int.from_bytes(hashlib.sha256(f"public|{name}|{i}".encode()).digest()[:4], "big")
            for i in range(n)]


def record(name: str, value: Any) -> None:
    """Keep ``value`` (numbers, strings, lists and dicts) under ``name`` for the instructor,
    beside the score: under grading the grader stores it, signed, out of the kernel's reach
    (e.g. lesson 07's leaderboard); in an own run :func:`records` returns it."""
    if _transport is not None:
        _transport.record(name, value)
    else:
        _records[name] = value


def records() -> dict[str, Any]:
    """What :func:`record` kept in this process (an own run)."""
    return dict(_records)


def _judge_with(transport) -> None:
    """Used by the grader's judge only: send student calls through ``transport``."""
    global _transport
    _transport = transport


# --- calling a student's function, here (a student's own run, or the kernel under grading) ---------------------------------------------------------

def call_here(func: Callable, args: tuple, kwargs: dict, *, twins_off: list[str] | None,
              count_lines: bool) -> dict:
    """Call ``func(*args, **kwargs)`` here. ``twins_off``: library twins that raise during the
    call (``["*"]``: all; see ``course.checks.checking``); ``count_lines``: count the Python
    lines the call runs. Returns ``{"value", "lines"}`` or ``{"error", "exception", "lines"}``;
    never raises, except for an interrupt when ``func`` is not running."""
    global _inside
    result: dict = {"lines": 0}
    guard = checking(*[t for t in twins_off if t != "*"]) if twins_off else None
    try:
        if guard is not None:
            guard.__enter__()
        _inside += 1
        try:
            if count_lines:
                result["value"], result["lines"] = _traced_lines(lambda: func(*args, **kwargs))
            else:
                result["value"] = func(*args, **kwargs)
        finally:
            _inside -= 1
            if guard is not None:
                guard.__exit__(None, None, None)
    except BaseException as exc:  # noqa: BLE001 - the student's error is the answer
        result.pop("value", None)
        result["exception"], result["error"] = exc, describe(exc)
    return result


def describe(exc: BaseException) -> dict:
    """A student's exception as plain data: its type, the built-in types it derives from, its
    message and the lines of its traceback."""
    kind = type(exc)
    bases = [c.__name__ for c in kind.__mro__
             if c.__name__ == "CheckFailed" or getattr(builtins, c.__name__, None) is c]
    trace = traceback.format_exception(kind, exc, exc.__traceback__)
    lines = [line for chunk in trace[1:] for line in chunk.rstrip("\n").splitlines()]
    return {"type": kind.__name__ if _NAME.match(kind.__name__) else "Exception",
            "bases": bases, "message": str(exc)[:MAX_MESSAGE], "trace": lines[-MAX_TRACE:]}


def reply_for(result: dict, inputs: tuple | None, handles: plaindata.Handles) -> tuple[dict, list[bytes]]:
    """What goes back to the test: the value (or the error, or why the value cannot be checked)
    and, if asked, the inputs as they are after the call."""
    out: dict = {"lines": result["lines"]}
    if "error" in result:
        out["error"] = result["error"]
        return out, []
    try:
        value, buffers = plaindata.encode((result["value"], inputs), inbound=False, handles=handles)
    except plaindata.PlainDataError as err:
        out["error"] = {"type": "PlainDataError", "bases": ["TypeError"],
                        "message": f"your function returned something that cannot be checked: {err}",
                        "trace": []}
        return out, []
    out["value"] = value
    return out, buffers


# --- the kernel's side under grading -------------------------------------------------------------

def serve() -> str:
    """Register the comm target the grader calls through; run in the kernel before any cell.

    A message ``{"op": "call", "name" | "handle", "args", "kwargs", "twins_off", "count_lines",
    "return_inputs"}`` with its buffers calls a function of the notebook's namespace (or a kept
    handle) and answers with :func:`reply_for`'s message on the same comm."""
    import comm
    from IPython import get_ipython

    shell, handles = get_ipython(), plaindata.Handles()

    def on_open(channel, _):
        @channel.on_msg
        def on_message(msg):
            content = msg["content"]["data"]
            try:
                data, buffers = _answer(content, list(msg.get("buffers") or []), shell, handles)
            except Exception as exc:  # noqa: BLE001 - a malformed request still gets an answer
                data, buffers = {"error": {"type": "GraderError", "bases": ["RuntimeError"],
                                           "message": f"{type(exc).__name__}: {exc}", "trace": []},
                                 "lines": 0}, []
            channel.send({"id": content.get("id"), **data}, buffers=buffers)

    comm.get_comm_manager().register_target(COMM_TARGET, on_open)
    return "serving"


def _answer(content: dict, buffers: list, shell, handles: plaindata.Handles) -> tuple[dict, list[bytes]]:
    args, kwargs = plaindata.decode(content["args"], [bytes(b) for b in buffers], inbound=True)
    if content.get("handle") is not None:
        func = handles.table.get(int(content["handle"]))
    else:
        func = shell.user_ns.get(content["name"])
        if isinstance(func, StudentFunction):  # a copy of a test cell ran in the kernel
            func = func._function()
    if not callable(func):
        return {"error": missing(content.get("name") or "the function you returned"), "lines": 0}, []
    result = call_here(func, tuple(args), dict(kwargs), twins_off=content.get("twins_off"),
                       count_lines=bool(content.get("count_lines")))
    return reply_for(result, tuple(args) if content.get("return_inputs") else None, handles)


def missing(name: str) -> dict:
    """The error for a function the notebook does not define (renamed, deleted, never run)."""
    return {"type": "NameError", "bases": ["NameError"], "trace": [],
            "message": f"your notebook defines no function {name!r} (do not rename it, and run "
                       "its cell before the tests)"}


class _Sealed(types.ModuleType):
    """This module, read-only: a solution cell cannot swap a helper a test cell imports."""

    def __setattr__(self, name, value):
        raise AttributeError(f"course.checks is read-only: {name} cannot be replaced")

    def __delattr__(self, name):
        raise AttributeError(f"course.checks is read-only: {name} cannot be deleted")


types.ModuleType.__setattr__(sys.modules[__name__], "__class__", _Sealed)
