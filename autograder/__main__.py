"""Command line: ``python -m autograder COMMAND ...``.

A semester: ``roster`` (who the students are, with their LMS ids), ``deadline`` (due dates,
extensions), ``grade`` (autograde a class: jailed, in parallel), ``feedback`` (after manual
grading in the formgrader: pages from the gradebook, released through the exchange),
``export`` (Canvas and Moodle grade CSVs), ``stats`` (the class at a glance). Also ``check``,
``classgen``, ``bench``, ``bench-gradebook``, ``leaderboard``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import pwd
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import course_dir
from .slots import Limits
from .leaderboard import add_parser as add_leaderboard


def _course(args) -> course_dir.Course:
    return course_dir.load(args.course).with_db(args.db)


def _owner_ok(owner: str | None) -> bool:
    if owner:
        try:
            pwd.getpwnam(owner)
        except KeyError:
            print(f"error: --owner {owner}: no such account", file=sys.stderr)
            return False
    return True


def _show_stats(course: course_dir.Course, assignment: str) -> None:
    """The class at a glance: statistics in the terminal, the histogram as a PNG."""
    from .stats import compute, plot, png_path, report

    found = compute(course, assignment)
    print(report(found))
    print(f"histogram: {plot(found, png_path(course, assignment))}")


def cmd_grade(args) -> int:
    from .deadlines import DeadlineError
    from .grade import grade_class, hand_over, log_path, summary_line, write_csv
    from .intake import IntakeError

    if not _owner_ok(args.owner):
        return 2
    try:
        tz = ZoneInfo(args.lms_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"error: --lms-timezone {args.lms_timezone}: not a time zone (e.g. Europe/Berlin)",
              file=sys.stderr)
        return 2
    errors: tuple[type[Exception], ...] = (IntakeError, DeadlineError)
    if args.cluster:
        from .cluster import ClusterError
        errors += (ClusterError,)
    course = _course(args)
    limits = Limits(cell_timeout=args.cell_timeout, timeout=args.timeout,
                    memory_mb=args.memory_mb, output_bytes=args.output_bytes,
                    scratch_mb=args.scratch_mb, max_notebook_mb=args.max_notebook_mb,
                    max_cells=args.max_cells)
    try:
        rows = grade_class(course, args.assignment, args.submissions, workers=args.workers,
                           limits=limits, feedback=not args.no_feedback,
                           hide_hidden_tests=not args.show_hidden_tests, cluster=args.cluster, tz=tz)
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    csv_path = args.csv or course.root / "autograder" / f"grades-{args.assignment}.csv"
    write_csv(rows, csv_path)
    width = min(max([len(r.student) for r in rows] + [7]), 24)
    for r in rows:
        flag = " [review: " + r.review + "]" if r.review else ""
        written = f" +{r.pending:g} pending" if r.pending else ""
        late = (f" late {r.late_by}" + (f": -{r.late_penalty:g}" if r.late_penalty else "")
                if r.late_by else "")
        print(f"{r.student:<{width}} {r.status:<9} {r.score:>6g}/{r.max_score:<4g}{written}{late} "
              f"{r.reason}{flag}")
    print(f"{summary_line(rows)}; autograded points in 'score', all of it in 'total': {csv_path}")
    _show_stats(course, args.assignment)
    if args.owner:
        hand_over(course, [csv_path, log_path(course, args.assignment),
                           log_path(course, args.assignment, workers=True),
                           course.submitted.parent / f"stats-{args.assignment}.png"], args.owner)
    return 0


def cmd_roster(args) -> int:
    from .grade import lock_down
    from .roster import RosterError, import_roster

    course = _course(args)
    lock_down(course)
    try:
        students = import_roster(course, args.file)
    except (RosterError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    without = [s.course_id for s in students if not s.lms_id]
    print(f"{len(students)} students on the roster (in the gradebook); "
          f"{len(students) - len(without)} with an LMS id"
          + (f"; without one: {', '.join(without[:10])}" if without else ""))
    return 0


def cmd_deadline(args) -> int:
    from .deadlines import DeadlineError, load, parse_time, policy, set_due

    course = _course(args)
    try:
        if args.due:
            if not args.assignment:
                raise DeadlineError("name the assignment whose due date --due sets")
            due = parse_time(args.due)
            path = set_due(course, args.assignment, due, args.student or "")
            who = f"{args.student}'s extended due date" if args.student else "due date"
            print(f"{args.assignment}: {who} {due.isoformat(timespec='minutes')} "
                  f"({due.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC), in {path}")
        for (assignment, student), due in sorted(load(course).due.items()):
            if not args.assignment or assignment == args.assignment:
                print(f"  {assignment:<20} {student or '(everyone)':<16} {due.isoformat(timespec='minutes')}")
    except DeadlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"late policy (nbgrader_config.py, c.LatePolicy): {policy(course).describe()}")
    return 0


def cmd_feedback(args) -> int:
    from .deadlines import DeadlineError
    from .grade import hand_over
    from .release import ReleaseError, course_config, release, write_pages

    if not _owner_ok(args.owner):
        return 2
    course = _course(args)
    config = course_config(course, args.exchange)
    try:
        report = write_pages(course, args.assignment, config)
        for warning in report.warnings:
            print(f"warning: {warning}")
        print(f"{len(report.written)} feedback pages in {course.feedback} (no hidden tests, rubrics "
              f"or scripts); {len(report.pending)} with written answers still pending"
              + (f": {', '.join(report.pending[:10])}" if report.pending else ""))
        if args.owner:
            hand_over(course, [], args.owner)
        if args.release:
            release(course, args.assignment, config, report)
            print(f"released through the exchange: {len(report.released)}")
            if report.not_exchange:
                print(f"not submitted through the exchange, hand back through your LMS "
                      f"({course.feedback}/<student>/{args.assignment}/): "
                      + ", ".join(report.not_exchange))
    except (ReleaseError, DeadlineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_export(args) -> int:
    from .deadlines import DeadlineError
    from .exports import write
    from .gradebook import assignments

    course = _course(args)
    chosen = args.assignments or assignments(course)
    if any("=" not in pair for pair in args.canvas_id):
        print("error: --canvas-id takes ASSIGNMENT=ID, e.g. 00_orientation=12345", file=sys.stderr)
        return 2
    canvas = dict(pair.split("=", 1) for pair in args.canvas_id)
    try:
        written = write(course, chosen, args.out or course.submitted.parent / "exports", canvas)
    except DeadlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in written.warnings:
        print(f"warning: {warning}")
    for kind, path in written.paths.items():
        print(f"{kind:<7} {path}")
    return 0


def cmd_stats(args) -> int:
    _show_stats(_course(args), args.assignment)
    return 0


def cmd_check(args) -> int:
    from .gradebook import integrity

    problems = integrity(_course(args), args.assignment)
    for problem in problems:
        print(problem)
    print("integrity check: " + ("FAILED" if problems else "ok"))
    return 1 if problems else 0


def cmd_classgen(args) -> int:
    from .classgen import write_class

    expected = write_class(_course(args), args.assignment, args.out, copies=args.copies,
                           hostile=not args.no_hostile)
    print(f"{len(expected)} submissions in {args.out}; expected scores in {args.out / 'expected.json'}")
    return 0


def cmd_bench(args) -> int:
    from .bench import main

    return main(args)


def cmd_bench_gradebook(args) -> int:
    from .bench import main_gradebook

    return main_gradebook(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    p.add_argument("--course", type=Path, default=Path.cwd(),
                   help="course root holding nbgrader_config.py (default: current folder)")
    p.add_argument("--db", help="gradebook URL, e.g. postgresql://user@host/db (default: the course's)")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="autograde a class in parallel and write a grades CSV")
    g.add_argument("assignment")
    g.add_argument("--submissions", type=Path, required=True, action="append",
                   help="a Canvas or Moodle export (zip or folder), <dir>/<student>/<assignment>/"
                        "*.ipynb, a folder of <student>_*.ipynb, or a zip; repeat for several "
                        "sources (a student in two: the latest submission counts)")
    g.add_argument("--lms-timezone", default="UTC",
                   help="time zone of the times in an LMS export's zip entries (default UTC)")
    g.add_argument("--workers", type=int, default=2)
    g.add_argument("--cluster", metavar="tcp://HOST:8786",
                   help="grade on the workers of this Dask scheduler instead (see autograder/README.md)")
    g.add_argument("--csv", type=Path)
    g.add_argument("--timeout", type=float, default=Limits.timeout, help="seconds per submission")
    g.add_argument("--cell-timeout", type=int, default=Limits.cell_timeout, help="seconds per cell")
    g.add_argument("--memory-mb", type=float, default=Limits.memory_mb, help="kernel memory (MB)")
    g.add_argument("--output-bytes", type=int, default=Limits.output_bytes,
                   help="output kept per notebook")
    g.add_argument("--scratch-mb", type=int, default=Limits.scratch_mb,
                   help="size of the kernel's private /tmp and of its /dev/shm (MB each)")
    g.add_argument("--max-notebook-mb", type=float, default=Limits.max_notebook_mb,
                   help="larger submissions are refused")
    g.add_argument("--max-cells", type=int, default=Limits.max_cells,
                   help="submissions with more cells are refused")
    g.add_argument("--no-feedback", action="store_true", help="skip the HTML feedback")
    g.add_argument("--owner", metavar="USER",
                   help="after grading, give the class folders, gradebook, CSV and log to USER "
                        "(the instructor, when root grades their course: release_feedback then works)")
    g.add_argument("--show-hidden-tests", action="store_true",
                   help="feedback shows hidden tests' code and tracebacks (nbgrader's default)")
    g.set_defaults(run=cmd_grade)

    r = sub.add_parser("roster", help="import the class roster (CSV: course_id, lms_id, name, email)")
    r.add_argument("file", type=Path)
    r.set_defaults(run=cmd_roster)

    d = sub.add_parser("deadline", help="set or list due dates and per-student extensions")
    d.add_argument("assignment", nargs="?")
    d.add_argument("--due", metavar="TIME", help="e.g. '2026-03-02 23:59 Europe/Berlin'")
    d.add_argument("--student", help="an extension: this student's own due date")
    d.set_defaults(run=cmd_deadline)

    f = sub.add_parser("feedback", help="after manual grading: feedback pages from the gradebook, "
                                        "released through the exchange with --release")
    f.add_argument("assignment")
    f.add_argument("--release", action="store_true", help="release them through nbgrader's exchange")
    f.add_argument("--exchange", type=Path, help="the exchange's folder (default: nbgrader's config)")
    f.add_argument("--owner", metavar="USER", help="give the class folders to USER afterwards")
    f.set_defaults(run=cmd_feedback)

    e = sub.add_parser("export", help="grades for an LMS: Canvas and Moodle import CSVs, and the full table")
    e.add_argument("assignments", nargs="*", help="default: every assignment in the gradebook")
    e.add_argument("--out", type=Path, help="folder (default: autograder/exports)")
    e.add_argument("--canvas-id", action="append", default=[], metavar="ASSIGNMENT=ID",
                   help="the Canvas assignment an assignment's column updates")
    e.set_defaults(run=cmd_export)

    t = sub.add_parser("stats", help="the class at a glance: statistics, histogram PNG, questions, missing")
    t.add_argument("assignment")
    t.set_defaults(run=cmd_stats)

    c = sub.add_parser("check", help="gradebook integrity: grade rows for every submission, no orphans")
    c.add_argument("assignment")
    c.set_defaults(run=cmd_check)

    k = sub.add_parser("classgen", help="write a synthetic class with expected scores")
    k.add_argument("assignment")
    k.add_argument("--out", type=Path, required=True)
    k.add_argument("--copies", type=int, default=1, help="copies of each normal case")
    k.add_argument("--no-hostile", action="store_true")
    k.set_defaults(run=cmd_classgen)

    b = sub.add_parser("bench", help="60 submissions: 1 and 2 workers vs plain nbgrader autograde")
    b.add_argument("--assignment", help="default: the heaviest finished lesson")
    b.add_argument("--submissions", type=int, default=60)
    b.add_argument("--cluster", action="store_true",
                   help="2 local workers vs a Dask cluster of 2 workers on this machine")
    b.set_defaults(run=cmd_bench)

    w = sub.add_parser("bench-gradebook", help="the gradebook's write rate (grades/s); --db for PostgreSQL")
    w.add_argument("--assignment", default="00_orientation")
    w.add_argument("--writes", type=int, default=200)
    w.set_defaults(run=cmd_bench_gradebook)
    add_leaderboard(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    # nbgrader runs alembic by name when it creates a gradebook: it must find the venv's
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
