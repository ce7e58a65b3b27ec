"""What a student did to the notebook's structure, repaired before nbgrader sees it, in words
for the grades CSV.

nbgrader restores locked cells and cell types from the gradebook and adds deleted grade cells
back; it crashes on grading metadata it does not know (an extra "grade" cell, an id without a
cell in the gradebook, a duplicated id left without ``grade_id``, a solution cell marked as a
test). ``repair`` therefore resets every cell's grading metadata from the released notebook
(by ``grade_id``) and strips it from cells the release does not have, naming each repair.
"""
from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import nbformat
from nbformat.reader import NotJSONError

# the grading metadata that decides how a cell is graded
RELEASED_KEYS = ("grade", "grade_id", "locked", "points", "schema_version", "solution", "task")


class Unreadable(ValueError):
    """Not a notebook we grade: invalid JSON or format."""


class OverLimit(Unreadable):
    """A notebook over the size or cell-count limit."""


def read(path: Path, max_mb: float | None = None, max_cells: int | None = None) -> nbformat.NotebookNode:
    """The notebook at ``path``, or ``Unreadable`` saying why not."""
    size = path.stat().st_size
    if max_mb is not None and size > max_mb * 2**20:
        raise OverLimit(f"the notebook is {size / 2**20:.1f} MB, over the {max_mb:g} MB limit "
                         "(clear large outputs and resubmit)")
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except NotJSONError as exc:
        cause = exc.__context__
        where = (f" (line {cause.lineno}, column {cause.colno}: {cause.msg})"
                 if isinstance(cause, json.JSONDecodeError) else "")
        raise Unreadable(f"invalid JSON{where}") from exc
    except (nbformat.ValidationError, UnicodeDecodeError, AttributeError, KeyError, TypeError,
            ValueError, RecursionError) as exc:
        raise Unreadable(f"not a valid notebook: {str(exc).splitlines()[0][:200]}") from exc
    if max_cells is not None and len(nb.cells) > max_cells:
        raise OverLimit(f"the notebook has {len(nb.cells)} cells, over the limit of {max_cells} "
                         "(delete the cells you added and resubmit)")
    return nb


def _meta(cell):
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else None


def _gid(cell):
    meta = _meta(cell)
    gid = meta.get("grade_id") if meta else None
    return gid if isinstance(gid, str) and gid else None


def _grading(meta: dict) -> dict:
    return {k: meta.get(k) for k in RELEASED_KEYS}


def repair(submitted, release) -> list[str]:
    """Repair ``submitted`` in place against ``release``; the repairs in words."""
    ours = {_gid(c): c for c in release.cells if _gid(c)}
    counts = Counter(_gid(c) for c in submitted.cells if _gid(c))
    notes = []
    missing = [g for g in ours if g not in counts]
    if missing:
        notes.append(f"deleted cells restored: {', '.join(missing)}")
    first = {}
    extra, reset = [], []
    for cell in submitted.cells:
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        gid = _gid(cell)
        if gid not in ours:
            extra.append(_label(gid))
            del cell.metadata["nbgrader"]
        elif gid in first:  # a later copy of a released cell: an ordinary cell from now on
            del cell.metadata["nbgrader"]
        else:
            first[gid] = cell
            released = ours[gid].metadata["nbgrader"]
            if _grading(cell.metadata["nbgrader"]) != _grading(released):
                reset.append(gid)
            cell.metadata["nbgrader"] = copy.deepcopy(released)
    dupes = [g for g, n in counts.items() if n > 1 and g in ours]
    if dupes:
        notes.append(f"duplicated cells ignored: {', '.join(dupes)}")
    if extra:
        notes.append(f"grading metadata removed from cells not in the release: {', '.join(extra[:5])}")
    retyped = [g for g, c in first.items() if c.cell_type != ours[g].cell_type]
    if retyped:
        notes.append(f"cell type changed back: {', '.join(retyped)}")
    if [g for g in reset if g not in retyped]:
        notes.append(f"grading metadata restored: {', '.join(g for g in reset if g not in retyped)}")
    edited = [g for g, c in first.items() if g not in retyped
              and ours[g].metadata["nbgrader"].get("locked")
              and c.source.strip() != ours[g].source.strip()]
    if edited:
        notes.append(f"edited read-only cells restored: {', '.join(edited)}")
    return notes


def _label(gid: str | None) -> str:
    return "(no id)" if gid is None else (gid if gid.isidentifier() else json.dumps(gid))[:40]
