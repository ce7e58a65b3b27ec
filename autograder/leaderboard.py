"""Leaderboard: each student's score as printed by a lesson's hidden test, beside the references.

``python -m autograder leaderboard 07_capstone [--csv FILE]`` reads every student's *autograded*
notebook (``autograded/<student>/<assignment>/*.ipynb``, written by ``python -m autograder grade``).
A lesson that keeps a leaderboard prints, from a locked test cell, one line

    leaderboard: {"worlds": n, "guards": {"yours": {...}, "<reference>": {...}, ...}}

where each guard has ``log_loss``, ``by_kind`` (kind -> log-loss) and ``passed_worlds``. Only
the outputs of locked, graded test cells are read (nbgrader restores their source before
grading), and the last such line counts. No student code runs here: the scores were computed
while grading, inside the sandbox, by the test cell itself. They are exactly as trustworthy as
the grade that cell records.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import course_dir

MARKER = "leaderboard: "
#: the student's own entry in the printed guards; every other entry is a reference
YOURS = "yours"


@dataclass(frozen=True)
class Entry:
    """One student's line, or why there is none (``scores`` is None)."""

    student: str
    scores: dict | None
    reason: str = ""


def _test_cells(nb) -> list:
    out = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and meta.get("locked") and not meta.get("solution"):
            out.append(cell)
    return out


def read_scores(path: Path) -> dict:
    """The last leaderboard line printed by a locked test cell of an autograded notebook.

    Raises:
        ValueError: no such line, or it is not a JSON object with a ``guards`` mapping.
    """
    nb = nbformat.read(str(path), as_version=4)
    found = None
    for cell in _test_cells(nb):
        text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                       if o.get("output_type") == "stream" and o.get("name") == "stdout")
        for line in text.splitlines():
            if line.startswith(MARKER):
                found = line[len(MARKER):]
    if found is None:
        raise ValueError("no leaderboard line: the graded test did not get as far as scoring")
    try:
        scores = json.loads(found)
    except json.JSONDecodeError as err:
        raise ValueError(f"the leaderboard line is not JSON ({err.msg})") from None
    if not isinstance(scores, dict) or not isinstance(scores.get("guards"), dict):
        raise ValueError("the leaderboard line has no 'guards' mapping")
    return scores


def collect(course: course_dir.Course, assignment: str) -> list[Entry]:
    """One entry per student with an autograded notebook of ``assignment``."""
    entries = []
    for folder in sorted(p for p in course.autograded.glob(f"*/{assignment}") if p.is_dir()):
        student = folder.parent.name
        notebooks = sorted(folder.glob("*.ipynb"))
        if not notebooks:
            entries.append(Entry(student, None, "no autograded notebook"))
            continue
        try:
            entries.append(Entry(student, read_scores(notebooks[0])))
        except (ValueError, OSError) as err:  # unreadable or invalid JSON (NotJSONError is a ValueError)
            entries.append(Entry(student, None, str(err)))
    return entries


def rows(entries: list[Entry]) -> list[dict]:
    """Leaderboard rows, best log-loss first: each scored student's guard, the reference guards
    once (from the first scored student; a note where another run printed different ones), then
    the students without a score."""
    scored = [e for e in entries if e.scores is not None]
    out = []
    for e in scored:
        guard = e.scores["guards"].get(YOURS)
        if isinstance(guard, dict):
            out.append(_row(e.student, "student", guard, e.scores.get("worlds")))
    if scored:
        first = scored[0].scores
        for name, guard in first["guards"].items():
            if name != YOURS:
                differs = any(e.scores["guards"].get(name) != guard for e in scored[1:])
                out.append(_row(name, "reference", guard, first.get("worlds"),
                                "differs between students' runs" if differs else ""))
    out.sort(key=lambda r: (math.isnan(r["log_loss"]), r["log_loss"]))
    out += [{"name": e.student, "role": "student", "log_loss": math.nan, "by_kind": {},
             "passed_worlds": None, "worlds": None, "note": e.reason}
            for e in entries if e.scores is None or not isinstance(e.scores["guards"].get(YOURS), dict)]
    return out


def _row(name: str, role: str, guard: dict, worlds, note: str = "") -> dict:
    value = guard.get("log_loss")
    return {"name": name, "role": role,
            "log_loss": float(value) if isinstance(value, (int, float)) else math.nan,
            "by_kind": guard.get("by_kind") if isinstance(guard.get("by_kind"), dict) else {},
            "passed_worlds": guard.get("passed_worlds"), "worlds": worlds, "note": note}


def _kinds(table: list[dict]) -> list[str]:
    kinds: list[str] = []
    for r in table:
        kinds += [k for k in r["by_kind"] if k not in kinds]
    return kinds


def format_table(table: list[dict]) -> str:
    """The rows as aligned text: rank, name, overall and per-kind log-loss, worlds passed."""
    kinds = _kinds(table)
    width = max([len(r["name"]) for r in table] + [8])
    head = f"{'#':>3}  {'name':<{width}}  {'role':<9}{'log-loss':>9}" + "".join(f"{k:>11}" for k in kinds)
    lines = [head + f"{'passed':>9}  note"]
    for i, r in enumerate(table, 1):
        num = lambda v: f"{v:.4f}" if isinstance(v, (int, float)) and not math.isnan(v) else "-"  # noqa: E731
        passed = f"{r['passed_worlds']}/{r['worlds']}" if r["passed_worlds"] is not None else "-"
        lines.append(f"{i:>3}  {r['name']:<{width}}  {r['role']:<9}{num(r['log_loss']):>9}"
                     + "".join(f"{num(r['by_kind'].get(k, math.nan)):>11}" for k in kinds)
                     + f"{passed:>9}  {r['note']}")
    return "\n".join(lines)


def write_csv(table: list[dict], path: Path) -> None:
    kinds = _kinds(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "name", "role", "log_loss", *kinds, "passed_worlds", "worlds", "note"])
        for i, r in enumerate(table, 1):
            writer.writerow([i, r["name"], r["role"], r["log_loss"],
                             *(r["by_kind"].get(k, "") for k in kinds),
                             r["passed_worlds"], r["worlds"], r["note"]])


def cmd_leaderboard(args) -> int:
    course = course_dir.load(args.course)
    entries = collect(course, args.assignment)
    if not entries:
        print(f"no autograded submissions of {args.assignment} in {course.autograded}")
        return 1
    table = rows(entries)
    print(format_table(table))
    if args.csv:
        write_csv(table, args.csv)
        print(f"leaderboard in {args.csv}")
    return 0


def add_parser(sub) -> None:
    """Register ``leaderboard`` with the ``python -m autograder`` command line."""
    p = sub.add_parser("leaderboard", help="each student's guard score from grading, beside the reference guards")
    p.add_argument("assignment")
    p.add_argument("--csv", type=Path, help="also write the leaderboard as CSV")
    p.set_defaults(run=cmd_leaderboard)
