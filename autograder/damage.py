"""What a student did to the notebook's structure, in words for the grades CSV.

nbgrader repairs most of it while autograding (locked cells and cell types are restored from
the gradebook, duplicated ids are dropped, deleted grade cells are added back); this module
names the damage so the instructor sees it next to the score.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import nbformat
from nbformat.reader import NotJSONError


class Unreadable(ValueError):
    """Not a notebook nbgrader can read (invalid JSON or format)."""


def read(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path``, or ``Unreadable`` saying why not."""
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except NotJSONError as exc:
        cause = exc.__context__
        where = (f" (line {cause.lineno}, column {cause.colno}: {cause.msg})"
                 if isinstance(cause, json.JSONDecodeError) else "")
        raise Unreadable(f"invalid JSON{where}") from exc
    except (nbformat.ValidationError, UnicodeDecodeError, AttributeError, KeyError, TypeError) as exc:
        raise Unreadable(f"not a valid notebook: {str(exc).splitlines()[0][:200]}") from exc
    return nb


def _graded(nb) -> list:
    return [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")]


def _gid(cell) -> str:
    return cell.metadata["nbgrader"]["grade_id"]


def damage(submitted, release) -> list[str]:
    """Differences between a submission's nbgrader cells and the released notebook's."""
    ours = {_gid(c): c for c in _graded(release)}
    counts = Counter(_gid(c) for c in _graded(submitted))
    notes = []
    missing = [g for g in ours if g not in counts]
    if missing:
        notes.append(f"deleted cells restored: {', '.join(missing)}")
    dupes = [g for g, n in counts.items() if n > 1]
    if dupes:
        notes.append(f"duplicated cells ignored: {', '.join(dupes)}")
    seen = {}
    for cell in _graded(submitted):
        seen.setdefault(_gid(cell), cell)
    retyped = [g for g, c in seen.items() if g in ours and c.cell_type != ours[g].cell_type]
    if retyped:
        notes.append(f"cell type changed back: {', '.join(retyped)}")
    edited = [g for g, c in seen.items() if g in ours and g not in retyped
              and ours[g].metadata["nbgrader"].get("locked")
              and c.source.strip() != ours[g].source.strip()]
    if edited:
        notes.append(f"edited read-only cells restored: {', '.join(edited)}")
    return notes


def dedupe(nb) -> None:
    """Keep the first cell of each grade id; later copies become ordinary cells.

    nbgrader's DeduplicateIds leaves an empty ``nbgrader`` dict behind, on which its own
    missing-cell repair then fails (KeyError 'grade_id'); removing the key avoids both.
    """
    seen = set()
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in seen:
            del cell.metadata["nbgrader"]
        elif gid:
            seen.add(gid)
