"""``python -m course``: list the lessons, reproduce a lesson's result, benchmark notebooks,
export a lesson's data in the SPF authors' layout and fit SPF on any such folder."""
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


#: lessons whose data can be exported: id -> writer(seed, folder, n_users)
EXPORTS = {"05_social": "course.social:export_town"}


def _export(args) -> int:
    if args.lesson_id not in EXPORTS:
        raise ValueError(f"lesson {args.lesson_id!r} has no data to export; "
                         f"exportable: {', '.join(EXPORTS)}")
    folder = lessons.load(EXPORTS[args.lesson_id])(seed=args.seed, folder=args.out,
                                                   n_users=args.users)
    print(f"wrote {', '.join(sorted(p.name for p in folder.iterdir()))} to {folder}")
    return 0


def _spf(args) -> int:
    from ..social import fit_folder

    result = fit_folder(args.folder, model=args.model, n_factors=args.K,
                        iterations=args.iterations, warm=args.start == "pf",
                        tau_prior=args.tau_prior, seed=args.seed, progress=not args.json)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


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
    e = sub.add_parser("export", help="write a lesson's data as train/validation/test/network "
                                      ".tsv (the SPF authors' folder layout)")
    e.add_argument("lesson_id")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", required=True, help="the folder to write")
    e.add_argument("--users", type=_positive, default=2000,
                   help="users in the town (default 2000, the lesson's; the same catalog, clicks "
                        "and friends per user at any size)")
    e.set_defaults(func=_export)
    f = sub.add_parser("spf", help="fit SPF (or PF, social-only) on a folder in the SPF authors' "
                                   "layout; print NCRR on test.tsv, every fit run and the time "
                                   "of the whole fit",
                       description="By default the lesson's recipe: PF from a random start, then "
                                   "SPF continued from it with each tau prior of "
                                   "course.social.TAU_PRIORS, the best validation log-likelihood "
                                   "kept (four fits). --start random --tau-prior 2 5 fits the "
                                   "paper's SPF once, from a random start.")
    f.add_argument("folder")
    f.add_argument("--K", type=_positive, default=10, help="number of factors (default 10)")
    f.add_argument("--iterations", type=_positive, default=None,
                   help="run exactly N iterations in every fit of the recipe (default: each "
                        "until the validation log-likelihood converges)")
    f.add_argument("--start", choices=("pf", "random"), default="pf",
                   help="pf (default): continue from a PF fit, the lesson's recipe; random: "
                        "every fit from a random start")
    f.add_argument("--tau-prior", nargs=2, type=_positive_float, metavar=("SHAPE", "RATE"),
                   default=None, help="fix SPF's Gamma prior on tau (default: chosen on "
                                      "validation from the lesson's three)")
    f.add_argument("--model", choices=("spf", "pf", "social_only"), default="spf")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=_spf)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # bad input from the user: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
