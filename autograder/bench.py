"""Benchmark: one class of the heaviest finished lesson graded three ways in one run.

Plain sequential ``nbgrader autograde``, then this tool with 1 and with 2 workers, each in its
own scratch copy of the course, on the same synthetic submissions (correct, blank, partially
wrong). With ``--cluster``: this tool with 2 local workers against a Dask cluster of 2 worker
processes on this machine (``grade --cluster``), started before the clock runs. Everything
the tool does is timed (intake, template, sandbox, merge); for nbgrader only
``autograde`` is timed (its ``generate_assignment`` is set-up). Feedback is off on both sides:
plain ``autograde`` does not make it.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbgrader.api import Gradebook

from . import classgen, course_dir, gradebook
from .grade import log_path

REPO = Path(__file__).resolve().parent.parent
JUDGED = re.compile(r"\(judge (\d+) cells, (\d+) calls, ([\d.]+) s judging, ([\d.]+) s in calls\)")


def _env() -> dict[str, str]:
    from course.tooling.bench import one_thread_env  # the lessons' own budget conditions

    env = one_thread_env()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(REPO)
    return env


def heaviest(root: Path) -> tuple[str, float]:
    """The finished lesson whose solution takes longest to run under grading conditions."""
    from course.tooling import bench

    os.environ["NBGRADER_EXECUTION"] = "autograde"  # lessons shrink heavy work while graded
    try:
        timed = [(bench.run_notebook(p)["wall_s"], p.parent.name)
                 for p in sorted(root.glob("solutions/*/*.ipynb")) if p.stem == p.parent.name]
    finally:
        del os.environ["NBGRADER_EXECUTION"]
    seconds, lesson = max(timed)
    return lesson, seconds


def _scratch_course(root: Path, dest: Path, assignment: str) -> course_dir.Course:
    dest.mkdir(parents=True)
    shutil.copy(root / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(root / "solutions" / assignment, dest / "solutions" / assignment)
    (dest / "autograder").mkdir()
    return course_dir.load(dest)


def _timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall


def _scores(course: course_dir.Course, assignment: str) -> dict[str, float]:
    with Gradebook(course.db_url, course.course_id) as gb:
        return {s.student.id: s.code_score for s in gb.assignment_submissions(assignment)}


def plain_nbgrader(course: course_dir.Course, assignment: str, klass: Path) -> float:
    """Wall time of sequential ``nbgrader autograde`` on the class."""
    shutil.copytree(klass, course.submitted, ignore=shutil.ignore_patterns("*.json"))
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    _timed([nbgrader, "generate_assignment", assignment, "--force"], course.root)
    return _timed([nbgrader, "autograde", assignment, "--force"], course.root)


def ours(course: course_dir.Course, assignment: str, klass: Path, workers: int,
         cluster: str | None = None) -> float:
    """Wall time of this tool with ``workers`` local workers, or on the Dask ``cluster``."""
    how = ["--cluster", cluster] if cluster else ["--workers", str(workers)]
    return _timed([sys.executable, "-m", "autograder", "--course", str(course.root), "grade",
                   assignment, "--submissions", str(klass), *how, "--no-feedback"], course.root)


@contextlib.contextmanager
def dask_cluster(workers: int):
    """The address of a Dask cluster on this machine: one process per worker,
    one thread each, in the lessons' one-thread environment, started as the README says
    (``--preload autograder.cluster``: the grader's imports happen when a worker starts)."""
    from distributed import LocalCluster

    os.environ.update(_env())
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, preload=["autograder.cluster"]) as cluster:
        yield cluster.scheduler_address


def run(root: Path, assignment: str | None, submissions: int, cluster: bool = False) -> dict:
    """Grade ``submissions`` students three ways (or locally and on a cluster, with 2 workers
    each); wall times, ratios and score agreement."""
    picked, solo_s = heaviest(root) if assignment is None else (assignment, None)
    work = Path(tempfile.mkdtemp(prefix="autograder-bench-"))
    base = course_dir.load(root)
    expected = classgen.write_class(base, picked, work / "class",
                                    copies=-(-submissions // 3), hostile=False)
    for student in sorted(expected)[submissions:]:
        shutil.rmtree(work / "class" / student)
        del expected[student]
    klass = work / "class"
    with dask_cluster(2) if cluster else contextlib.nullcontext() as remote:
        modes = ({"2 workers": lambda c: ours(c, picked, klass, 2),
                  "cluster, 2 workers": lambda c: ours(c, picked, klass, 2, remote)} if cluster else
                 {"nbgrader": lambda c: plain_nbgrader(c, picked, klass),
                  "1 worker": lambda c: ours(c, picked, klass, 1),
                  "2 workers": lambda c: ours(c, picked, klass, 2)})
        walls, agree, load = {}, {}, {}
        for name, grade in modes.items():
            course = _scratch_course(root, work / name.replace(" ", "-").replace(",", ""), picked)
            walls[name] = round(grade(course), 1)
            load[name] = round(os.getloadavg()[1], 1)  # other work on the machine skews ratios
            got = _scores(course, picked)
            agree[name] = sum(abs(got.get(s, -1) - v) < 1e-9 for s, v in expected.items())
            if name == "2 workers":
                judge = judge_cost(course, picked)
    kept = not all(n == len(expected) for n in agree.values())
    if not kept:
        shutil.rmtree(work)
    report = {"lesson": picked, "solution_s_under_grading": solo_s, "submissions": len(expected),
              "kept_for_inspection": str(work) if kept else None, "wall_s": walls,
              "trusted_process_per_submission": judge,
              "matching_expected_scores": agree,
              "cpus": os.cpu_count(), "load_avg_5min_after_each": load}
    if cluster:
        report["cluster_vs_local_2_workers"] = round(walls["cluster, 2 workers"] / walls["2 workers"], 2)
        return report
    return {**report,
            "speedup_2_workers_vs_nbgrader": round(walls["nbgrader"] / walls["2 workers"], 2),
            "speedup_1_worker_vs_nbgrader": round(walls["nbgrader"] / walls["1 worker"], 2),
            "speedup_2_vs_1_worker": round(walls["1 worker"] / walls["2 workers"], 2)}


def judge_cost(course: course_dir.Course, assignment: str) -> dict:
    """What the grader's judge cost per submission in a run (from its log): seconds running
    test code in the judge, seconds relaying calls to the kernel (the student's own compute
    included), calls; and the judge's start (its imports), paid once per grading process."""
    log = log_path(course, assignment, workers=True).read_text()  # what the workers printed
    rows = [tuple(map(float, m.groups())) for m in JUDGED.finditer(log)]
    if not rows:
        return {}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import autograder.judge, course.checks, course.capstone"],
                   env=_env(), check=True)
    n = len(rows)
    return {"submissions": n, "calls": round(sum(r[1] for r in rows) / n, 1),
            "judge_s": round(sum(r[2] for r in rows) / n, 3),
            "calls_s_incl_student_code": round(sum(r[3] for r in rows) / n, 3),
            "judge_start_once_s": round(time.perf_counter() - start, 2)}


def gradebook_rate(root: Path, assignment: str, db_url: str | None, writes: int) -> dict:
    """Submissions merged per second by ``gradebook.merge`` (the coordinator's one write per
    submission) into a fresh SQLite gradebook, or into ``db_url``: new students first, then the
    same submissions again (a re-run)."""
    work = Path(tempfile.mkdtemp(prefix="autograder-bench-"))
    try:
        course = _scratch_course(root, work / "course", assignment).with_db(db_url)
        template = gradebook.prepare(course, assignment, work)
        with Gradebook(f"sqlite:///{template.db}") as gb:  # every cell full marks, as a worker sends
            notebooks = [{"notebook": nb.name, "late_penalty": None, "comments": {},
                          "grades": {c.name: [c.max_score, False] for c in nb.grade_cells}}
                         for nb in gb.find_assignment(assignment).notebooks]
        students = [f"bench-{os.getpid()}-{i:05d}" for i in range(writes)]
        rates = {}
        for phase in ("new", "rewrite"):
            cpu, start = time.process_time(), time.perf_counter()
            for student in students:
                gradebook.merge(course, assignment, student, notebooks, "2026-01-05 10:00:00")
            wall = time.perf_counter() - start
            rates[phase] = {"grades_per_s": round(writes / wall, 1),
                            "ms_per_grade": round(1000 * wall / writes, 1),
                            "grader_cpu_ms_per_grade": round(1000 * (time.process_time() - cpu) / writes, 1)}
        cells = sum(len(nb["grades"]) for nb in notebooks)
        return {"db": (db_url or "sqlite (scratch file)").split("@")[-1], "assignment": assignment,
                "grade_cells": cells, "writes": writes, **rates, "cpus": os.cpu_count(),
                "load_avg_1min": round(os.getloadavg()[0], 1)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main_gradebook(args) -> int:
    report = gradebook_rate(Path(args.course).resolve(), args.assignment, args.db, args.writes)
    print(json.dumps(report, indent=1))
    return 0


def main(args) -> int:
    report = run(Path(args.course).resolve(), args.assignment, args.submissions, args.cluster)
    print(json.dumps(report, indent=1))
    out = Path(args.course) / "autograder" / ("bench-cluster.json" if args.cluster else "bench-grade.json")
    out.write_text(json.dumps(report, indent=1))
    if args.cluster:
        ratio = report["cluster_vs_local_2_workers"]
        print(f"cluster vs local, 2 workers each: {ratio}x the wall time "
              f"({'meets' if ratio <= 1.1 else 'misses'} the 1.1x target); report in {out}")
        return 0
    ok = report["speedup_2_workers_vs_nbgrader"] >= 1.6
    print(f"2 workers vs sequential nbgrader: {report['speedup_2_workers_vs_nbgrader']}x "
          f"({'meets' if ok else 'misses'} the 1.6x target); report in {out}")
    return 0
