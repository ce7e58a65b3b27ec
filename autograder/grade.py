"""Grade a class: intake, a pool of sandboxed workers, progress with ETA, gradebook, CSV, log.

The parent is the only process that writes the real gradebook and the course's class folders.
Each worker slot (``slots``) owns one long-lived worker process and one sandbox account; a
worker that overruns the per-submission limit (plus slack) is killed with its kernels and
replaced. With ``cluster`` the slots live on the workers of a Dask cluster instead. From a
worker's private folder the parent copies back nothing but the graded notebook, and only if it
is a regular file. As each result arrives the parent merges it (a grader's manual scores
stay), puts the rubrics beside written answers for the formgrader, applies the late policy and
writes the student's feedback page from the real gradebook; the run's log gets one line per
student, locally and with ``--cluster`` alike (what the workers and nbgrader print goes to a
log of its own).
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import pwd
import queue
import shutil
import sys
import tempfile
import threading
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import nbformat
from tqdm import tqdm

from . import deadlines, feedback, gradebook, intake, manual, roster, sandbox, secret
from .course_dir import Course, nbgrader_config
from .slots import Limits, Worker, copy_regular, grade_one, job_common, job_for, private_file


@dataclass(frozen=True)
class Outcome:
    """A row of the grades CSV. ``score`` and ``max_score`` are the autograded points only;
    ``total`` adds the written answers as graded by hand and subtracts the late penalty."""

    student: str
    status: str
    score: float
    max_score: float
    needs_manual_grade: bool
    reason: str
    review: str = ""
    lms_id: str = ""
    manual: float = 0.0  # written answers, as graded by hand so far
    pending: float = 0.0  # points of written answers nobody graded yet
    late_penalty: float = 0.0
    total: float = 0.0  # score + manual - late_penalty
    total_max: float = 0.0
    submitted: str = ""  # UTC
    late_by: str = ""


def log_path(course: Course, assignment: str, workers: bool = False) -> Path:
    """The run's log (one line per student), or the log of what workers and nbgrader print."""
    return course.submitted.parent / f"grade-{assignment}{'-workers' if workers else ''}.log"


def log_line(path: Path, text: str) -> None:
    with open(private_file(path), "a", encoding="utf-8") as fh:
        fh.write(f"{dt.datetime.now():%Y-%m-%d %H:%M:%S} {text}\n")


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
          workdir: Path, limits: Limits, grading_secret: str) -> list[dict]:
    common = job_common(course.course_id, assignment, template, workdir, limits, grading_secret)
    return [job_for(common, student, notebook, workdir / "jobs" / f"j{index:04d}")
            for index, (student, notebook) in enumerate(sorted(staged.items()))]


@dataclass
class Run:
    """What recording a result needs besides the result: the rubrics of the written answers,
    the feedback pages (``None``: no feedback), the log, and each student's status so far."""

    course: Course
    assignment: str
    rubrics: dict[str, str]
    pages: feedback.Pages | None
    log: Path
    reasons: dict[str, tuple[str, str, str]]


def _collect(course: Course, assignment: str, notebook: str, result: dict,
             rubrics: dict[str, str]) -> set[str]:
    """Grades into the real gradebook; the graded notebook into the class folder, with what a
    browser would run taken out (the formgrader shows it to the instructor) and the rubrics
    beside the written answers; the written answers that changed since the last grading."""
    student = result["student"]
    name = f"{notebook}.ipynb"
    dest = course.autograded / student / assignment
    before = manual.answers(manual.read(dest / name))
    shutil.rmtree(dest, ignore_errors=True)
    if result.get("autograded"):
        copy_regular(Path(result["autograded"]) / name, dest / name)
    graded = manual.read(dest / name)
    if graded is not None:
        feedback.clean_notebook(graded)
        manual.add_rubrics(graded, rubrics)
        nbformat.write(graded, str(dest / name))
    changed = manual.changed_answers(before, manual.answers(graded))
    gradebook.merge(course, assignment, student, result["notebooks"], result.get("timestamp"),
                    frozenset(changed))
    return changed


def record(run: Run, result: dict, notes: dict[str, str]) -> None:
    """Collect one result into the gradebook and class folders, apply the late policy, write
    its feedback page and log line; its status, reason and review into ``run.reasons``."""
    student = result["student"]
    changed = _collect(run.course, run.assignment, run.assignment, result, run.rubrics)
    deadlines.apply(run.course, run.assignment, {student})
    problem = None
    try:  # a page nbconvert cannot render costs that student their page, not the class its run
        if run.pages:
            run.pages.write(student)
    except Exception as exc:  # noqa: BLE001
        problem = f"no feedback page: {type(exc).__name__}: {str(exc)[:200]}"
    reason = "; ".join(filter(None, [result["reason"], notes.get(student), problem, *(
        f"written answer {g} changed since it was graded: its manual score and comment are kept, "
        "and it is flagged for grading again" for g in sorted(changed))]))
    run.reasons[student] = (result["status"], reason, "; ".join(result.get("review") or []))
    log_line(run.log, f"{student}: {result['status']}: {reason}"
             + (f" [review: {run.reasons[student][2]}]" if run.reasons[student][2] else ""))


def _reject(course: Course, assignment: str, rejected: dict[str, str]) -> None:
    """Refused submissions of students score 0 with their reason; nothing stale stays."""
    for student in rejected:
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


def grade_class(course: Course, assignment: str, submissions: Path | list[Path], workers: int = 2,
                limits: Limits = Limits(), feedback: bool = True, progress: bool = True,
                hide_hidden_tests: bool = True, cluster: str | None = None,
                tz: dt.tzinfo = dt.timezone.utc) -> list[Outcome]:
    """Grade every submission of ``assignment`` found in ``submissions`` (folders or zips);
    see the module doc. With ``cluster`` (a Dask scheduler's address) the workers of that
    cluster grade instead of local ones; this process still does the intake and writes every
    grade. ``tz``: the time zone of the times in an LMS export's zip entries."""
    if cluster:
        from .cluster import connect
    with connect(cluster) if cluster else contextlib.nullcontext() as remote, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", sandbox.IsolationWarning)
        lock_down(course)
        taken = intake.intake(submissions, assignment, course.submitted, limits.max_notebook_mb,
                              roster.load(course), tz)
        with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
            workdir = Path(tmp)
            workdir.chmod(0o700)
            template = gradebook.prepare(course, assignment, workdir)
            gradebook.note_lms_ids(course, taken.lms_ids)
            run = _start(course, assignment, feedback, hide_hidden_tests, len(taken.staged), workdir)
            _reject(course, assignment, taken.rejected)
            run.reasons |= {s: ("rejected", r, "") for s, r in (taken.rejected | taken.unowned).items()}
            run.reasons |= {s: ("missing", r, "") for s, r in _missing(course, assignment, taken).items()}
            for student, (status, reason, _) in sorted(run.reasons.items()):
                log_line(run.log, f"{intake.label(student)}: {status}: {reason}")
            key, note = secret.load_or_draw()
            if note:
                print(f"note: {note}", file=sys.stderr)
                log_line(run.log, f"note: {note}")
            args = (course, assignment, taken.staged, template, workdir, limits, key)
            results = remote.grade(*args) if remote else _local(*args, workers)
            for result in tqdm(results, total=len(taken.staged), desc=f"grading {assignment}",
                               unit="nb", disable=not progress, mininterval=1.0):
                record(run, result, taken.notes)
    for warning in caught:  # said again, and kept in the log when it matters
        if issubclass(warning.category, sandbox.IsolationWarning):
            log_line(run.log, f"warning: {warning.message}")
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    rows = outcomes(course, assignment, run.reasons)
    log_line(run.log, summary_line(rows))
    return rows


def _start(course: Course, assignment: str, with_feedback: bool, hide_hidden_tests: bool,
           staged: int, workdir: Path) -> Run:
    """The run's rubrics, feedback writer and log (its first line names the scratch folder)."""
    source = course.source / assignment / f"{assignment}.ipynb"
    rubrics = manual.rubrics(source) if source.is_file() else {}
    pages = (feedback.Pages(course, assignment, hide_hidden_tests, nbgrader_config(course.root))
             if with_feedback else None)
    run = Run(course, assignment, rubrics, pages, log_path(course, assignment), {})
    log_line(run.log, f"grading {assignment}: {staged} submissions, scratch folder {workdir}")
    for warning in deadlines.apply(course, assignment, set()):
        log_line(run.log, f"warning: {warning}")
    return run


def summary_line(rows: list[Outcome]) -> str:
    """``12 graded, 2 refused, 1 missing, 0 flagged for review``: refusals are not grades."""
    count = {status: sum(r.status == status for r in rows) for status in ("rejected", "missing")}
    graded = len(rows) - count["rejected"] - count["missing"]
    return (f"{graded} graded, {count['rejected']} refused, {count['missing']} missing, "
            f"{sum(bool(r.review) for r in rows)} flagged for review")


def _local(course: Course, assignment: str, staged: dict[str, Path], template: gradebook.Template,
           workdir: Path, limits: Limits, grading_secret: str, workers: int) -> Iterator[dict]:
    """Results as this machine's sandboxed workers finish them (one thread per slot)."""
    (workdir / "jobs").mkdir()
    jobs, done = queue.Queue(), queue.Queue()
    for job in _jobs(course, assignment, staged, template, workdir, limits, grading_secret):
        jobs.put(job)
    log = private_file(log_path(course, assignment, workers=True))
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
    top, top_total = gradebook.max_score(course, assignment), gradebook.max_total(course, assignment)
    known = roster.load(course).students
    rows = [Outcome(student, reasons[student][0], row["score"], row["max_score"],
                    row["needs_manual_grade"], reasons[student][1], reasons[student][2],
                    row["lms_id"], row["manual"], row["pending"], row["late_penalty"], row["total"],
                    row["total_max"], f"{row['timestamp']:%Y-%m-%d %H:%M:%S}" if row["timestamp"] else "",
                    deadlines.lateness(row["seconds_late"]) if row["seconds_late"] else "")
            for student, row in sorted(table.items()) if student in reasons]
    rows += [Outcome(intake.label(s), status, 0.0, top, False, reason,
                     lms_id=known[s].lms_id if s in known else "", total_max=top_total)
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
