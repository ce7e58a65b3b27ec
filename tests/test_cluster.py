"""Grading on a Dask cluster (python -m autograder grade --cluster): a real scheduler and two
worker processes on this machine grade a small class of lesson 00 (honest students, a crash,
invalid JSON, and the attacks on verdicts of issue 21) exactly as local grading does although
one worker is killed mid-job (nothing lost, nothing duplicated); a clean re-run
changes nothing; an unreachable scheduler, a worker without the course and a missing
submissions folder each stop the run with a one-line reason before any grade is written."""
from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import distributed  # the test extra installs it: missing, the file fails to collect
import psutil
import pytest
from nbgrader.api import Gradebook

from autograder.cluster import PLUGIN
from conftest import ROOT, make_course_copy

# the workers take the same sandbox accounts as tests/test_autograder.py: never beside it
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("autograder")]


LESSON = "00_orientation"
LIMITS = ["--cell-timeout", "10", "--timeout", "90", "--memory-mb", "1024"]
#: the attacks on verdicts (issue 21), each with wrong answers: the workers' judges ignore them
VERDICT_ATTACKS = ["h-verdict-class-swap", "h-verdict-isclose-code", "h-verdict-always-equal",
                   "h-verdict-sigprof", "h-verdict-hunts-expected"]
CHOSEN = ["n01-correct", "n01-blank", "n01-partial", "n02-correct", "h-os-exit", "h-invalid-json",
          "h-prints-history", *VERDICT_ATTACKS]
MISSING = "n03-missing"  # a student folder without a notebook: named, never graded
STUDENTS = CHOSEN + [MISSING]
STAMP = "2026-01-05 10:00:00.000000 UTC"
BIN = Path(sys.executable).parent
PRELOAD = ("--preload", "autograder.cluster")  # as the README starts workers (one without it)


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            **extra}


def autograder(*args: str, course: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), *args],
                          cwd=ROOT, capture_output=True, text=True, env=env())


def grade(course: Path, klass: Path, *how: str) -> dict[str, dict]:
    proc = autograder("grade", LESSON, "--submissions", str(klass), *LIMITS, *how,
                      "--csv", str(course / "grades.csv"), course=course)
    assert proc.returncode == 0, f"grading exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return read_csv(course / "grades.csv")


def read_csv(path: Path) -> dict[str, dict]:
    with open(path) as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def gradebook_rows(course: Path) -> dict[str, tuple]:
    """Per student in the gradebook: (submissions, grade rows, timestamp) of the lesson."""
    with Gradebook(f"sqlite:///{course / 'autograder' / 'gradebook.db'}") as gb:
        subs = gb.assignment_submissions(LESSON)
        return {s.student.id: (sum(t.student.id == s.student.id for t in subs),
                               sum(len(nb.grades) for nb in s.notebooks),
                               s.timestamp and s.timestamp.strftime("%Y-%m-%d %H:%M:%S"))
                for s in subs}


def nothing_written(course: Path) -> list[str]:
    """Grades, staged submissions or graded notebooks a refused run left in ``course`` (the
    empty class folders and gradebook file the grader makes private first are not grades)."""
    folder = course / "autograder"
    left = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.stat().st_size]
    db = folder / "gradebook.db"
    if db.exists() and db.stat().st_size:
        with Gradebook(f"sqlite:///{db}") as gb:
            left += [f"gradebook: {s.student.id}" for s in gb.assignment_submissions(LESSON)]
    return left


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DaskCluster:
    """``dask scheduler`` and ``dask worker`` processes (no nanny: a killed worker stays dead)."""

    def __init__(self, tmp: Path):
        self.tmp, self.procs = tmp, []
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.start("scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1],
                   "--no-dashboard")
        self.client = distributed.Client(self.address, timeout=30, set_as_default=False)

    def start(self, *args: str, **extra: str) -> subprocess.Popen:
        log = open(self.tmp / f"dask-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen([str(BIN / "dask"), *args], stdout=log, stderr=subprocess.STDOUT,
                                env=env(**extra), start_new_session=True)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, *preload: str, **extra: str) -> str:
        """Start a worker (one thread, as grading wants); its address once it has joined."""
        before = set(self.client.scheduler_info()["workers"])
        self.start("worker", self.address, "--nthreads", "1", "--no-nanny", "--name", name,
                   "--no-dashboard", *preload, **extra)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            new = set(self.client.scheduler_info()["workers"]) - before
            if new:
                return new.pop()
            time.sleep(0.2)
        raise AssertionError(f"worker {name} did not join {self.address} within 60 s; see {self.tmp}")

    def pid(self, address: str) -> int:
        return self.client.run(os.getpid, workers=[address])[address]

    def retire(self, address: str) -> None:
        self.client.retire_workers([address], close_workers=True)

    def close(self) -> None:
        self.client.close()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    """Six students of lesson 00 (honest ones, a crashing kernel, invalid JSON) and a seventh
    whose folder holds no notebook."""
    course = make_course_copy(tmp_path_factory.mktemp("gen"))
    full = tmp_path_factory.mktemp("full")
    proc = autograder("classgen", LESSON, "--out", str(full), "--copies", "2", course=course)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path_factory.mktemp("class")
    for student in CHOSEN:
        shutil.copytree(full / student, out / student)
    (out / "n01-correct" / LESSON / "timestamp.txt").write_text(STAMP)
    (out / MISSING / LESSON).mkdir(parents=True)
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    dask = DaskCluster(tmp_path_factory.mktemp("dask"))
    try:
        dask.workers = [dask.worker("w1", *PRELOAD), dask.worker("w2")]
        yield dask
    finally:
        dask.close()


@pytest.fixture(scope="module")
def local(tmp_path_factory, klass) -> dict[str, dict]:
    course = make_course_copy(tmp_path_factory.mktemp("local"))
    return grade(course, klass, "--workers", "2")


def _kill_tree(pid: int) -> list[int]:
    """SIGKILL a worker and everything it started, as if its machine died."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for proc in procs:
        proc.kill()
    psutil.wait_procs(procs, timeout=30)
    return [p.pid for p in procs]


@pytest.fixture(scope="module")
def remote(tmp_path_factory, klass, cluster) -> tuple[Path, dict[str, dict], list[int]]:
    """The class graded on the cluster while one of its two workers is killed mid-job (with
    everything it started); a fresh worker joins afterwards for the later tests."""
    course = make_course_copy(tmp_path_factory.mktemp("remote"))
    victim = cluster.workers[0]
    pid = cluster.pid(victim)
    run = subprocess.Popen([sys.executable, "-m", "autograder", "--course", str(course), "grade",
                            LESSON, "--submissions", str(klass), *LIMITS, "--cluster",
                            cluster.address, "--csv", str(course / "grades.csv")],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    deadline = time.monotonic() + 240  # the coordinator's start-up (imports, template) comes first
    busy_since = None
    while time.monotonic() < deadline and run.poll() is None:
        busy = cluster.client.processing().get(victim)
        busy_since = (busy_since or time.monotonic()) if busy else None
        if busy_since and time.monotonic() - busy_since > 2:  # its kernel is running
            break
        time.sleep(0.2)
    assert run.poll() is None and busy_since, "expected the victim to be grading mid-run"
    scratch = cluster.client.run(lambda dask_worker: str(dask_worker.plugins[PLUGIN].scratch),
                                 workers=[victim])[victim]
    killed = _kill_tree(pid)
    out, err = run.communicate(timeout=300)
    shutil.rmtree(scratch)  # what a killed worker leaves (the README says so)
    cluster.workers[0] = cluster.worker("w3", *PRELOAD)
    assert run.returncode == 0, f"expected the run to finish on the other worker:\n{out}\n{err[-3000:]}"
    return course, read_csv(course / "grades.csv"), killed


def same(rows: dict[str, dict]) -> dict[str, tuple]:
    return {s: (r["status"], r["score"], r["max_score"], r["reason"], r["review"]) for s, r in rows.items()}


def test_cluster_grades_exactly_like_local_grading(local, remote):
    course, rows, _ = remote
    assert set(rows) == set(STUDENTS), f"expected rows for {sorted(STUDENTS)}, seen {sorted(rows)}"
    diff = {s: (same(local)[s], same(rows)[s]) for s in STUDENTS if same(local)[s] != same(rows)[s]}
    assert not diff, f"expected the local grades, seen (local, cluster): {diff}"
    assert rows["n01-correct"]["score"] != rows["n01-blank"]["score"], rows
    assert rows["h-os-exit"]["status"] == "crashed", "expected the jail's limits on the workers"
    attacks = {s: rows[s]["score"] for s in VERDICT_ATTACKS}
    assert set(attacks.values()) == {"0.0"}, f"expected no point for an attack on the verdicts, seen {attacks}"
    assert rows["h-prints-history"]["score"] == rows["n01-correct"]["score"], rows["h-prints-history"]
    for student in CHOSEN:
        if rows[student]["status"] not in ("invalid", "rejected"):
            for sub, name in (("autograded", f"{LESSON}.ipynb"), ("feedback", f"{LESSON}.html")):
                path = course / "autograder" / sub / student / LESSON / name
                assert path.is_file(), f"expected the worker's {sub} file back at {path}"
    assert rows[MISSING]["status"] == "missing" and "no notebook" in rows[MISSING]["reason"], rows[MISSING]
    books = gradebook_rows(course)
    assert MISSING not in books, f"expected no grade for a folder without a notebook, seen {books[MISSING]}"
    assert books["n01-correct"][2] == STAMP[:19], f"expected the submission's timestamp, seen {books}"


def test_a_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(remote):
    course, rows, killed = remote
    assert set(rows) == set(STUDENTS), f"expected a row for every student, seen {sorted(rows)}"
    books = gradebook_rows(course)
    twice = {s: n for s, (n, _, _) in books.items() if n != 1}
    assert set(books) == set(CHOSEN) and not twice, f"expected one submission each, seen {books}"
    assert len({cells for _, cells, _ in books.values()}) == 1, f"expected equal grade rows, seen {books}"
    assert not [p for p in killed if psutil.pid_exists(p)], "expected the killed worker's processes gone"
    proc = autograder("check", LESSON, course=course)
    assert proc.returncode == 0, f"expected integrity after the kill, seen:\n{proc.stdout}"


def test_re_running_is_idempotent(remote, klass, cluster):
    course, rows, _ = remote
    books = gradebook_rows(course)
    again = grade(course, klass, "--cluster", cluster.address)
    assert same(again) == same(rows), "expected identical grades on a re-run"
    assert gradebook_rows(course) == books, f"expected the same gradebook rows, seen {gradebook_rows(course)}"


def one_error(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), \
        f"expected exit 2 and one error line, seen {proc.returncode}:\n{proc.stderr[-3000:]}"
    return lines[0]


def test_unreachable_scheduler_is_one_line_and_writes_nothing(klass, tmp_path_factory):
    course = make_course_copy(tmp_path_factory.mktemp("unreachable"))
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    line = one_error(autograder("grade", LESSON, "--submissions", str(klass), "--cluster", address,
                                course=course))
    assert f"cannot reach the Dask scheduler at {address}" in line, line
    assert not nothing_written(course), f"expected nothing written, seen {nothing_written(course)}"


def test_a_worker_without_the_course_is_named_and_nothing_is_written(klass, cluster, tmp_path_factory):
    shadow = tmp_path_factory.mktemp("no-course")
    (shadow / "course").mkdir()  # shadows the installed course: importing it fails
    (shadow / "course" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'course'\", name='course')\n")
    bad = cluster.worker("no-course", PYTHONPATH=str(shadow))
    try:
        course = make_course_copy(tmp_path_factory.mktemp("badworker"))
        line = one_error(autograder("grade", LESSON, "--submissions", str(klass), "--cluster",
                                    cluster.address, course=course))
        assert f"worker {bad} cannot import course" in line and "install the course" in line, line
        assert not nothing_written(course), f"expected nothing written, seen {nothing_written(course)}"
    finally:
        cluster.retire(bad)


def test_a_missing_submissions_folder_is_one_line_and_writes_nothing(cluster, tmp_path_factory):
    course = make_course_copy(tmp_path_factory.mktemp("missing"))
    missing = tmp_path_factory.mktemp("exchange") / "nobody"
    line = one_error(autograder("grade", LESSON, "--submissions", str(missing), "--cluster",
                                cluster.address, course=course))
    assert str(missing) in line and "neither a folder nor a zip" in line, line
    assert not nothing_written(course), f"expected nothing written, seen {nothing_written(course)}"
