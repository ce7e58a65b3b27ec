"""Grade a class: intake, a pool of sandboxed workers, progress with ETA, gradebook, CSV.

The parent is the only process that writes the real gradebook and the course's class folders.
Each worker slot (``slots``) owns one long-lived worker process and one sandbox account; a
worker that overruns the per-submission limit (plus slack) is killed with its kernels and
replaced. With ``cluster`` the slots live on the workers of a Dask cluster instead. From a
worker's private folder the parent copies back nothing but the graded notebook and its
feedback page, and only if they are regular files.
"""
from __future__ import annotations

import contextlib
import csv
import os
import pwd
import queue
import shutil
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from . import gradebook, intake, sandbox, secret
from .course_dir import Course
from .slots import Limits, Worker, copy_regular, grade_one, job_common, job_for, private_file


@dataclass(frozen=True)
class Outcome:
    student: str
    status: str
    score: float
    max_score: float
    needs_manual_grade: bool
    reason: str
    review: str = ""


def _slot(box: sandbox.Sandbox, jobs: queue.Queue, done: queue.Queue, limits: Limits, log: Path) -> None:
    worker = Worker(log)
    while True:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            break
        result, worker = grade_one(worker, box, job, limits, log)
        done.put((job, result))
    worker.close()


def lock_down(course: Course) -> None:
    """Class folders and the SQLite gradebook: the grader's only."""
    for folder in course.class_folders():
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
    if course.db_url.startswith("sqlite:///"):
        db = Path(course.db_url.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
        db.touch()
        db.chmod(0o600)


def _jobs(course: Course, assignment: str, staged: dict[str, Path], template: gradebook.Template,
          workdir: Path, limits: Limits, feedback: bool, hide_hidden_tests: bool,
          grading_secret: str) -> list[dict]:
    common = job_common(course.course_id, assignment, template, workdir, limits, feedback,
                        hide_hidden_tests, grading_secret)
    return [job_for(common, student, notebook, workdir / "jobs" / f"j{index:04d}")
            for index, (student, notebook) in enumerate(sorted(staged.items()))]


def _collect(course: Course, assignment: str, notebook: str, result: dict) -> None:
    """Grades into the real gradebook; the graded notebook and feedback into the class folders,
    the feedback with the submission's exchange files (``nbgrader release_feedback`` names the
    released page after them)."""
    student = result["student"]
    gradebook.merge(course, assignment, student, result["notebooks"], result.get("timestamp"))
    for key, folder, name in (("autograded", course.autograded, f"{notebook}.ipynb"),
                              ("feedback", course.feedback, f"{notebook}.html")):
        dest = folder / student / assignment
        shutil.rmtree(dest, ignore_errors=True)
        if result.get(key):
            copy_regular(Path(result[key]) / name, dest / name)
    page = course.feedback / student / assignment / f"{notebook}.html"
    if page.exists():
        for name in intake.EXCHANGE_FILES:
            copy_regular(course.submitted / student / assignment / name, page.parent / name,
                          intake.MAX_SMALL)


def record(course: Course, assignment: str, result: dict,
           reasons: dict[str, tuple[str, str, str]]) -> None:
    """Collect one result into the gradebook and class folders; its status, reason, review."""
    _collect(course, assignment, assignment, result)
    reasons[result["student"]] = (result["status"], result["reason"],
                                  "; ".join(result.get("review") or []))


def _reject(course: Course, assignment: str, rejected: dict[str, str]) -> None:
    """Refused submissions of usable ids score 0 with their reason; nothing stale stays."""
    for student in rejected:
        if not intake.valid_id(student):
            continue
        folder = course.submitted / student / assignment
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        gradebook.merge(course, assignment, student, None)
        for graded in (course.autograded, course.feedback):
            shutil.rmtree(graded / student / assignment, ignore_errors=True)


def _missing(course: Course, assignment: str, taken: intake.Intake) -> dict[str, str]:
    """Students named without a grade: a folder without a notebook, or on the roster (the
    gradebook's students) with no submission of ``assignment`` anywhere. No grade is written."""
    out = dict(taken.missing)
    for student in sorted(gradebook.without_submission(course, assignment)):
        if student not in taken.staged and student not in taken.rejected and student not in out \
                and not any((course.submitted / student / assignment).glob("*.ipynb")):
            out[student] = f"on the roster, but no submission of {assignment} was found"
    return out


def grade_class(course: Course, assignment: str, submissions: Path, workers: int = 2,
                limits: Limits = Limits(), feedback: bool = True, progress: bool = True,
                hide_hidden_tests: bool = True, cluster: str | None = None) -> list[Outcome]:
    """Grade every submission of ``assignment`` found in ``submissions``; see the module doc.
    With ``cluster`` (a Dask scheduler's address) the workers of that cluster grade instead
    of local ones; this process still does the intake and writes every grade."""
    if cluster:
        from .cluster import connect
    with connect(cluster) if cluster else contextlib.nullcontext() as remote:
        lock_down(course)
        taken = intake.intake(submissions, assignment, course.submitted, limits.max_notebook_mb)
        with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
            workdir = Path(tmp)
            workdir.chmod(0o700)
            template = gradebook.prepare(course, assignment, workdir)
            _reject(course, assignment, taken.rejected)
            reasons = {s: ("rejected", r, "") for s, r in taken.rejected.items()}
            reasons |= {s: ("missing", r, "") for s, r in _missing(course, assignment, taken).items()}
            key, note = secret.load_or_draw()
            if note:
                print(f"note: {note}", file=sys.stderr)
            args = (course, assignment, taken.staged, template, workdir, limits, feedback,
                    hide_hidden_tests, key)
            results = remote.grade(*args) if remote else _local(*args, workers)
            for result in tqdm(results, total=len(taken.staged), desc=f"grading {assignment}",
                               unit="nb", disable=not progress, mininterval=1.0):
                record(course, assignment, result, reasons)
    return outcomes(course, assignment, reasons)


def _local(course: Course, assignment: str, staged: dict[str, Path], template: gradebook.Template,
           workdir: Path, limits: Limits, feedback: bool, hide_hidden_tests: bool,
           grading_secret: str, workers: int) -> Iterator[dict]:
    """Results as this machine's sandboxed workers finish them (one thread per slot)."""
    (workdir / "jobs").mkdir()
    jobs, done = queue.Queue(), queue.Queue()
    for job in _jobs(course, assignment, staged, template, workdir, limits, feedback,
                     hide_hidden_tests, grading_secret):
        jobs.put(job)
    log = private_file(course.submitted.parent / f"grade-{assignment}.log")
    with open(log, "a") as fh:
        fh.write(f"grading {assignment}: {len(staged)} submissions, scratch folder {workdir}\n")
    with sandbox.sandboxes(min(workers, len(staged)) or 1) as boxes:
        threads = [threading.Thread(target=_slot, args=(box, jobs, done, limits, log), daemon=True)
                   for box in boxes]
        for thread in threads:
            thread.start()
        for _ in range(len(staged)):
            job, result = done.get()
            yield result  # collected before its scratch folder goes
            shutil.rmtree(job["jobdir"], ignore_errors=True)
        for thread in threads:
            thread.join()


def outcomes(course: Course, assignment: str, reasons: dict[str, tuple[str, str, str]]) -> list[Outcome]:
    """One row per student: the gradebook's scores beside this run's status, reason and review;
    refused ids and missing students, who are not in the gradebook, get a row of their own."""
    table = gradebook.scores(course, assignment)
    top = gradebook.max_score(course, assignment)
    rows = [Outcome(student, reasons[student][0], row["score"], row["max_score"],
                    row["needs_manual_grade"], reasons[student][1], reasons[student][2])
            for student, row in sorted(table.items()) if student in reasons]
    rows += [Outcome(intake.label(s), status, 0.0, top, False, reason)
             for s, (status, reason, _) in sorted(reasons.items()) if s not in table]
    return rows


def hand_over(course: Course, paths: list[Path], user: str) -> None:
    """Give the class folders, the SQLite gradebook and ``paths`` (CSV, log) to ``user``: the
    instructor whose course root graded, so that nbgrader's ``release_feedback`` run as them
    can read the feedback. Links are never followed (``fwalk`` holds each folder open)."""
    entry = pwd.getpwnam(user)
    ids = (entry.pw_uid, entry.pw_gid)
    db = [Path(course.db_url.removeprefix("sqlite:///"))] if course.db_url.startswith("sqlite:///") else []
    for path in [*db, *paths]:
        if path.exists():
            os.chown(path, *ids, follow_symlinks=False)
    for folder in course.class_folders():
        os.chown(folder, *ids, follow_symlinks=False)
        for _, dirs, files, fd in os.fwalk(folder, follow_symlinks=False):
            for name in dirs + files:
                os.chown(name, *ids, dir_fd=fd, follow_symlinks=False)


def write_csv(rows: list[Outcome], path: Path) -> None:
    """The grades CSV (the grader's only): one row per student with status, reason, review."""
    with open(private_file(path), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(Outcome.__dataclass_fields__))
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
