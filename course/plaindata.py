"""Plain data: what crosses between a test and a student's function, in both directions.

A test never holds an object a student made. It names a student's function
(``course.checks.student_function``) and every call crosses a boundary as plain data:
:func:`encode` turns a value into a tree of JSON-able nodes plus raw byte buffers, and
:func:`decode` rebuilds it, accepting only

* ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str`` (exact types, no subclasses),
* NumPy arrays and scalars of a boolean, numeric or fixed-width text dtype (no objects, no
  records, no views of a student's memory: decoding copies),
* lists, tuples and dicts of those;
* going *to* a student's function (inputs, which a test builds) also course dataclasses (e.g.
  ``course.capstone.Evidence``) and SciPy sparse matrices;
* coming *back*, a function the student returns (lesson 07's guard): it stays where it was
  made, behind a numbered handle that a test can call like any student function.

Anything else, e.g. an object with its own ``__eq__`` or ``__array__``, is refused with a
:class:`PlainDataError` that says what was expected. In a student's own run the boundary is
crossed in the kernel itself (encode, then decode: the same copies and the same refusals);
under grading the test runs in the grader's *judge* process and the crossing is a message to
the kernel, whose side is ``course.checks.serve``. Whatever a kernel sends back is data, so nothing a
submission patches, reads or returns can reach a verdict.
"""
from __future__ import annotations

import dataclasses
import importlib
import re
from typing import Any, Callable

import numpy as np

__all__ = ["PlainDataError", "encode", "decode", "Handles", "EXPECTED"]

#: what a value crossing the boundary may be, as students read it in a failure message
EXPECTED = ("a NumPy array of numbers, booleans or strings, a number, a string, None, or a list, "
            "tuple or dict of them")
MAX_DEPTH = 32
MAX_NODES = 2_000_000
_DTYPE = re.compile(r"^[<>|=]?([biufc]\d{1,2}|U\d{1,5})$")
_SPARSE = ("csr", "csc", "coo")


class PlainDataError(TypeError):
    """A value that cannot cross the boundary; the message is written for a student."""


# --- encoding -----------------------------------------------------------------------------------

class Handles:
    """Callables a student's code returned, kept where they were made, by number."""

    def __init__(self) -> None:
        self.table: dict[int, Callable] = {}

    def keep(self, func: Callable) -> int:
        number = len(self.table) + 1
        self.table[number] = func
        return number


def encode(value: Any, *, inbound: bool, handles: Handles | None = None) -> tuple[dict, list[bytes]]:
    """``value`` as ``(node, buffers)``. ``inbound``: going to a student's function (course
    dataclasses and sparse matrices allowed); else coming back (callables become handles if
    ``handles`` is given)."""
    buffers: list[bytes] = []
    count = [0]

    def node(v: Any, depth: int) -> dict:
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_NODES:
            raise PlainDataError(f"a value nested more than {MAX_DEPTH} deep or with more than "
                                 f"{MAX_NODES:,} parts: expected {EXPECTED}")
        kind = type(v)
        if v is None:
            return {"t": "none"}
        if kind is bool:
            return {"t": "bool", "v": v}
        if kind is int:
            return {"t": "int", "v": str(v)}
        if kind is float:
            return {"t": "float", "v": repr(v)}
        if kind is complex:
            return {"t": "complex", "re": repr(v.real), "im": repr(v.imag)}
        if kind is str:
            return {"t": "str", "v": v}
        if kind is np.ndarray or isinstance(v, np.generic):
            return _array_node(v, buffers)
        if kind in (list, tuple):
            return {"t": kind.__name__, "items": [node(x, depth + 1) for x in v]}
        if kind is dict:
            return {"t": "dict", "items": [[node(k, depth + 1), node(x, depth + 1)] for k, x in v.items()]}
        if inbound and _is_course_dataclass(v):
            return {"t": "dataclass", "cls": f"{kind.__module__}.{kind.__qualname__}",
                    "fields": {f.name: node(getattr(v, f.name), depth + 1)
                               for f in dataclasses.fields(v)}}
        if inbound and _sparse_format(v):
            coo = v.tocoo() if _sparse_format(v) == "coo" else v
            parts = ("data", "row", "col") if _sparse_format(v) == "coo" else ("data", "indices", "indptr")
            return {"t": "sparse", "format": _sparse_format(v), "shape": list(v.shape),
                    "parts": [node(np.asarray(getattr(coo, p)), depth + 1) for p in parts]}
        if not inbound and handles is not None and callable(v) and not isinstance(v, type):
            return {"t": "handle", "id": handles.keep(v), "name": _label(v)}
        raise PlainDataError(f"a value of type {_type_name(v)} cannot be checked: expected {EXPECTED}")

    return node(value, 0), buffers


def _array_node(v, buffers: list[bytes]) -> dict:
    a = np.asarray(v)
    if a.dtype.kind not in "biufcU" or a.dtype.fields is not None or a.dtype.subdtype is not None:
        raise PlainDataError(f"an array of dtype {a.dtype} cannot be checked: expected {EXPECTED}")
    buffers.append(np.ascontiguousarray(a).tobytes())
    return {"t": "scalar" if isinstance(v, np.generic) else "array", "dtype": a.dtype.str,
            "shape": list(a.shape), "b": len(buffers) - 1}


def _is_course_dataclass(v) -> bool:
    return dataclasses.is_dataclass(v) and not isinstance(v, type) \
        and type(v).__module__.startswith("course.")


def _sparse_format(v) -> str | None:
    fmt = getattr(v, "format", None)
    return fmt if fmt in _SPARSE and type(v).__module__.startswith("scipy.sparse") else None


def _type_name(v) -> str:
    kind = type(v)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _label(func) -> str:
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    return str(name)[:80]


# --- decoding -----------------------------------------------------------------------------------

def decode(node: dict, buffers: list, *, inbound: bool,
           handle: Callable[[int, str], Any] | None = None) -> Any:
    """The value ``node`` and ``buffers`` encode, rebuilt from scratch; ``PlainDataError`` for
    anything that is not plain data. ``handle(id, name)`` makes what a handle node stands for."""
    count = [0]

    def value(n: Any, depth: int) -> Any:
        count[0] += 1
        if not isinstance(n, dict) or depth > MAX_DEPTH or count[0] > MAX_NODES:
            raise PlainDataError("malformed reply: not plain data")
        t = n.get("t")
        if t == "none":
            return None
        if t == "bool" and type(n.get("v")) is bool:
            return n["v"]
        if t == "int":
            return int(_text(n.get("v"), 5000))
        if t == "float":
            return float(_text(n.get("v"), 40))
        if t == "complex":
            return complex(float(_text(n.get("re"), 40)), float(_text(n.get("im"), 40)))
        if t == "str":
            return _text(n.get("v"), 10**8)
        if t in ("array", "scalar"):
            return _array(n, buffers)
        if t in ("list", "tuple"):
            items = [value(x, depth + 1) for x in _items(n)]
            return items if t == "list" else tuple(items)
        if t == "dict":
            out = {}
            for pair in _items(n):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise PlainDataError("malformed reply: not plain data")
                key = value(pair[0], depth + 1)
                if not isinstance(key, (str, int, float, bool, tuple, type(None))):
                    raise PlainDataError("a dict key must be a number, string or tuple")
                out[key] = value(pair[1], depth + 1)
            return out
        if t == "dataclass" and inbound:
            return _dataclass(n, lambda x: value(x, depth + 1))
        if t == "sparse" and inbound:
            return _sparse(n, [value(x, depth + 1) for x in n["parts"]])
        if t == "handle" and not inbound and handle is not None:
            return handle(int(n["id"]), _text(n.get("name", ""), 80))
        raise PlainDataError("malformed reply: not plain data")

    return value(node, 0)


def _text(v, limit: int) -> str:
    if type(v) is not str or len(v) > limit:
        raise PlainDataError("malformed reply: not plain data")
    return v


def _items(n: dict) -> list:
    items = n.get("items")
    if not isinstance(items, list):
        raise PlainDataError("malformed reply: not plain data")
    return items


def _array(n: dict, buffers: list):
    dtype, shape, index = n.get("dtype"), n.get("shape"), n.get("b")
    if type(dtype) is not str or not _DTYPE.match(dtype) or not isinstance(shape, list) \
            or not all(type(s) is int and s >= 0 for s in shape) or len(shape) > 32 \
            or type(index) is not int or not 0 <= index < len(buffers):
        raise PlainDataError("malformed reply: not plain data")
    dt = np.dtype(dtype)
    data = buffers[index]
    size = int(np.prod(shape, dtype=object)) * dt.itemsize
    if len(data) != size:
        raise PlainDataError("malformed reply: an array's data does not match its shape")
    array = np.frombuffer(data, dtype=dt).reshape(shape).copy()
    return array[()] if n["t"] == "scalar" else array


def _dataclass(n: dict, value: Callable):
    module, _, name = n["cls"].rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    if not module.startswith("course.") or not dataclasses.is_dataclass(cls):
        raise PlainDataError(f"{n['cls']} is not a course dataclass")
    return cls(**{k: value(v) for k, v in n["fields"].items()})


def _sparse(n: dict, parts: list):
    import scipy.sparse as sparse

    data, a, b = parts
    shape = tuple(n["shape"])
    if n["format"] == "coo":
        return sparse.coo_matrix((data, (a, b)), shape=shape)
    return getattr(sparse, f"{n['format']}_matrix")((data, a, b), shape=shape)
