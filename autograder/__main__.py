"""Command line: ``python -m autograder {grade,check,classgen,bench,bench-gradebook,leaderboard} ...``."""
from __future__ import annotations

import argparse
import os
import pwd
import sys
from pathlib import Path

from . import course_dir
from .slots import Limits
from .leaderboard import add_parser as add_leaderboard


def _course(args) -> course_dir.Course:
    return course_dir.load(args.course).with_db(args.db)


def cmd_grade(args) -> int:
    from .grade import grade_class, hand_over, write_csv
    from .intake import IntakeError

    if args.owner:
        try:
            pwd.getpwnam(args.owner)
        except KeyError:
            print(f"error: --owner {args.owner}: no such account", file=sys.stderr)
            return 2

    errors: tuple[type[Exception], ...] = (IntakeError,)
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
                           hide_hidden_tests=not args.show_hidden_tests, cluster=args.cluster)
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    csv_path = args.csv or course.root / "autograder" / f"grades-{args.assignment}.csv"
    write_csv(rows, csv_path)
    if args.owner:
        hand_over(course, [csv_path, course.submitted.parent / f"grade-{args.assignment}.log"],
                  args.owner)
    width = max([len(r.student) for r in rows] + [7])
    for r in rows:
        flag = " [review: " + r.review + "]" if r.review else ""
        print(f"{r.student:<{width}} {r.status:<9} {r.score:>6g}/{r.max_score:<4g} {r.reason}{flag}")
    flagged = sum(bool(r.review) for r in rows)
    missing = sum(r.status == "missing" for r in rows)
    print(f"{len(rows) - missing} graded, {missing} missing, {flagged} flagged for review; "
          f"grades in {csv_path}")
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
    g.add_argument("--submissions", type=Path, required=True,
                   help="<dir>/<student>/<assignment>/*.ipynb, a folder of <student>_*.ipynb, or a zip")
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
