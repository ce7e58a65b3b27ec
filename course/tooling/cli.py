"""``python -m course``: list the lessons, reproduce a lesson's result, benchmark notebooks."""
from __future__ import annotations

import argparse
import json
import sys

from .. import lessons

__all__ = ["main"]


def _list(_args) -> int:
    print(f"{'id':<18} {'status':<8} title")
    for lesson in lessons.SYLLABUS:
        print(f"{lesson.id:<18} {lesson.status:<8} {lesson.title}")
    return 0


def _print_table(result: dict, indent: str = "") -> None:
    for key, value in result.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_table(value, indent + "  ")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"{indent}{key}:")
            cols = list(value[0])
            print(indent + "  " + "  ".join(f"{c:>14}" for c in cols))
            for row in value:
                print(indent + "  " + "  ".join(f"{_fmt(row[c]):>14}" for c in cols))
        else:
            print(f"{indent}{key:<28} {_fmt(value)}")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _reproduce(args) -> int:
    from .reproduce import run

    result = run(args.lesson_id, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return 0


def _bench(args) -> int:
    from .bench import main as bench_main

    return bench_main(as_json=args.json)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m course", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the lessons with titles and status").set_defaults(func=_list)
    r = sub.add_parser("reproduce", help="run a lesson's headline experiment")
    r.add_argument("lesson_id")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r.set_defaults(func=_reproduce)
    b = sub.add_parser("bench", help="time every solution notebook against the budgets")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # bad input from the user: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
