"""A grading worker: a long-lived process that autogrades one submission at a time.

The parent sends one job per line on stdin and reads one result per line from a pipe whose
descriptor it passes as the only argument (kernels never inherit it, so student code cannot
forge a result). Each job is graded by nbgrader in its own scratch course, readable by the
grader only: a copy of the template gradebook, the assignment's source files and that one
submission, repaired and scanned first; the kernel runs jailed (see ``sandbox``, ``execute``)
and never sees this folder.
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
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute
from traitlets.config import Config

from . import damage, scan
from .execute import GuardedExecute
from .gradebook import Template, read_grades


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
    g.scratch_mb = limits["scratch_mb"]
    g.sandbox_uid, g.sandbox_gid = box
    g.iopub_timeout = 15  # nbgrader fails a whole notebook on a late idle message: be patient
    g.jobdir, g.report_path = str(jobdir / "kernel"), str(jobdir / "guard.json")
    g.readonly = job.get("readonly", [])
    g.home_seed, g.work_seed = job.get("home_seed", ""), job.get("work_seed", "")
    g.lesson_modules = job.get("lesson_modules", [])
    g.grading_secret = job["grading_secret"]
    return c


def _lay_out(job: dict, jobdir: Path) -> Path:
    """The scratch course, the grader's only; the submitted notebook's path in it."""
    template = Template(Path(job["template"]), job["assignment"], job["course_id"])
    shutil.rmtree(jobdir, ignore_errors=True)
    jobdir.mkdir(mode=0o700, parents=True)
    shutil.copyfile(template.db, jobdir / "gradebook.db")
    shutil.copytree(template.source, jobdir / "source" / job["assignment"])
    dest = jobdir / "submitted" / job["student"] / job["assignment"]
    dest.mkdir(parents=True)
    stamp = Path(job["submission"]) / "timestamp.txt"
    if stamp.is_file() and not stamp.is_symlink():
        shutil.copyfile(stamp, dest / "timestamp.txt")
    (jobdir / "autograded" / job["student"]).mkdir(parents=True)
    (jobdir / "kernel").mkdir()
    notebook = Path(job["submission"]) / f"{job['notebook']}.ipynb"
    if not notebook.is_file() or notebook.is_symlink():
        raise damage.Unreadable(f"no regular file {notebook.name} in the submission")
    shutil.copyfile(notebook, dest / notebook.name)
    return dest / notebook.name


def _inspect(job: dict, path: Path) -> tuple[list[str], list[str]]:
    """Repair the notebook's grading metadata; (repairs, static-scan findings)."""
    template = Template(Path(job["template"]), job["assignment"], job["course_id"])
    limits = job["limits"]
    nb = damage.read(path, limits["max_notebook_mb"], limits["max_cells"])
    release = damage.read(template.release_notebook(path.stem))
    notes = damage.repair(nb, release)
    nbformat.write(nb, str(path))
    return notes, scan.scan(scan.student_cells(nb, release))


def grade(job: dict) -> dict:
    """Autograde one submission; never raises (failures come back as a status and reason)."""
    jobdir = Path(job["jobdir"])
    student, assignment = job["student"], job["assignment"]
    try:
        notes, review = _inspect(job, _lay_out(job, jobdir))
    except damage.Unreadable as exc:
        status = "rejected" if isinstance(exc, damage.OverLimit) else "invalid"
        return {"status": status, "reason": str(exc), "notebooks": None, "review": []}
    api = NbGraderAPI(config=_config(job, jobdir))
    done = api.autograde(assignment, student, force=True, create=True)
    guard = json.loads((jobdir / "guard.json").read_text()) if (jobdir / "guard.json").exists() else {}
    if not done["success"]:
        print(f"--- {student}: nbgrader log\n{done.get('log')}\n{done.get('error')}", file=sys.stderr)
        tail = (done.get("error") or done.get("log") or "").strip().splitlines()[-3:]
        return {"status": "error", "reason": "nbgrader could not autograde: " + " | ".join(tail),
                "notebooks": None, "review": review}
    out = {"notebooks": read_grades(f"sqlite:///{jobdir / 'gradebook.db'}", assignment, student),
           "autograded": str(jobdir / "autograded" / student / assignment),
           "timestamp": job.get("timestamp"), "review": review + guard.get("guard", []),
           "judge": guard.get("judge")}
    return {**out, **_verdict(guard, notes)}


def _verdict(guard: dict, notes: list[str]) -> dict:
    if guard.get("dropped_output_bytes"):
        notes = notes + [f"output cap: {guard['dropped_output_bytes']} bytes of output dropped"]
    if guard.get("leftover_processes"):  # the jail should make this impossible: say so loudly
        return {"status": "error", "reason": "grader error: processes outlived the kernel: "
                                             + ", ".join(guard["leftover_processes"][:5])}
    if guard.get("judge_problems"):  # the grader's failure: the student's score is not final
        return {"status": "error", "reason": "grader error: " + "; ".join(guard["judge_problems"][:3])}
    if guard.get("guard_installed") is False:
        return {"status": "error", "reason": "grader error: the test guard could not be installed "
                                             "in the kernel (its tests scored 0)"}
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
        print(f"{job['student']}: {result['status']} in {time.perf_counter() - start:.1f} s"
              f"{judged(result.get('judge'))}: {result['reason']}", file=sys.stderr, flush=True)
        results.write(json.dumps({"student": job["student"], **result}) + "\n")


def judged(stats: dict | None) -> str:
    """What the grader's judge did for one notebook, for the log (``bench`` reads it)."""
    if not stats:
        return ""
    return (f" (judge {stats['cells']} cells, {stats['calls']} calls, {stats['judge_s']:.2f} s "
            f"judging, {stats['kernel_s']:.2f} s in calls)")


def grade_with_retry(job: dict) -> dict:
    """Grade; once more if the grader (not the student) failed, e.g. a kernel slow to start."""
    for _ in range(2):
        try:
            result = grade(job)
        except Exception:  # a grader bug must cost one student a clear reason, not the class
            result = {"status": "error", "notebooks": None, "review": [],
                      "reason": "grader error: " + traceback.format_exc().strip().splitlines()[-1]}
        if result["status"] != "error":
            return result
    return result


if __name__ == "__main__":
    serve(int(sys.argv[1]))
