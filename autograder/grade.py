"""Grade a class: intake, a pool of sandboxed workers, progress with ETA, gradebook, CSV.

The parent is the only process that writes the real gradebook and the course's class folders.
Each worker slot owns one long-lived worker process and one sandbox account; a worker that
overruns the per-submission limit (plus slack) is killed with its kernels and replaced.
"""
from __future__ import annotations

import csv
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from . import gradebook, intake, sandbox
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


@dataclass(frozen=True)
class Outcome:
    student: str
    status: str
    score: float
    max_score: float
    needs_manual_grade: bool
    reason: str


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


def _slot(box: sandbox.Sandbox, jobs: queue.Queue, done: queue.Queue, limits: Limits, log: Path) -> None:
    worker = Worker(log)
    deadline = limits.timeout + WORKER_SLACK_S
    while True:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            break
        job["sandbox"] = [box.uid if box.isolated else -1, box.gid if box.isolated else -1]
        try:
            result = worker.run(job, deadline)
        except (OSError, ValueError):  # broken pipe or garbled line: replace the worker
            result = None
        if result is None:
            code = worker.proc.poll()
            worker.kill()
            sandbox.kill_sandbox(box, None)
            status, reason = (("timeout", f"grading ran over {deadline:g} s; the worker was stopped")
                              if code is None else ("error", f"the grading worker died (exit code {code})"))
            result = {"student": job["student"], "status": status, "notebooks": None, "reason": reason}
            worker = Worker(log)
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


def _mpl_cache(workdir: Path) -> Path:
    """Build matplotlib's font cache once; every kernel gets a copy instead of rebuilding it."""
    cache = workdir / "mpl"
    cache.mkdir()
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], check=False,
                   env={**worker_env(), "MPLCONFIGDIR": str(cache)}, capture_output=True)
    return cache


def _jobs(course: Course, assignment: str, staged: dict[str, Path], template: gradebook.Template,
          workdir: Path, limits: Limits, feedback: bool) -> list[dict]:
    mpl = _mpl_cache(workdir)
    jobs = []
    for student, notebook in sorted(staged.items()):
        stamp = notebook.parent / "timestamp.txt"
        jobs.append({"student": student, "assignment": assignment, "course_id": course.course_id,
                     "submission": str(notebook.parent), "template": str(template.root),
                     "jobdir": str(workdir / "jobs" / student), "limits": asdict(limits),
                     "feedback": feedback, "mpl_cache": str(mpl),
                     "readonly": sorted({str(course.root), str(PACKAGE_ROOT)}),
                     "timestamp": stamp.read_text().strip() if stamp.exists() else None})
    return jobs


def _collect(course: Course, assignment: str, result: dict) -> None:
    """Grades into the real gradebook, the graded notebook and feedback into the class folders."""
    student = result["student"]
    gradebook.merge(course, assignment, student, result["notebooks"], result.get("timestamp"))
    for key, folder in (("autograded", course.autograded), ("feedback", course.feedback)):
        src, dest = Path(result.get(key) or "/nonexistent"), folder / student / assignment
        if src.is_dir():
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            for item in src.glob("*.ipynb" if key == "autograded" else "*.html"):
                if item.is_file() and not item.is_symlink():
                    shutil.copyfile(item, dest / item.name)


def grade_class(course: Course, assignment: str, submissions: Path, workers: int = 2,
                limits: Limits = Limits(), feedback: bool = True, progress: bool = True) -> list[Outcome]:
    """Grade every submission of ``assignment`` found in ``submissions``; see the module doc."""
    staged = intake.intake(submissions, assignment, course.submitted)
    lock_down(course)
    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o711)  # kernels traverse to their own folders only
        template = gradebook.prepare(course, assignment, workdir)
        (workdir / "jobs").mkdir(mode=0o711)
        jobs, done = queue.Queue(), queue.Queue()
        for job in _jobs(course, assignment, staged, template, workdir, limits, feedback):
            jobs.put(job)
        boxes = sandbox.sandboxes(min(workers, len(staged)) or 1)
        log = course.submitted.parent / f"grade-{assignment}.log"
        threads = [threading.Thread(target=_slot, args=(box, jobs, done, limits, log), daemon=True)
                   for box in boxes]
        for thread in threads:
            thread.start()
        reasons = {}
        for _ in tqdm(range(len(staged)), desc=f"grading {assignment}", unit="nb",
                      disable=not progress, mininterval=1.0):
            job, result = done.get()
            _collect(course, assignment, result)
            shutil.rmtree(job["jobdir"], ignore_errors=True)
            reasons[result["student"]] = (result["status"], result["reason"])
        for thread in threads:
            thread.join()
    return outcomes(course, assignment, reasons)


def outcomes(course: Course, assignment: str, reasons: dict[str, tuple[str, str]]) -> list[Outcome]:
    """One row per student: the gradebook's scores beside this run's status and reason."""
    table = gradebook.scores(course, assignment)
    return [Outcome(student, reasons[student][0], row["score"], row["max_score"],
                    row["needs_manual_grade"], reasons[student][1])
            for student, row in sorted(table.items()) if student in reasons]


def write_csv(rows: list[Outcome], path: Path) -> None:
    """The grades CSV: one row per student with status and reason."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(Outcome.__dataclass_fields__))
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
