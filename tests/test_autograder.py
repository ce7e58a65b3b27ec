"""Class autograding (python -m autograder): a synthetic class of lesson 00 with every hostile
and broken case, graded in parallel in a scratch course; exact scores, reasons, isolation,
integrity, idempotence, and PostgreSQL giving the same grades as SQLite."""
from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, make_course_copy

# one class graded once per module: keep every test of this file on one xdist worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("autograder")]

LESSON = "00_orientation"
# short limits keep the hostile cases quick; lesson 00 runs in a few seconds
LIMITS = ["--workers", "2", "--cell-timeout", "10", "--timeout", "90", "--memory-mb", "1024"]
STATUS = {  # hostile case -> (allowed statuses, words the reason must contain)
    "h-infinite-loop": (("timeout",), "interrupted"),
    "h-swallows-interrupt": (("timeout",), "ignored the interrupt"),
    "h-os-exit": (("crashed",), "exit code 3"),
    "h-segfault": (("crashed",), "SIGSEGV"),
    "h-memory-hog": (("memory",), "1024 MB limit"),
    # a fast flood fills the kernel's own buffers: stopped at the memory limit or the output cap
    "h-output-flood": (("output", "memory"), "limit"),
    "h-invalid-json": (("invalid",), "invalid JSON"),
    "h-deleted-grade-cell": (("repaired",), "deleted cells restored"),
    "h-duplicated-grade-cell": (("repaired",), "duplicated cells ignored"),
    "h-changed-cell-type": (("repaired",), "cell type changed back"),
    "h-edited-test-cell": (("repaired",), "edited read-only cells restored"),
}


def autograder(*args: str, course: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), *args],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if check and proc.returncode != 0:
        pytest.fail(f"autograder {' '.join(args)} exited {proc.returncode}:\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def read_csv(path: Path) -> dict[str, dict]:
    with open(path) as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_course(tmp_path_factory, name: str) -> Path:
    return make_course_copy(tmp_path_factory.mktemp(name))


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _install_postgres() -> Path:
    """Debian's PostgreSQL: install it when missing; fail loudly if that does not work."""
    if _pg_bin():
        return _pg_bin()
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("PostgreSQL is not installed and cannot be: no apt-get, or not root")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    if not _pg_bin():
        pytest.fail("apt-get installed postgresql but no /usr/lib/postgresql/*/bin/pg_ctl exists")
    return _pg_bin()


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    """A throwaway PostgreSQL cluster on a loopback port, torn down after the tests."""
    bindir = _install_postgres()
    data = Path(tempfile.mkdtemp(prefix="autograder-test-pg-"))  # pytest's tmp is closed to postgres
    user = {"user": "postgres"} if os.geteuid() == 0 else {}
    if user:
        shutil.chown(data, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    def run(*cmd: str) -> None:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=data, **user)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")

    run(str(bindir / "initdb"), "-D", str(data / "db"), "--auth=trust", "-U", "postgres")
    run(str(bindir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "gradebook")
        yield f"postgresql://postgres@127.0.0.1:{port}/gradebook"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def sqlite_course(tmp_path_factory) -> Path:
    return new_course(tmp_path_factory, "course")


@pytest.fixture(scope="module")
def klass(tmp_path_factory, sqlite_course) -> tuple[Path, dict[str, float]]:
    """The synthetic class (its attacks aim at ``sqlite_course``) and the expected scores."""
    out = tmp_path_factory.mktemp("class")
    autograder("classgen", LESSON, "--out", str(out), course=sqlite_course)
    return out, json.loads((out / "expected.json").read_text())


@pytest.fixture(scope="module")
def graded(sqlite_course, klass):
    """Grade the class once (SQLite); record what the attacks aimed at, before and after."""
    course = sqlite_course
    source_nb = course / "solutions" / LESSON / f"{LESSON}.ipynb"
    before = {"source": digest(source_nb)}
    proc = autograder("grade", LESSON, "--submissions", str(klass[0]), *LIMITS,
                      "--csv", str(course / "grades.csv"), course=course)
    victim = course / "autograder" / "submitted" / "n01-correct" / LESSON / f"{LESSON}.ipynb"
    after = {"source": digest(source_nb), "victim": digest(victim)}
    before["victim"] = digest(klass[0] / "n01-correct" / LESSON / f"{LESSON}.ipynb")
    return course, read_csv(course / "grades.csv"), before, after, proc


def test_every_student_gets_exactly_the_expected_score(graded, klass):
    _, rows, *_ = graded
    expected = klass[1]
    assert set(rows) == set(expected), f"expected rows for {sorted(expected)}, seen {sorted(rows)}"
    wrong = {s: f"expected {expected[s]}, seen {rows[s]['score']} ({rows[s]['status']}: "
                f"{rows[s]['reason']})" for s in expected if float(rows[s]["score"]) != expected[s]}
    assert not wrong, f"scores differ: {json.dumps(wrong, indent=1)}"


def test_every_hostile_or_broken_case_has_its_status_and_reason(graded):
    _, rows, *_ = graded
    for student, (status, words) in STATUS.items():
        row = rows[student]
        assert row["status"] in status and words in row["reason"], (
            f"{student}: expected status {status!r} with {words!r} in the reason, "
            f"seen {row['status']!r}: {row['reason']!r}")
    normal = {s: r["status"] for s, r in rows.items() if s.startswith(("n", "h-writes"))}
    assert set(normal.values()) == {"ok"}, f"normal students: expected status ok, seen {normal}"


def test_output_flood_is_capped(graded):
    course, *_ = graded
    nb = course / "autograder" / "autograded" / "h-output-flood" / LESSON / f"{LESSON}.ipynb"
    size = nb.stat().st_size
    assert size < 3_000_000, f"expected the flood's graded notebook under 3 MB (cap 2 MB), seen {size}"


def test_memory_hog_stops_the_kernel_not_the_grader(graded):
    _, rows, *_ = graded
    reason = rows["h-memory-hog"]["reason"]
    assert "worker was stopped" not in reason and "kernel stopped" in reason, (
        f"expected the kernel (not the worker) to be stopped, seen {reason!r}")
    assert len(rows) == 18, f"expected all 18 students graded after the hog, seen {len(rows)}"


def test_no_submission_writes_outside_its_working_copy(graded):
    if os.geteuid() != 0:
        pytest.skip("isolation needs root (sandbox accounts, mount namespaces); not root here")
    course, rows, before, after, proc = graded
    planted = [str(p) for base in (course, ROOT / "autograder", ROOT / "course")
               for p in base.rglob("*pwned*")]
    assert not planted, f"expected no files planted by the write attacks, seen {planted}"
    assert before == after, f"expected source and victim notebooks unchanged: {before} -> {after}"
    top = max(float(r["max_score"]) for r in rows.values())
    over = {s: r["score"] for s, r in rows.items() if float(r["score"]) > top}
    assert not over, f"expected no score above {top} (a gradebook write), seen {over}"
    assert "IsolationWarning" not in proc.stderr, f"expected isolation as root, seen {proc.stderr[-500:]}"
    from autograder.classgen import attack_targets
    from autograder.course_dir import load

    for name, targets in attack_targets(load(course), LESSON, "n01-correct").items():
        nb = course / "autograder" / "autograded" / f"h-{name}" / LESSON / f"{LESSON}.ipynb"
        blocked = nb.read_text().count("blocked:")
        tried = len([t for t in targets if "*" not in t])
        assert blocked >= tried, f"h-{name}: expected {tried} blocked writes, seen {blocked}"


def test_integrity_check_passes(graded):
    course, *_ = graded
    proc = autograder("check", LESSON, course=course, check=False)
    assert proc.returncode == 0 and "integrity check: ok" in proc.stdout, (
        f"expected the integrity check to pass, seen rc={proc.returncode}:\n{proc.stdout}")


def test_integrity_check_finds_a_submission_without_grades(graded, tmp_path):
    course, *_ = graded
    extra = course / "autograder" / "submitted" / "zz-late" / LESSON
    extra.mkdir(parents=True)
    try:
        proc = autograder("check", LESSON, course=course, check=False)
    finally:
        extra.rmdir()
        extra.parent.rmdir()
    assert proc.returncode == 1 and "zz-late: submitted but not in the gradebook" in proc.stdout, (
        f"expected the check to flag zz-late, seen rc={proc.returncode}:\n{proc.stdout}")


def test_second_run_yields_identical_grades(graded, klass):
    course, rows, *_ = graded
    autograder("grade", LESSON, "--submissions", str(klass[0]), *LIMITS,
               "--csv", str(course / "grades-again.csv"), course=course)
    again = read_csv(course / "grades-again.csv")
    diff = {s: (rows[s]["score"], again.get(s, {}).get("score")) for s in rows
            if rows[s]["score"] != again.get(s, {}).get("score")}
    assert not diff, f"expected identical scores on a re-run, seen (first, second): {diff}"
    proc = autograder("check", LESSON, course=course, check=False)
    assert proc.returncode == 0, f"expected integrity after a re-run, seen:\n{proc.stdout}"


def test_feedback_and_autograded_notebooks_land_in_the_class_folders(graded):
    course, rows, *_ = graded
    feedback = course / "autograder" / "feedback" / "n01-correct" / LESSON / f"{LESSON}.html"
    graded_nb = course / "autograder" / "autograded" / "n01-correct" / LESSON / f"{LESSON}.ipynb"
    assert feedback.exists() and graded_nb.exists(), (
        f"expected {feedback} and {graded_nb}, seen {sorted(p.name for p in feedback.parent.parent.rglob('*'))}")


def test_intake_accepts_lms_folders_and_zips(tmp_path, klass):
    from autograder import intake

    notebook = klass[0] / "n01-correct" / LESSON / f"{LESSON}.ipynb"
    flat = tmp_path / "flat"
    flat.mkdir()
    for student in ("ann", "bo"):
        (flat / f"{student}_{LESSON}_12345.ipynb").write_bytes(notebook.read_bytes())
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(flat / f"ann_{LESSON}_12345.ipynb", f"export/ann_{LESSON}_12345.ipynb")
        zf.writestr("../../evil_x.ipynb", "{}")  # zip slip: must not land outside
    for source, students in ((flat, {"ann", "bo"}), (archive, {"ann"})):
        staged = intake.intake(source, LESSON, tmp_path / f"submitted-{source.name}")
        assert set(staged) == students, f"{source.name}: expected {students}, seen {set(staged)}"
    assert not (tmp_path.parent / "evil_x.ipynb").exists(), "a zip member escaped the extraction folder"


def test_postgres_grades_the_class_like_sqlite(postgres_url, graded, klass, tmp_path_factory):
    _, rows, *_ = graded
    course = new_course(tmp_path_factory, "pgcourse")
    autograder("--db", postgres_url, "grade", LESSON, "--submissions", str(klass[0]), *LIMITS,
               "--csv", str(course / "grades.csv"), course=course)
    pg = read_csv(course / "grades.csv")
    diff = {s: (rows[s]["score"], pg.get(s, {}).get("score")) for s in rows
            if rows[s]["score"] != pg.get(s, {}).get("score")}
    assert not diff, f"expected PostgreSQL scores equal to SQLite's, seen (sqlite, pg): {diff}"
    proc = autograder("--db", postgres_url, "check", LESSON, course=course, check=False)
    assert proc.returncode == 0, f"expected integrity on PostgreSQL, seen:\n{proc.stdout}"
