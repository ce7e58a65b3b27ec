"""A grading slot and the jobs it runs: what local grading (``grade``) and cluster grading
(``cluster``) share, below both of them.

A slot is one long-lived worker process (``autograder.worker``) and one sandbox account; it
grades one job (one student's submission) at a time. A job is a dict: what every job of a run
shares (``job_common``: the template, limits, the kernel's seeds) and the student's own part
(``job_for``). Results come back on a private pipe no kernel inherits.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from . import gradebook, sandbox, tamper

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
               limits: Limits, grading_secret: str) -> dict:
    """What every job of one grading run shares (paths are on the machine that grades). The
    class's secret goes to the judge (``autograder.secret``), never to a kernel."""
    return {"assignment": assignment, "course_id": course_id, "notebook": assignment,
            "grading_secret": grading_secret, "template": str(template.root),
            "limits": asdict(limits), "home_seed": str(_mpl_cache(workdir)),
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



def copy_regular(src: Path, dest: Path, max_bytes: int | None = None) -> None:
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
