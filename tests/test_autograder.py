"""Class autograding (python -m autograder) against a hostile class.

One synthetic class of lesson 00 (``python -m autograder classgen``) mixes honest students
(correct, blank, partially wrong) with every hostile and broken case of the grading issues:
runaway cells, crashes, memory and output floods, invalid or oversized notebooks, damaged and
fake grade cells, code that writes to or reads the course, the gradebook and the grader's
scratch folders, a process that outlives its kernel and attacks the next one, a spy on other
kernels' channels and the host's services, planted links, litter in every shared folder, and
tricks that make tests pass without a right answer (input and AST transformers, no-op or
swapped test helpers, silenced errors, a thread that re-installs a transformer). The real tool
grades the class in a scratch course as root, twice; the tests then check each student's
exact score, status, reason and review flags, what the attacks saw, and that nothing is left.

Isolation needs root and Linux namespaces. Without them the tests that need isolation fail
with the reason, or skip with it when COURSE_SKIP_ISOLATION=1 (README, "Autograding a class").
"""
from __future__ import annotations

import csv
import fcntl
import glob
import hashlib
import json
import os
import pwd
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, make_course_copy, nbgrader

# one class graded once per module: keep every test of this file on one xdist worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("autograder")]

LESSON = "00_orientation"
# short limits keep the hostile cases quick; lesson 00 runs in a few seconds
LIMITS = ["--workers", "2", "--cell-timeout", "10", "--timeout", "90", "--memory-mb", "1024",
          "--scratch-mb", "128"]
STATUS = {  # hostile case -> (allowed statuses, words the reason must contain)
    "h-infinite-loop": (("timeout",), "interrupted"),
    "h-swallows-interrupt": (("timeout",), "ignored the interrupt"),
    "h-os-exit": (("crashed",), "exit code 3"),
    "h-segfault": (("crashed",), "SIGSEGV"),
    "h-memory-hog": (("memory",), "1024 MB limit"),
    # memory no process maps: only the kernel's memory cgroup counts it
    "h-memfd-hog": (("memory",), "memory limit (all its memory, /tmp and /dev/shm included)"),
    # a fast flood fills the kernel's own buffers: stopped at the memory limit or the output cap
    "h-output-flood": (("output", "memory"), "limit"),
    "h-invalid-json": (("invalid",), "invalid JSON"),
    "h-deleted-grade-cell": (("repaired",), "deleted cells restored"),
    "h-duplicated-grade-cell": (("repaired",), "duplicated cells ignored"),
    "h-changed-cell-type": (("repaired",), "cell type changed back"),
    "h-edited-test-cell": (("repaired",), "edited read-only cells restored"),
    "h-fake-grade-cells": (("repaired",), "cells not in the release: bonus"),
    "h-many-cells": (("rejected",), "over the limit of 1000"),
    "h-huge": (("rejected",), "over the 20 MB limit"),
}
REVIEW = {  # student -> words its review column must contain
    "h-tamper-transformer": "restored before tests: IPython input transformers",
    "h-tamper-ast-transformer": "restored before tests: IPython ast_transformers",
    "h-tamper-noop-checks": "course.checks.check_close",
    "h-tamper-manager-swap": "shell.input_transformer_manager",
    "h-tamper-module-swap": "sys.modules['course.checks']",
    "h-tamper-silenced-errors": "showtraceback",
    "h-tamper-thread-repatch": "changed while cosine-tests ran (test failed)",
    "h-survivor": "cell 9: processes",
    "h-spy": "cell 9: network",
    "h-reads-secrets": "cell 9: paths /",
    "h-plants-links": "cell 9: links",
    "h-segfault": "ctypes",
    # tricks against the verdicts themselves (issue 21): the judge ignores them; review names them
    "h-verdict-class-swap": "interpreter internals",
    "h-verdict-isclose-code": "code objects",
    "h-verdict-always-equal": "stack frames",
    "h-verdict-sigprof": "signals",
    "h-verdict-hunts-expected": "gc",
}
SHARED = ("/tmp", "/dev/shm", "/var/tmp", "/run/lock", "/dev/mqueue")


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


def outputs(course: Path, student: str) -> str:
    """All text a student's graded notebook printed."""
    nb = nbformat.read(str(course / "autograder" / "autograded" / student / LESSON / f"{LESSON}.ipynb"), 4)
    return "".join(o.get("text", "") + str(o.get("evalue", "")) for c in nb.cells
                   for o in c.get("outputs", []))


def require_isolation() -> None:
    """Fail (or skip with COURSE_SKIP_ISOLATION=1) when kernels cannot be isolated here."""
    from autograder.sandbox import isolation_missing

    missing = isolation_missing()
    if missing:
        reason = f"kernel isolation is not available ({missing}); run the tests as root on Linux"
        if os.environ.get("COURSE_SKIP_ISOLATION"):
            pytest.skip(reason)
        pytest.fail(reason)


def idle_accounts() -> set[int]:
    """Uids of the sandbox accounts no grading run holds right now (others on this machine may
    be grading: their accounts are locked while anything of theirs lives)."""
    from autograder.sandbox import LOCK_DIR, USER_PREFIX

    idle = set()
    for entry in pwd.getpwall():
        if not entry.pw_name.startswith(USER_PREFIX):
            continue
        try:
            fd = os.open(LOCK_DIR / f"{entry.pw_name}.lock", os.O_RDONLY)
        except FileNotFoundError:
            idle.add(entry.pw_uid)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            idle.add(entry.pw_uid)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
    return idle


def sandbox_processes() -> list[str]:
    """Live processes (not zombies) of sandbox accounts no grading run holds, as ``pid command``."""
    uids = idle_accounts()
    out = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid in uids \
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                out.append(f"{entry.name} {(entry / 'cmdline').read_bytes()[:80]!r}")
        except OSError:
            pass
    return out


def scratch_folders(course: Path) -> list[str]:
    """The scratch folders the grading runs of ``course`` used (named in their log): other
    graders on the machine have their own."""
    log = (course / "autograder" / f"grade-{LESSON}.log").read_text()
    return [ln.rsplit(" scratch folder ", 1)[1] for ln in log.splitlines() if " scratch folder " in ln]


def planted() -> list[str]:
    """Files the attacks name with ``pwned`` in the machine's shared folders."""
    return sorted(p for d in SHARED for p in glob.glob(f"{d}/*pwned*"))


class Listener:
    """A service on the host's loopback that no kernel may reach."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections: list[tuple] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, addr = self.sock.accept()
                self.connections.append(addr)
                conn.close()
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def sqlite_course(tmp_path_factory) -> Path:
    return new_course(tmp_path_factory, "course")


@pytest.fixture(scope="module")
def klass(tmp_path_factory, sqlite_course) -> tuple[Path, dict[str, float]]:
    """The hostile class (its attacks aim at ``sqlite_course``) and the expected scores."""
    out = tmp_path_factory.mktemp("class")
    autograder("classgen", LESSON, "--out", str(out), course=sqlite_course)
    return out, json.loads((out / "expected.json").read_text())


@pytest.fixture(scope="module")
def graded(sqlite_course, klass):
    """Grade the class once (SQLite) with a loopback service listening; record what the
    attacks aimed at and what the machine's shared folders held, before and after."""
    course = sqlite_course
    source_nb = course / "solutions" / LESSON / f"{LESSON}.ipynb"
    before = {"source": digest(source_nb),
              "victim": digest(klass[0] / "n01-correct" / LESSON / f"{LESSON}.ipynb")}
    listener = Listener()
    try:
        proc = autograder("grade", LESSON, "--submissions", str(klass[0]), *LIMITS,
                          "--csv", str(course / "grades.csv"), course=course)
    finally:
        listener.close()
    victim = course / "autograder" / "submitted" / "n01-correct" / LESSON / f"{LESSON}.ipynb"
    after = {"source": digest(source_nb), "victim": digest(victim)}
    machine = {"processes": sandbox_processes(), "planted": planted(), "port": listener.port,
               "connections": listener.connections,
               "scratch": [p for p in scratch_folders(course) if Path(p).exists()]}
    return course, read_csv(course / "grades.csv"), before, after, proc, machine


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
    quiet = {s: r["status"] for s, r in rows.items() if s.startswith("n") or s.startswith(
        ("h-writes", "h-reads", "h-spy", "h-survivor", "h-plants", "h-litters", "h-tamper",
         "h-verdict", "h-prints-history", "h-fills-ipc", "h-forged-record", "h-script"))}
    assert set(quiet.values()) == {"ok"}, f"expected status ok, seen {quiet}"


def test_tampering_and_suspicious_code_are_flagged_for_review_and_honest_work_is_not(graded):
    _, rows, *_ = graded
    missing = {s: rows[s]["review"] for s, words in REVIEW.items() if words not in rows[s]["review"]}
    assert not missing, f"expected review flags {REVIEW}, seen {missing}"
    honest = {s: r["review"] for s, r in rows.items() if s.startswith("n") and r["review"]}
    assert not honest, f"expected nothing to review for honest students, seen {honest}"


def test_fake_grade_cells_are_named_and_earn_nothing(graded):
    _, rows, *_ = graded
    row = rows["h-fake-grade-cells"]
    for words in ("duplicated cells ignored: cosine-tests", "grading metadata restored: cosine-solution"):
        assert words in row["reason"], f"expected {words!r} in the reason, seen {row['reason']!r}"
    assert "Traceback" not in row["reason"] and "KeyError" not in row["reason"], row["reason"]
    assert float(row["max_score"]) == 5.0, f"expected the bonus cell ignored (max 5), seen {row['max_score']}"


def test_output_flood_is_capped(graded):
    course, *_ = graded
    nb = course / "autograder" / "autograded" / "h-output-flood" / LESSON / f"{LESSON}.ipynb"
    size = nb.stat().st_size
    assert size < 3_000_000, f"expected the flood's graded notebook under 3 MB (cap 2 MB), seen {size}"


def test_memory_hog_stops_the_kernel_not_the_grader(graded, klass):
    _, rows, *_ = graded
    reason = rows["h-memory-hog"]["reason"]
    assert "worker was stopped" not in reason and "kernel stopped" in reason, (
        f"expected the kernel (not the worker) to be stopped, seen {reason!r}")
    assert len(rows) == len(klass[1]), f"expected all {len(klass[1])} students graded, seen {len(rows)}"


def test_no_submission_writes_outside_its_jail(graded):
    require_isolation()
    course, rows, before, after, proc, _ = graded
    found = [str(p) for base in (course, ROOT / "autograder", ROOT / "course")
             for p in base.rglob("*pwned*")]
    assert not found, f"expected no files planted by the write attacks, seen {found}"
    assert before == after, f"expected source and victim notebooks unchanged: {before} -> {after}"
    top = max(float(r["max_score"]) for r in rows.values())
    over = {s: r["score"] for s, r in rows.items() if float(r["score"]) > top}
    assert not over, f"expected no score above {top} (a gradebook write), seen {over}"
    assert "IsolationWarning" not in proc.stderr, f"expected isolation as root, seen {proc.stderr[-500:]}"
    from autograder.classgen import attack_targets
    from autograder.course_dir import load

    for name, targets in attack_targets(load(course), LESSON, "n01-correct").items():
        blocked = outputs(course, f"h-{name}").count("blocked:")
        tried = len([t for t in targets if "*" not in t])
        assert blocked >= tried, f"h-{name}: expected {tried} blocked writes, seen {blocked}"


def test_kernels_read_no_hidden_tests_grades_logs_or_other_kernels(graded):
    require_isolation()
    course, *_, machine = graded
    secrets = outputs(course, "h-reads-secrets")
    assert "read:" not in secrets and secrets.count("blocked:") >= 10, (
        f"expected every read of the course, scratch folders, gradebooks, grades, logs and the "
        f"grader's command line blocked, seen:\n{secrets[:3000]}")
    spied = outputs(course, "h-spy")
    assert "captured: 0 messages" in spied, f"expected nothing captured from other kernels, seen:\n{spied[:3000]}"
    assert f"connected: {machine['port']}\n" not in spied and not machine["connections"], (
        f"expected the host's loopback service on port {machine['port']} unreachable, seen "
        f"connections from {machine['connections']} and:\n{spied[:2000]}")


def test_nothing_of_a_submission_outlives_it(graded):
    require_isolation()
    course, rows, *_, machine = graded
    assert not machine["processes"], f"expected no sandbox process after grading, seen {machine['processes']}"
    assert not machine["planted"], f"expected no litter in {SHARED}, seen {machine['planted']}"
    assert scratch_folders(course), "expected the grading log to name the run's scratch folder"
    assert not machine["scratch"], f"expected the grader's scratch folders removed, seen {machine['scratch']}"
    litter = outputs(course, "h-litters")
    assert "wrote:" not in litter, f"expected every shared folder full or absent in the jail, seen:\n{litter}"
    links = outputs(course, "h-plants-links")
    assert "wrote: a hard link" in links and not glob.glob("/tmp/pwned-*"), (
        f"expected the link planted inside the jail only, seen {links!r} and {glob.glob('/tmp/pwned-*')}")


def test_only_the_graded_notebook_is_copied_back(graded):
    course, rows, *_ = graded
    graded_root = course / "autograder" / "autograded"
    extra = sorted(str(p.relative_to(graded_root)) for p in graded_root.rglob("*")
                   if p.is_file() and p.name != f"{LESSON}.ipynb")
    assert not extra, f"expected only {LESSON}.ipynb per student, seen {extra}"
    nb = graded_root / "h-plants-links" / LESSON / f"{LESSON}.ipynb"
    info = nb.lstat()
    assert stat.S_ISREG(info.st_mode) and info.st_nlink == 1, (
        f"expected a fresh regular file (not a planted link), seen mode {oct(info.st_mode)}, "
        f"{info.st_nlink} links")


def test_integrity_check_passes(graded):
    course, *_ = graded
    proc = autograder("check", LESSON, course=course, check=False)
    assert proc.returncode == 0 and "integrity check: ok" in proc.stdout, (
        f"expected the integrity check to pass, seen rc={proc.returncode}:\n{proc.stdout}")


def test_integrity_check_finds_a_submission_without_grades(graded):
    course, *_ = graded
    extra = course / "autograder" / "submitted" / "zz-late" / LESSON
    extra.mkdir(parents=True)
    (extra / f"{LESSON}.ipynb").write_text("{}")
    try:
        proc = autograder("check", LESSON, course=course, check=False)
    finally:
        shutil.rmtree(extra.parent)
    assert proc.returncode == 1 and "zz-late: submitted but not in the gradebook" in proc.stdout, (
        f"expected the check to flag zz-late, seen rc={proc.returncode}:\n{proc.stdout}")


# graded again into the same course: the honest students and every attack that could reach a
# later submission (a survivor, a spy, litter, links, writes, a thread that re-patches)
AGAIN = ["n01-correct", "n01-partial", "n01-blank", "h-survivor", "h-spy", "h-litters",
         "h-plants-links", "h-reads-secrets", "h-writes-gradebook", "h-writes-other-student",
         "h-tamper-thread-repatch", "h-tamper-transformer", "h-memfd-hog", "h-segfault"]


def test_second_run_yields_identical_grades(graded, klass, tmp_path_factory):
    course, rows, *_ = graded
    part = tmp_path_factory.mktemp("again")
    for student in AGAIN:
        shutil.copytree(klass[0] / student, part / student)
    autograder("grade", LESSON, "--submissions", str(part), *LIMITS,
               "--csv", str(course / "grades-again.csv"), course=course)
    again = read_csv(course / "grades-again.csv")
    diff = {s: (rows[s]["score"], again.get(s, {}).get("score")) for s in AGAIN
            if rows[s]["score"] != again.get(s, {}).get("score")}
    assert not diff, f"expected identical scores on a re-run, seen (first, second): {diff}"
    proc = autograder("check", LESSON, course=course, check=False)
    assert proc.returncode == 0, f"expected integrity after a re-run, seen:\n{proc.stdout}"
    assert not sandbox_processes(), f"expected no sandbox process after the re-run, seen {sandbox_processes()}"


def _hidden_lines() -> list[str]:
    """Distinctive lines of lesson 00's hidden tests."""
    nb = nbformat.read(str(ROOT / "solutions" / LESSON / f"{LESSON}.ipynb"), 4)
    lines = []
    for cell in nb.cells:
        if "BEGIN HIDDEN TESTS" in cell.source:
            hidden = cell.source.split("BEGIN HIDDEN TESTS", 1)[1].split("END HIDDEN TESTS", 1)[0]
            lines += [ln.strip() for ln in hidden.splitlines() if len(ln.strip()) > 25]
    return lines


def test_feedback_names_failed_hidden_tests_without_their_code(graded):
    import html

    course, *_ = graded
    feedback = course / "autograder" / "feedback"
    page = (feedback / "n01-partial" / LESSON / f"{LESSON}.html").read_text()
    assert "A test failed in cosine-tests" in page and "hidden tests: not shown" in page, (
        "expected the feedback to name the failing test cell and hide its hidden tests")
    hidden = _hidden_lines()
    assert hidden, "expected lesson 00 to have hidden tests"
    leaks = {p.parent.parent.name: [ln for ln in hidden if html.escape(ln) in p.read_text() or ln in p.read_text()]
             for p in feedback.glob(f"*/{LESSON}/{LESSON}.html")}
    leaks = {s: v for s, v in leaks.items() if v}
    assert not leaks, f"expected no hidden test code in any feedback, seen {leaks}"


def test_no_trick_earns_more_than_its_answers_and_no_hidden_test_reaches_the_kernel(graded, klass):
    """Issue 21: the verdicts are computed by the grader's judge, never in the kernel. Each
    verdict attack (with wrong answers) scores what its answers earn; a student who prints the
    kernel's history (``In``, ``Out``) finds no test in it; a forged record is dropped; the
    socket folder cannot be filled; no autograded notebook holds hidden test code outside the
    test cells themselves."""
    course, rows, *_ = graded
    attacks = {s: float(rows[s]["score"]) for s in rows if s.startswith("h-verdict")}
    assert len(attacks) == 5 and not any(attacks.values()), f"expected 0 for each verdict attack, seen {attacks}"
    history = outputs(course, "h-prints-history")
    assert "history:" in history and "student_function" not in history and "check_close" not in history, (
        f"expected the kernel's history without test code, seen:\n{history[-2000:]}")
    hidden = _hidden_lines()
    graded_root = course / "autograder" / "autograded"
    for path in graded_root.glob(f"*/{LESSON}/{LESSON}.ipynb"):
        nb = nbformat.read(str(path), 4)
        shown = "".join(o.get("text", "") + str(o.get("evalue", "")) + "".join(o.get("traceback", []))
                        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        leaked = [ln for ln in hidden if ln in shown]
        assert not leaked, f"{path.parent.parent.name}: hidden test code in outputs: {leaked[:3]}"
        assert not any("autograder" in c.metadata for c in nb.cells), (
            f"{path.parent.parent.name}: a record in lesson 00, which records nothing (forged?)")
    ipc = outputs(course, "h-fills-ipc")
    if not os.environ.get("COURSE_SKIP_ISOLATION"):
        assert "blocked: /ipc" in ipc and "wrote:" not in ipc, f"expected /ipc full at once, seen {ipc[-500:]}"


def test_feedback_pages_run_no_script(graded):
    """Markdown and HTML output of a submission reach feedback pages without anything that runs
    in the browser of whoever opens them (scripts, event handlers, javascript: links, SVG)."""
    course, *_ = graded
    pages = sorted((course / "autograder" / "feedback").glob(f"*/{LESSON}/{LESSON}.html"))
    assert "h-script" in {p.parent.parent.name for p in pages}, "expected a feedback page for h-script"
    for path in pages:
        page = path.read_text()
        for payload in ("<script>window.pwned", "onerror=", "javascript:window", "<svg><script>"):
            assert payload not in page, f"{path.parent.parent.name}: {payload!r} in the feedback page"


def _zip_class(klass: Path, path: Path) -> None:
    """Two honest students, one zip bomb, a traversal, a link, and odd student ids."""
    correct = (klass / "n01-correct" / LESSON / f"{LESSON}.ipynb").read_bytes()
    partial = (klass / "n01-partial" / LESSON / f"{LESSON}.ipynb").read_bytes()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"export/ann/{LESSON}/{LESSON}.ipynb", correct)
        zf.writestr(f"export/bo/{LESSON}/{LESSON}.ipynb", partial)
        zf.writestr(f"export/carl/{LESSON}/{LESSON}.ipynb", b" " * (64 * 2**20))  # 64 MB of spaces
        zf.writestr(f"export/../../evil/{LESSON}/{LESSON}.ipynb", correct)
        link = zipfile.ZipInfo(f"export/dan/{LESSON}/{LESSON}.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        for odd in ("a b", "Jos\u00e9", "..", "=cmd"):
            zf.writestr(f"export/{odd}/{LESSON}/{LESSON}.ipynb", correct)


def test_zip_intake_refuses_traversal_links_bombs_and_odd_ids_with_reasons(klass, tmp_path_factory):
    require_isolation()
    course = new_course(tmp_path_factory, "zipcourse")
    archive = tmp_path_factory.mktemp("zip") / "export.zip"
    _zip_class(klass[0], archive)
    autograder("grade", LESSON, "--submissions", str(archive), *LIMITS,
               "--csv", str(course / "grades.csv"), course=course)
    rows = read_csv(course / "grades.csv")
    scores = {s: float(rows[s]["score"]) for s in ("ann", "bo") if s in rows}
    assert scores == {"ann": 5.0, "bo": 2.0}, f"expected honest ann 5 and bo 2, seen {rows}"
    expected = {"carl": "decompresses to over", "dan": "link or a special file",
                "a b": "not usable", "José": "not usable", "'=cmd": "not usable"}
    for student, words in expected.items():
        row = rows.get(student, {})
        assert row.get("status") == "rejected" and words in row.get("reason", ""), (
            f"{student}: expected rejected with {words!r}, seen {row}")
    traversal = [r for s, r in rows.items() if "evil" in s or s.startswith("archive entry")]
    assert traversal and all(r["status"] == "rejected" for r in traversal), (
        f"expected the traversal and '..' entries rejected, seen {sorted(rows)}")
    assert not list(archive.parent.parent.glob("evil*")) and not Path("/tmp/evil").exists(), \
        "a zip entry escaped the extraction folder"
    proc = autograder("check", LESSON, course=course, check=False)
    assert proc.returncode == 0, f"expected integrity with refused submissions, seen:\n{proc.stdout}"


def test_without_root_grading_works_and_warns(klass, tmp_path_factory, monkeypatch):
    """The fallback (no root, or no namespaces): kernels unjailed, with the warning."""
    from autograder import sandbox
    from autograder.course_dir import load
    from autograder.grade import grade_class
    from autograder.slots import Limits

    course = new_course(tmp_path_factory, "plaincourse")
    one = tmp_path_factory.mktemp("one")
    shutil.copytree(klass[0] / "n01-correct", one / "n01-correct")
    monkeypatch.setattr(sandbox, "isolation_missing", lambda: "not running as root")
    with pytest.warns(sandbox.IsolationWarning, match="grader's rights"):
        rows = grade_class(load(course), LESSON, one, workers=1, progress=False,
                           limits=Limits(cell_timeout=30, timeout=120))
    assert [(r.student, r.status, r.score) for r in rows] == [("n01-correct", "ok", 5.0)], rows


def test_missing_students_are_named_and_feedback_is_ready_for_the_exchange(klass, tmp_path_factory):
    """nbgrader's exchange round trip: Alice submitted (with the exchange's timestamp and secret),
    Bob's collected folder holds no notebook, Carol is on the roster without a folder. Grading
    names Bob and Carol missing (no grade written), puts the exchange files beside Alice's
    feedback, and hands everything to the instructor's account (``--owner``)."""
    require_isolation()
    course = new_course(tmp_path_factory, "exchange")
    nbgrader("db", "student", "add", "carol", cwd=course)
    submitted = course / "autograder" / "submitted"
    shutil.copytree(klass[0] / "n01-correct" / LESSON, submitted / "alice" / LESSON)
    (submitted / "bob" / LESSON).mkdir(parents=True)
    for student in ("alice", "bob"):
        (submitted / student / LESSON / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC")
    (submitted / "alice" / LESSON / "submission_secret.txt").write_text("s3cr3t\n")
    owner = pwd.getpwnam("nobody")
    proc = autograder("grade", LESSON, "--submissions", str(submitted), *LIMITS,
                      "--owner", "nobody", course=course)
    rows = read_csv(course / "autograder" / f"grades-{LESSON}.csv")
    seen = {s: (r["status"], float(r["score"])) for s, r in rows.items()}
    assert seen == {"alice": ("ok", 5.0), "bob": ("missing", 0.0), "carol": ("missing", 0.0)}, rows
    assert "holds no notebook" in rows["bob"]["reason"] and "on the roster" in rows["carol"]["reason"], rows
    for student in ("bob", "carol"):
        said = [ln for ln in proc.stdout.splitlines() if ln.split()[:2] == [student, "missing"]]
        assert len(said) == 1, f"expected one line naming {student} missing, seen:\n{proc.stdout}"
    with sqlite3.connect(course / "autograder" / "gradebook.db") as con:
        graded = {r[0] for r in con.execute("select student_id from submitted_assignment")}
    assert graded == {"alice"}, f"expected a grade for alice only, seen {graded}"
    feedback = course / "autograder" / "feedback" / "alice" / LESSON
    for name in ("timestamp.txt", "submission_secret.txt"):
        assert (feedback / name).read_text() == (submitted / "alice" / LESSON / name).read_text(), name
    handed = [course / "autograder" / "gradebook.db", course / "autograder" / f"grades-{LESSON}.csv",
              feedback / f"{LESSON}.html", feedback, course / "autograder" / "autograded" / "alice"]
    wrong = {str(p): p.stat().st_uid for p in handed if p.stat().st_uid != owner.pw_uid}
    assert not wrong, f"expected everything owned by nobody ({owner.pw_uid}), seen {wrong}"
    check = autograder("check", LESSON, course=course, check=False)
    assert check.returncode == 0, f"expected integrity with missing students, seen:\n{check.stdout}"


def test_a_course_library_and_class_under_tmp_are_graded(klass):
    """The jail gives each kernel a private /tmp: the grader's package (its ``course`` library
    included), the course and the class may all live under the host's /tmp all the same."""
    require_isolation()
    base = Path(tempfile.mkdtemp(prefix="nearmiss-under-tmp-", dir="/tmp"))
    try:
        package = base / "package"  # the only ``course`` the jail shows: the venv's points elsewhere
        for name in ("autograder", "course", "datasets"):
            shutil.copytree(ROOT / name, package / name, ignore=shutil.ignore_patterns("__pycache__"))
        (base / "course").mkdir()
        course = make_course_copy(base / "course")
        for student in ("n01-correct", "n01-partial"):
            shutil.copytree(klass[0] / student, base / "class" / student)
        proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), "grade",
                               LESSON, "--submissions", str(base / "class"), *LIMITS,
                               "--csv", str(course / "grades.csv")],
                              cwd=package, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(package)})
        assert proc.returncode == 0, f"grading under /tmp failed:\n{proc.stderr[-3000:]}"
        rows = read_csv(course / "grades.csv")
        seen = {s: (r["status"], float(r["score"])) for s, r in rows.items()}
        assert seen == {"n01-correct": ("ok", 5.0), "n01-partial": ("ok", 2.0)}, (
            f"expected 5 and 2 points, seen {seen}; reasons: {[r['reason'] for r in rows.values()]}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _install_postgres() -> Path:
    """Debian's PostgreSQL: install it when missing; fail loudly if that does not work."""
    if _pg_bin():
        return _pg_bin()
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.fail("PostgreSQL is not installed and cannot be: no apt-get, or not root "
                    "(install Debian's postgresql)")
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


def test_postgres_grades_like_sqlite(postgres_url, graded, klass, tmp_path_factory):
    """A part of the class (honest, repaired, crashed, refused) through PostgreSQL."""
    _, rows, *_ = graded
    part = tmp_path_factory.mktemp("part")
    chosen = ["n01-correct", "n01-partial", "n01-blank", "h-duplicated-grade-cell", "h-os-exit",
              "h-invalid-json", "h-fake-grade-cells"]
    for student in chosen:
        shutil.copytree(klass[0] / student, part / student)
    course = new_course(tmp_path_factory, "pgcourse")
    autograder("--db", postgres_url, "grade", LESSON, "--submissions", str(part), *LIMITS,
               "--csv", str(course / "grades.csv"), course=course)
    pg = read_csv(course / "grades.csv")
    diff = {s: (rows[s]["score"], pg.get(s, {}).get("score")) for s in chosen
            if rows[s]["score"] != pg.get(s, {}).get("score")}
    assert not diff, f"expected PostgreSQL scores equal to SQLite's, seen (sqlite, pg): {diff}"
    proc = autograder("--db", postgres_url, "check", LESSON, course=course, check=False)
    assert proc.returncode == 0, f"expected integrity on PostgreSQL, seen:\n{proc.stdout}"
