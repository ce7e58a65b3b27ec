"""Grade a class: intake, a pool of sandboxed workers, progress with ETA, gradebook, CSV.

The parent is the only process that writes the real gradebook and the course's class folders.
Each worker slot owns one long-lived worker process and one sandbox account; a worker that
overruns the per-submission limit (plus slack) is killed with its kernels and replaced. From a
worker's private folder the parent copies back nothing but the graded notebook and its
feedback page, and only if they are regular files.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import pwd
import queue
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import nbformat
from tqdm import tqdm

from . import gradebook, intake, sandbox, tamper
from .course_dir import Course

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
WORKER_SLACK_S = 60.0  # the worker's own start-up and bookkeeping around the kernel
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "TORCH_NUM_THREADS")


@dataclass(frozen=True)
class Limits:
    """Per-submission limits. Defaults: a lesson runs in at most 60 s and 1.5 GB (its budget)."""

    cell_timeout: int = 120
    timeout: float = 300.0
    memory_mb: float = 2048.0
    output_bytes: int = 2_000_000
    scratch_mb: int = 512  # the kernel's private /tmp, and its /dev/shm
    max_notebook_mb: float = 20.0
    max_cells: int = 1000


@dataclass(frozen=True)
class Outcome:
    student: str
    status: str
    score: float
    max_score: float
    needs_manual_grade: bool
    reason: str
    review: str = ""


def worker_env() -> dict[str, str]:
    """The workers' environment: one BLAS/torch thread per kernel, our package importable."""
    env = dict(os.environ)
    for var in THREAD_VARS:
        env.setdefault(var, "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("MPLBACKEND", "Agg")
    return env


class Worker:
    """One worker process; results arrive on a private pipe no kernel inherits."""

    def __init__(self, log: Path):
        read, write = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.worker", str(write)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=open(log, "ab"), pass_fds=(write,),
            env=worker_env(), start_new_session=True, text=True)
        os.close(write)
        self.results = os.fdopen(read)

    def run(self, job: dict, deadline_s: float) -> dict | None:
        """The job's result, or ``None`` if the worker died or overran ``deadline_s``."""
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.results], [], [], deadline_s)
        line = self.results.readline() if ready else ""
        return json.loads(line) if line else None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.results.close()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()
        self.results.close()


def grade_one(worker: Worker, box: sandbox.Sandbox, job: dict, limits: Limits,
              log: Path) -> tuple[dict, Worker]:
    """Grade one job in ``box`` on ``worker``: (result, the worker to use next). A worker that
    dies or overruns the limit (plus slack) is killed with its kernels and replaced."""
    deadline = limits.timeout + WORKER_SLACK_S
    job["sandbox"] = [box.uid if box.isolated else -1, box.gid if box.isolated else -1]
    try:
        result = worker.run(job, deadline)
    except (OSError, ValueError):  # broken pipe or garbled line: replace the worker
        result = None
    if result is None:
        code = worker.proc.poll()
        worker.kill()  # its jailed kernels die with it (parent-death signal)
        sandbox.end(box)
        status, reason = (("timeout", f"grading ran over {deadline:g} s; the worker was stopped")
                          if code is None else ("error", f"the grading worker died (exit code {code})"))
        result = {"student": job["student"], "status": status, "notebooks": None, "reason": reason}
        worker = Worker(log)
    return result, worker


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


def private_file(path: Path) -> Path:
    """Create ``path`` (or keep it) readable by the grader only: logs, grades."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    return path


def _mpl_cache(workdir: Path) -> Path:
    """Build matplotlib's font cache once; every kernel gets a copy instead of rebuilding it."""
    cache = workdir / "mpl"
    cache.mkdir()
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], check=False,
                   env={**worker_env(), "MPLCONFIGDIR": str(cache)}, capture_output=True)
    return cache


def _public_files(template: gradebook.Template, workdir: Path) -> str:
    """The assignment's released files other than notebooks, for the kernel's working folder."""
    release = template.root / "release" / template.assignment
    files = [p for p in release.rglob("*") if p.is_file() and p.suffix != ".ipynb"]
    if not files:
        return ""
    dest = workdir / "files"
    for path in files:
        (dest / path.relative_to(release)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / path.relative_to(release))
    return str(dest)


def job_common(course_id: str, assignment: str, template: gradebook.Template, workdir: Path,
               limits: Limits, feedback: bool, hide_hidden_tests: bool) -> dict:
    """What every job of one grading run shares (paths are on the machine that grades)."""
    return {"assignment": assignment, "course_id": course_id, "notebook": assignment,
            "template": str(template.root), "limits": asdict(limits), "feedback": feedback,
            "hide_hidden_tests": hide_hidden_tests, "home_seed": str(_mpl_cache(workdir)),
            "work_seed": _public_files(template, workdir),
            "readonly": list(sandbox.readonly_paths(PACKAGE_ROOT)),
            "lesson_modules": tamper.lesson_imports(
                [c.source for nb in template.source.glob("*.ipynb")
                 for c in nbformat.read(str(nb), 4).cells if c.cell_type == "code"])}


def job_for(common: dict, student: str, notebook: Path, jobdir: Path) -> dict:
    """One student's job: the staged notebook's folder, its timestamp, a scratch folder."""
    stamp = notebook.parent / "timestamp.txt"
    return {**common, "student": student, "submission": str(notebook.parent), "jobdir": str(jobdir),
            "timestamp": stamp.read_text().strip() if stamp.exists() else None}


def _jobs(course: Course, assignment: str, staged: dict[str, Path], template: gradebook.Template,
          workdir: Path, limits: Limits, feedback: bool, hide_hidden_tests: bool) -> list[dict]:
    common = job_common(course.course_id, assignment, template, workdir, limits, feedback,
                        hide_hidden_tests)
    return [job_for(common, student, notebook, workdir / "jobs" / f"j{index:04d}")
            for index, (student, notebook) in enumerate(sorted(staged.items()))]


def _copy_regular(src: Path, dest: Path, max_bytes: int | None = None) -> None:
    """Copy ``src`` if it is a regular file (never through a link) of at most ``max_bytes``,
    else nothing."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if stat.S_ISREG(info.st_mode) and (max_bytes is None or info.st_size <= max_bytes):
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "wb") as out:
                shutil.copyfileobj(fh, out)


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
            _copy_regular(Path(result[key]) / name, dest / name)
    page = course.feedback / student / assignment / f"{notebook}.html"
    if page.exists():
        for name in intake.EXCHANGE_FILES:
            _copy_regular(course.submitted / student / assignment / name, page.parent / name,
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
            args = (course, assignment, taken.staged, template, workdir, limits, feedback,
                    hide_hidden_tests)
            results = remote.grade(*args) if remote else _local(*args, workers)
            for result in tqdm(results, total=len(taken.staged), desc=f"grading {assignment}",
                               unit="nb", disable=not progress, mininterval=1.0):
                record(course, assignment, result, reasons)
    return outcomes(course, assignment, reasons)


def _local(course: Course, assignment: str, staged: dict[str, Path], template: gradebook.Template,
           workdir: Path, limits: Limits, feedback: bool, hide_hidden_tests: bool,
           workers: int) -> Iterator[dict]:
    """Results as this machine's sandboxed workers finish them (one thread per slot)."""
    (workdir / "jobs").mkdir()
    jobs, done = queue.Queue(), queue.Queue()
    for job in _jobs(course, assignment, staged, template, workdir, limits, feedback,
                     hide_hidden_tests):
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
