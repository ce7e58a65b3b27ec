"""A grading worker: a long-lived process that autogrades one submission at a time.

The parent sends one job per line on stdin and reads one result per line from a pipe whose
descriptor it passes as the only argument (kernels never inherit it, so student code cannot
forge a result). Each job is graded by
nbgrader in its own scratch course: a copy of the template gradebook, the assignment's source
files and that one submission; the kernel runs sandboxed (see ``sandbox``).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

import nbformat
from nbgrader.apps import NbGraderAPI
from nbgrader.preprocessors import Execute
from nbgrader.converters import Autograde
from traitlets.config import Config

from . import damage
from .gradebook import Template, read_grades
from .sandbox import GuardedExecute

def _config(job: dict, jobdir: Path) -> Config:
    limits, box = job["limits"], job["sandbox"]
    c = Config()
    cd = c.CourseDirectory
    cd.root, cd.course_id = str(jobdir), job["course_id"]
    cd.db_url = f"sqlite:///{jobdir / 'gradebook.db'}"
    cd.source_directory, cd.submitted_directory = "source", "submitted"
    cd.autograded_directory, cd.feedback_directory = "autograded", "feedback"
    c.Autograde.autograde_preprocessors = [GuardedExecute if p is Execute else p
                                           for p in Autograde.class_traits()["autograde_preprocessors"].default()]
    c.OverwriteCells.add_missing_cells = True
    g = c.GuardedExecute
    g.timeout, g.submission_timeout = limits["cell_timeout"], limits["timeout"]
    g.memory_mb, g.output_bytes = limits["memory_mb"], limits["output_bytes"]
    g.sandbox_uid, g.sandbox_gid = box
    g.iopub_timeout = 15  # nbgrader fails a whole notebook on a late idle message: be patient
    g.home, g.report_path = str(jobdir / "home"), str(jobdir / "guard.json")
    g.readonly = job.get("readonly", [])
    return c


def _lay_out(job: dict, jobdir: Path) -> None:
    """The scratch course: readable by the grader only, except the kernel's own folders."""
    template = Template(Path(job["template"]), job["assignment"], job["course_id"])
    shutil.rmtree(jobdir, ignore_errors=True)
    jobdir.mkdir(parents=True)
    jobdir.chmod(0o711)  # the kernel may traverse to its folders, not list or read the rest
    shutil.copyfile(template.db, jobdir / "gradebook.db")
    (jobdir / "gradebook.db").chmod(0o600)
    shutil.copytree(template.source, jobdir / "source" / job["assignment"])
    (jobdir / "source").chmod(0o700)
    dest = jobdir / "submitted" / job["student"] / job["assignment"]
    dest.mkdir(parents=True)
    for item in Path(job["submission"]).iterdir():  # regular files only: no links to follow
        if item.is_file() and not item.is_symlink() and item.suffix in (".ipynb", ".txt"):
            shutil.copyfile(item, dest / item.name)
    (jobdir / "submitted").chmod(0o700)
    (jobdir / "autograded" / job["student"]).mkdir(parents=True, mode=0o711)
    (jobdir / "autograded").chmod(0o711)
    if job.get("mpl_cache"):
        shutil.copytree(job["mpl_cache"], jobdir / "home" / ".config" / "matplotlib")


def _inspect(job: dict, jobdir: Path) -> list[str]:
    """Name the damage to each notebook and repair what nbgrader cannot (duplicated ids)."""
    template = Template(Path(job["template"]), job["assignment"], job["course_id"])
    notes = []
    for path in sorted((jobdir / "submitted" / job["student"] / job["assignment"]).glob("*.ipynb")):
        nb = damage.read(path)
        release = template.release_notebook(path.stem)
        if release.exists():
            notes += damage.damage(nb, damage.read(release))
        damage.dedupe(nb)
        nbformat.write(nb, str(path))
    return notes


def grade(job: dict) -> dict:
    """Autograde one submission; never raises (failures come back as a status and reason)."""
    jobdir = Path(job["jobdir"])
    student, assignment = job["student"], job["assignment"]
    try:
        _lay_out(job, jobdir)
        notes = _inspect(job, jobdir)
    except damage.Unreadable as exc:
        return {"status": "invalid", "reason": str(exc), "notebooks": None}
    api = NbGraderAPI(config=_config(job, jobdir))
    done = api.autograde(assignment, student, force=True, create=True)
    guard = json.loads((jobdir / "guard.json").read_text()) if (jobdir / "guard.json").exists() else {}
    if not done["success"]:
        print(f"--- {student}: nbgrader log\n{done.get('log')}\n{done.get('error')}", file=sys.stderr)
        tail = (done.get("error") or done.get("log") or "").strip().splitlines()[-3:]
        return {"status": "error", "reason": "nbgrader could not autograde: " + " | ".join(tail),
                "notebooks": None}
    if job.get("feedback"):
        api.generate_feedback(assignment, student, force=True)
    out = {"notebooks": read_grades(f"sqlite:///{jobdir / 'gradebook.db'}", assignment, student),
           "autograded": str(jobdir / "autograded" / student / assignment),
           "feedback": str(jobdir / "feedback" / student / assignment),
           "timestamp": job.get("timestamp")}
    return {**out, **_verdict(guard, notes)}


def _verdict(guard: dict, notes: list[str]) -> dict:
    if guard.get("dropped_output_bytes"):
        notes = notes + [f"output cap: {guard['dropped_output_bytes']} bytes of output dropped"]
    if guard.get("stopped"):
        kind, what = guard["stopped"]
        status = {"time": "timeout", "memory": "memory", "crash": "crashed", "output": "output",
                  "glitch": "error"}[kind]
        return {"status": status, "reason": "; ".join([f"kernel stopped: {what}, later cells score 0",
                                                       *notes])}
    if guard.get("interrupted"):
        cells = ", ".join(map(str, guard["interrupted"]))
        return {"status": "timeout", "reason": "; ".join([
            f"time limit: cell {cells} ran over {guard['cell_timeout']} s and was interrupted", *notes])}
    return {"status": "repaired" if notes else "ok", "reason": "; ".join(notes) or "graded"}


def serve(result_fd: int) -> None:
    """Grade jobs from stdin until it closes."""
    results = os.fdopen(result_fd, "w", buffering=1)
    for line in sys.stdin:
        job = json.loads(line)
        start = time.perf_counter()
        result = grade_with_retry(job)
        print(f"{job['student']}: {result['status']} in {time.perf_counter() - start:.1f} s: "
              f"{result['reason']}", file=sys.stderr, flush=True)
        results.write(json.dumps({"student": job["student"], **result}) + "\n")


def grade_with_retry(job: dict) -> dict:
    """Grade; once more if the grader (not the student) failed, e.g. a kernel slow to start."""
    for _ in range(2):
        try:
            result = grade(job)
        except Exception:  # a grader bug must cost one student a clear reason, not the class
            result = {"status": "error", "notebooks": None,
                      "reason": "grader error: " + traceback.format_exc().strip().splitlines()[-1]}
        if result["status"] != "error":
            return result
    return result


if __name__ == "__main__":
    serve(int(sys.argv[1]))
