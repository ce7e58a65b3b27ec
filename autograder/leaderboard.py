"""Leaderboard: each student's guard as the grader scored it, beside the reference guards.

``python -m autograder leaderboard 07_capstone [--csv FILE]`` reads what the grader's judge
recorded while grading (``course.checks.record``): the test cell's metadata key ``autograder``
of each *autograded* notebook, written by the grader, never by the kernel, and signed with the
class's secret (``autograder.secret``). A record whose signature, student or assignment does
not match is refused with its reason. The leaderboard record of lesson 07 holds, for every
guard, its mean log-loss, by kind, the worlds it passed, and its log-loss on each session.

Guards are judged on the same sessions, so they are compared in pairs: a guard's rank is one
more than the number of guards that beat it with a 95% interval of the paired difference
(over sessions) entirely below zero. Guards whose difference is not clear share a rank, so ties
look like ties. The reference rows come from the records (the grader computed them; they are
the same for every student) and the table says if they differ. No student code runs here.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

from . import course_dir, secret

RECORD = "leaderboard"
#: the student's own entry in a record's guards; every other entry is a reference
YOURS = "yours"
Z95 = 1.959964


@dataclass(frozen=True)
class Entry:
    """One student's record, or why there is none (``scores`` is None)."""

    student: str
    scores: dict | None
    reason: str = ""


def read_record(path: Path, student: str, assignment: str, key: str) -> dict:
    """The leaderboard record of an autograded notebook, checked against ``key``.

    Raises:
        ValueError: no record, or one that the grader did not sign for this student.
    """
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("autograder")
        if not isinstance(meta, dict) or RECORD not in meta.get("records", {}):
            continue
        payload = {k: meta.get(k) for k in ("assignment", "student", "cell", "records")}
        if not secret.verify(key, payload, meta.get("mac")):
            raise ValueError("the record's signature does not match the class's secret: not "
                             "written by this grader (re-grade the student)")
        if payload["student"] != student or payload["assignment"] != assignment:
            raise ValueError(f"the record is {payload['student']}'s of {payload['assignment']}")
        scores = payload["records"][RECORD]
        if not isinstance(scores, dict) or not isinstance(scores.get("guards"), dict):
            raise ValueError("the record has no 'guards' mapping")
        return scores
    raise ValueError("no leaderboard record: the graded test did not get as far as scoring")


def collect(course: course_dir.Course, assignment: str, key: str) -> list[Entry]:
    """One entry per student with an autograded notebook of ``assignment``."""
    entries = []
    for folder in sorted(p for p in course.autograded.glob(f"*/{assignment}") if p.is_dir()):
        student = folder.parent.name
        notebooks = sorted(folder.glob("*.ipynb"))
        if not notebooks:
            entries.append(Entry(student, None, "no autograded notebook"))
            continue
        try:
            entries.append(Entry(student, read_record(notebooks[0], student, assignment, key)))
        except (ValueError, OSError) as err:  # unreadable or invalid JSON (NotJSONError is a ValueError)
            entries.append(Entry(student, None, str(err)))
    return entries


def rows(entries: list[Entry]) -> list[dict]:
    """Leaderboard rows, best first: each scored student's guard, the reference guards once,
    with paired ranks (see the module doc); then the students without a score."""
    scored = [e for e in entries if e.scores is not None and isinstance(e.scores["guards"].get(YOURS), dict)]
    out = [_row(e.student, "student", e.scores["guards"][YOURS], e.scores.get("worlds")) for e in scored]
    if scored:
        first = scored[0].scores
        for name, guard in first["guards"].items():
            if name != YOURS:
                differs = any(e.scores["guards"].get(name) != guard for e in scored[1:])
                out.append(_row(name, "reference", guard, first.get("worlds"),
                                "differs between students' records" if differs else ""))
    _rank(out)
    out.sort(key=lambda r: (r["rank"], r["log_loss"]))
    out += [{"name": e.student, "role": "student", "log_loss": math.nan, "interval": (math.nan, math.nan),
             "rank": None, "by_kind": {}, "passed_worlds": None, "worlds": None, "note": e.reason,
             "sessions": None}
            for e in entries if e not in scored]
    return out


def _row(name: str, role: str, guard: dict, worlds, note: str = "") -> dict:
    sessions = np.asarray(guard.get("sessions") or [], dtype=float)
    mean = float(sessions.mean()) if sessions.size else float(guard.get("log_loss", math.nan))
    half = Z95 * sessions.std(ddof=1) / math.sqrt(sessions.size) if sessions.size > 1 else math.nan
    return {"name": name, "role": role, "log_loss": mean, "interval": (mean - half, mean + half),
            "by_kind": guard.get("by_kind") if isinstance(guard.get("by_kind"), dict) else {},
            "passed_worlds": guard.get("passed_worlds"), "worlds": worlds, "note": note,
            "sessions": sessions, "rank": None}


def _rank(table: list[dict]) -> None:
    """rank = 1 + the number of guards clearly better (paired 95% interval below zero)."""
    sizes = {r["sessions"].size for r in table}
    if len(sizes) != 1 or 0 in sizes:  # no common sessions: rank by the mean alone
        for i, r in enumerate(sorted(table, key=lambda r: r["log_loss"]), 1):
            r["rank"] = i
        return
    losses = np.stack([r["sessions"] for r in table])            # (guards, sessions)
    for j, r in enumerate(table):  # one guard at a time: (guards, sessions) in memory, not squared
        diff = losses - losses[j]                                  # every guard minus guard j
        half = Z95 * diff.std(axis=1, ddof=1) / math.sqrt(losses.shape[1])
        r["rank"] = 1 + int((diff.mean(axis=1) + half < 0).sum())


def _kinds(table: list[dict]) -> list[str]:
    kinds: list[str] = []
    for r in table:
        kinds += [k for k in r["by_kind"] if k not in kinds]
    return kinds


def _num(v) -> str:
    return f"{v:.4f}" if isinstance(v, (int, float)) and not math.isnan(v) else "-"


def format_table(table: list[dict]) -> str:
    """The rows as aligned text: rank (``=`` where it is shared), name, log-loss with its 95%
    interval over sessions, per-kind log-loss, worlds passed."""
    kinds = _kinds(table)
    width = max([len(r["name"]) for r in table] + [8])
    shared = {r["rank"] for r in table if r["rank"] is not None
              if sum(s["rank"] == r["rank"] for s in table) > 1}
    head = f"{'rank':>5}  {'name':<{width}}  {'role':<9}{'log-loss':>9}  {'95% interval':<17}" \
           + "".join(f"{k:>11}" for k in kinds)
    lines = [head + f"{'passed':>9}  note"]
    for r in table:
        rank = "-" if r["rank"] is None else ("=" if r["rank"] in shared else "") + str(r["rank"])
        lo, hi = r["interval"]
        interval = f"{_num(lo)} to {_num(hi)}" if not math.isnan(lo) else "-"
        passed = f"{r['passed_worlds']}/{r['worlds']}" if r["passed_worlds"] is not None else "-"
        lines.append(f"{rank:>5}  {r['name']:<{width}}  {r['role']:<9}{_num(r['log_loss']):>9}  "
                     f"{interval:<17}" + "".join(f"{_num(r['by_kind'].get(k, math.nan)):>11}" for k in kinds)
                     + f"{passed:>9}  {r['note']}")
    lines.append("Ranks: 1 + the guards that beat this one with a paired 95% interval over sessions "
                 "below zero; '=' marks a shared rank (a tie).")
    return "\n".join(lines)


def write_csv(table: list[dict], path: Path) -> None:
    kinds = _kinds(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "name", "role", "log_loss", "interval_low", "interval_high", *kinds,
                         "passed_worlds", "worlds", "note"])
        for r in table:
            writer.writerow([r["rank"], r["name"], r["role"], r["log_loss"], *r["interval"],
                             *(r["by_kind"].get(k, "") for k in kinds),
                             r["passed_worlds"], r["worlds"], r["note"]])


def cmd_leaderboard(args) -> int:
    course = course_dir.load(args.course)
    key = secret.load()
    if key is None:
        print(f"no grading secret at {secret.path()}: the records were signed with the secret used "
              f"while grading; set ${secret.ENV} to its file")
        return 2
    entries = collect(course, args.assignment, key)
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
    p = sub.add_parser("leaderboard", help="each student's guard as the grader scored it, beside the "
                                           "reference guards, with paired 95%% intervals")
    p.add_argument("assignment")
    p.add_argument("--csv", type=Path, help="also write the leaderboard as CSV")
    p.set_defaults(run=cmd_leaderboard)
