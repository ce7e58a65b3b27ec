"""An instructor's semester, end to end (issue 23), with the real class tool.

A roster of 12 students with LMS ids (unicode names and apostrophes among them) and two
assignments with due dates: lesson 00 itself (A), and lesson 00 under a second name (B, the
cheapest graded notebook twice). The fixture runs the semester once, as README's instructor
workflow says, and keeps what each step showed:

1. ``roster``, ``deadline`` (both due dates, and an extension for one student);
2. A arrives as a Canvas export (a resubmission, a late submission, the extended student, a
   stranger, a zip entry that climbs out of the archive, and a page with scripts in a markdown
   cell and in a ``display(HTML(...))`` output) and is graded with ``grade``;
3. B is released through nbgrader's exchange (a local folder), fetched and submitted by two
   students and collected, and arrives for three more as a Moodle export (a folder per student,
   a zip inside the zip, a flat file); one ``grade`` run takes both sources;
4. the written answers are graded through the formgrader's REST API (a real Jupyter server on
   the course), with comments; the grading page shows the rubric;
5. A is graded again for three students (one changed their written answer);
6. ``feedback`` writes A's pages, and B's with ``--release``; the two exchange students fetch
   theirs; ``export`` writes the Canvas and Moodle CSVs; ``stats`` the histogram.

The tests then check each promise of the issue on what the steps left. Grading needs root for
the jail, as ``tests/test_autograder.py`` (same xdist group: it shares that group's machine time).
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, make_course_copy
from test_hub import hidden_lines, text_of

# the semester shares the autograder group's worker; its tests are slow (marked at the end),
# the checks of the docs and the set-up are not
pytestmark = [pytest.mark.xdist_group("autograder")]

A, B = "00_orientation", "00_retake"
COURSE_ID = "nearmiss"
LIMITS = ["--workers", "2", "--cell-timeout", "60", "--timeout", "120"]
ROSTER = [  # course id, LMS id, name, e-mail
    ("jmueller", "7001", "Jürgen Müller"), ("koneil", "7002", "O'Neil, Kate"),
    ("asmid", "7003", "Anna Šmíd"), ("bchen", "7004", "Bo Chen"),
    ("cdiaz", "7005", "Carla Díaz"), ("dnguyen", "7006", "Duc Nguyễn"),
    ("eolsen", "7007", "Eva Ølsen"), ("fkowalski", "7008", "Filip Kowalski"),
    ("gsato", "7009", "Gen Satō"), ("hbrown", "7010", "Hana Brown"),
    ("ilopez", "7011", "Iker López"), ("jkim", "7012", "Ji-woo Kim")]
DUE_A = "2026-03-02 23:59 Europe/Berlin"  # 22:59 UTC
EXTENDED = "2026-03-04 23:59 Europe/Berlin"  # asmid's
# manual scores and comments given in the formgrader, (assignment, student) -> (score, comment)
MANUAL = {(A, "jmueller"): (1.5, "Clear prediction; say which *taste* differs."),
          (A, "koneil"): (2.0, "Exactly the mechanism."), (A, "asmid"): (1.0, "Name the property."),
          (A, "hbrown"): (2.0, "Fine."), (B, "fkowalski"): (2.0, "Well argued, Filip.")}
HOSTILE_MD = ("<script>alert('md')</script><img src=x onerror=alert(1)> [link](javascript:alert(2)) "
              "<svg><script>alert(3)</script></svg><a href=\"javascript:alert(9)\">a</a>")
HOSTILE_HTML = ("from IPython.display import HTML, display\n"
                "display(HTML(\"<script>alert(4)</script><img src=x onerror=alert(5)>"
                "<a href='javascript:alert(6)'>j</a><svg onload='alert(7)'><script>alert(8)</script>"
                "</svg><b>shown</b>\"))")


class Markup(HTMLParser):
    """What a page's markup would run: script, svg, frame elements; event handler attributes;
    javascript: or data: links. (Text, e.g. code shown in a cell, does not count.)"""

    def __init__(self, page: str):
        super().__init__()
        self.unsafe: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "svg", "iframe", "object", "embed", "math"):
            self.unsafe.append(f"<{tag}>")
        for name, value in attrs:
            link = (value or "").strip().lower()
            if name.startswith("on") or (name in ("href", "src", "xlink:href", "action")
                                         and link.startswith(("javascript:", "data:text"))):
                self.unsafe.append(f"<{tag} {name}={value!r}>")


# ----------------------------------------------------------------------------- helpers

def autograder(*args: str, course: Path) -> str:
    """``python -m autograder --course COURSE ARGS`` in this process; what it printed."""
    from autograder.__main__ import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--course", str(course), *args])
    assert code == 0, f"python -m autograder {' '.join(args)} exited {code}:\n{out.getvalue()[-3000:]}"
    return out.getvalue()


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def answered(kind: str, assignment: str, course: Path) -> nbformat.NotebookNode:
    """A submission from the synthetic class: ``correct``, ``partial`` or ``blank``."""
    from autograder.classgen import build
    from autograder.course_dir import load

    key = (assignment, str(course))
    if key not in _BUILT:
        _BUILT[key] = build(load(course), assignment, copies=1, hostile=False)
    return nbformat.from_dict(json.loads(json.dumps(_BUILT[key][f"n01-{kind}"][0])))


_BUILT: dict = {}


def written(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The written answer cell (graded, answered by the student, markdown)."""
    return next(c for c in nb.cells if c.cell_type == "markdown"
                and c.metadata.get("nbgrader", {}).get("solution"))


def hostile(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Scripts in the written answer (markdown) and in a display(HTML(...)) output."""
    written(nb).source += "\n\n" + HOSTILE_MD
    nb.cells.append(nbformat.v4.new_code_cell(HOSTILE_HTML))
    return nb


def dumps(nb: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(nb).encode()


def entry(zf: zipfile.ZipFile, name: str, when: tuple, data: bytes) -> None:
    zf.writestr(zipfile.ZipInfo(name, when), data)


def canvas_export(course: Path, path: Path) -> None:
    """Canvas's "Download Submissions" of A: <sortable name>[_LATE]_<user id>_<sub id>_<file>."""
    nb = lambda kind: dumps(answered(kind, A, course))  # noqa: E731
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        entry(zf, f"müllerjürgen_7001_101_{A}.ipynb", (2026, 3, 1, 10, 0, 0), nb("blank"))
        entry(zf, f"müllerjürgen_7001_102_{A}-1.ipynb", (2026, 3, 2, 20, 0, 0), nb("correct"))
        entry(zf, f"oneilkate_LATE_7002_103_{A}.ipynb", (2026, 3, 4, 10, 0, 0), nb("partial"))
        entry(zf, f"šmídanna_7003_104_{A}.ipynb", (2026, 3, 3, 12, 0, 0), nb("correct"))
        entry(zf, f"brownhana_7010_107_{A}.ipynb", (2026, 3, 2, 9, 0, 0),
              dumps(hostile(answered("correct", A, course))))
        entry(zf, f"strangerx_9999_108_{A}.ipynb", (2026, 3, 1, 9, 0, 0), nb("correct"))
        entry(zf, f"../../x/jmueller/{A}/{A}.ipynb", (2026, 3, 1, 9, 0, 0), nb("blank"))


def moodle_export(course: Path, path: Path) -> None:
    """Moodle's "Download all submissions" of B: a folder per student, a zip in the zip, flat."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zi:
        entry(zi, f"work/final/{B}.ipynb", (2026, 3, 3, 9, 0, 0), dumps(answered("partial", B, course)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        entry(zf, f"Jürgen Müller_55501_assignsubmission_file_/{B}.ipynb", (2026, 3, 3, 9, 0, 0),
              dumps(answered("correct", B, course)))
        entry(zf, "Kate O'Neil_55502_assignsubmission_file_/upload.zip", (2026, 3, 3, 9, 0, 0),
              inner.getvalue())
        entry(zf, f"Gen Satō_55503_assignsubmission_file_{B}.ipynb", (2026, 3, 3, 9, 0, 0),
              dumps(answered("blank", B, course)))


def exchange_config(exchange: Path, home: Path | None = None):
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.course_id = COURSE_ID
    c.Exchange.root = str(exchange)
    if home is not None:
        c.Exchange.cache = str(home / "cache")
        c.Exchange.assignment_dir = str(home)
    return c


def as_student(step: str, student: str, exchange: Path, home: Path) -> None:
    """One of nbgrader's student commands (fetch_assignment, submit, fetch_feedback) as
    ``student``, through the exchange folder, with ``home`` as their home."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import default

    config = exchange_config(exchange, home)
    coursedir = CourseDirectory(config=config, assignment_id=B, student_id=student)
    app = {"fetch": default.ExchangeFetchAssignment, "submit": default.ExchangeSubmit,
           "fetch_feedback": default.ExchangeFetchFeedback}[step]
    os.chdir(home)  # nbgrader's student commands work from the student's folder
    app(coursedir=coursedir, authenticator=Authenticator(config=config), config=config).start()


def exchange_round(course: Path, exchange: Path, homes: Path) -> None:
    """B released, fetched and submitted by fkowalski (correct) and ilopez (partial), collected."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.merge(exchange_config(exchange))
    api = NbGraderAPI(config=config)
    for step in (api.generate_assignment, api.release_assignment):
        result = step(B)
        assert result["success"], f"{step.__name__} {B}: {result.get('error') or result.get('log')}"
    here = os.getcwd()
    try:
        for student, kind in (("fkowalski", "correct"), ("ilopez", "partial")):
            home = homes / student
            home.mkdir(parents=True)
            as_student("fetch", student, exchange, home)
            nbformat.write(answered(kind, B, course), str(home / B / f"{B}.ipynb"))
            as_student("submit", student, exchange, home)
    finally:
        os.chdir(here)
    result = api.collect(B)
    assert result["success"], f"collect {B}: {result.get('error') or result.get('log')}"


class Formgrader:
    """The formgrader of a Jupyter server on the course, spoken to through its REST API."""

    def __init__(self, course: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = secrets.token_hex(12)
        only = course.parent / "formgrader-only"  # the formgrader alone: quicker to start
        only.mkdir(exist_ok=True)
        (only / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"jpserver_extensions": {
            name: name == "nbgrader.server_extensions.formgrader" for name in (
                "jupyterlab", "jupyter_lsp", "notebook", "notebook_shim", "jupyter_server_terminals",
                "nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.assignment_list",
                "nbgrader.server_extensions.course_list",
                "nbgrader.server_extensions.validate_assignment")}}}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
             f"--port={self.port}", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={course}", "--allow-root"],
            cwd=course, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "JUPYTER_CONFIG_PATH": str(only)})
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.get("api/status")["status"]:
                    return
            except (OSError, ValueError):
                assert self.proc.poll() is None and time.monotonic() < deadline, "no formgrader"
                time.sleep(0.3)

    def request(self, method: str, path: str, data: dict | None = None) -> str:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/formgrader/{path}", method=method,
                                     data=json.dumps(data).encode() if data is not None else None,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read().decode()

    def get(self, path: str):
        return json.loads(self.request("GET", path))

    def grade_written(self, assignment: str, student: str, score: float, comment: str) -> str:
        """Score and comment the written answer (cell ``prediction``); the grading page."""
        [sub] = [s for s in self.get(f"api/submitted_notebooks/{assignment}/{assignment}")
                 if s["student"] == student]
        grade = next(g for g in self.get(f"api/grades?submission_id={sub['id']}") if g["name"] == "prediction")
        note = next(c for c in self.get(f"api/comments?submission_id={sub['id']}") if c["name"] == "prediction")
        self.request("PUT", f"api/grade/{grade['id']}", {"manual_score": score})
        self.request("PUT", f"api/comment/{note['id']}", {"manual_comment": comment})
        return self.request("GET", f"submissions/{sub['id']}/")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def page(course: Path, student: str, assignment: str) -> str:
    return (course / "autograder" / "feedback" / student / assignment / f"{assignment}.html").read_text()


def _cpu() -> float:
    """CPU seconds of this process and of its children that ended (workers, kernels, server)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# ----------------------------------------------------------------------------- the semester

@pytest.fixture(scope="module")
def semester(tmp_path_factory):
    """The whole semester, run once; what each step showed (see the module doc)."""
    from autograder.sandbox import isolation_missing

    missing = isolation_missing()
    if missing:
        pytest.fail(f"grading needs kernel isolation ({missing}); run the tests as root on Linux")
    base = tmp_path_factory.mktemp("semester")
    (base / "course").mkdir()
    course = make_course_copy(base / "course")
    source = course / "solutions" / B
    source.mkdir()
    shutil.copy(course / "solutions" / A / f"{A}.ipynb", source / f"{B}.ipynb")
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)
    seen, times, clock = {}, {}, [time.monotonic(), _cpu()]

    def lap(step: str) -> None:
        times[step] = (round(time.monotonic() - clock[0], 1), round(_cpu() - clock[1], 1))
        clock[:] = [time.monotonic(), _cpu()]

    roster = base / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["course_id", "lms_id", "name", "email"])
        writer.writerows([cid, lms, name, f"{cid}@uni.example"] for cid, lms, name in ROSTER)
    seen["roster"] = autograder("roster", str(roster), course=course)
    autograder("deadline", A, "--due", DUE_A, course=course)
    autograder("deadline", A, "--student", "asmid", "--due", EXTENDED, course=course)
    due_b = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).isoformat(timespec="minutes")
    seen["deadlines"] = autograder("deadline", B, "--due", due_b, course=course)
    lap("roster and deadlines")

    canvas_export(course, base / "canvas.zip")
    seen["grade A"] = autograder("grade", A, "--submissions", str(base / "canvas.zip"), *LIMITS, course=course)
    seen["csv A"] = read_csv(course / "autograder" / f"grades-{A}.csv")
    seen["pending page"] = page(course, "jmueller", A)
    seen["log A"] = (course / "autograder" / f"grade-{A}.log").read_text()
    lap(f"grade {A} (Canvas export, 4 students)")

    exchange_round(course, exchange, base / "homes")
    moodle_export(course, base / "moodle.zip")
    seen["grade B"] = autograder("grade", B, "--submissions", str(base / "moodle.zip"), "--submissions",
                                 str(course / "autograder" / "submitted"), *LIMITS, course=course)
    seen["csv B"] = read_csv(course / "autograder" / f"grades-{B}.csv")
    lap(f"exchange round and grade {B} (Moodle export + exchange, 5 students)")

    formgrader = Formgrader(course)
    try:
        seen["grading pages"] = {key: formgrader.grade_written(*key, *value) for key, value in MANUAL.items()}
    finally:
        formgrader.close()
    lap("formgrader: written answers graded through its REST API")

    again = base / "again"
    for student in ("jmueller", "hbrown"):
        shutil.copytree(course / "autograder" / "submitted" / student, again / student)
    changed = again / "hbrown" / A / f"{A}.ipynb"
    nb = nbformat.read(str(changed), 4)
    written(nb).source = "A new answer: the near-twin's coarse match makes the model trust it."
    nbformat.write(nb, str(changed))
    seen["regrade"] = autograder("grade", A, "--submissions", str(again), *LIMITS, course=course)
    seen["csv regrade"] = {r["student"]: r for r in read_csv(course / "autograder" / f"grades-{A}.csv")}
    lap(f"re-grade {A} (2 students)")

    seen["feedback A"] = autograder("feedback", A, course=course)
    seen["feedback B"] = autograder("feedback", B, "--release", "--exchange", str(exchange), course=course)
    here = os.getcwd()
    try:
        for student in ("fkowalski", "ilopez"):
            as_student("fetch_feedback", student, exchange, base / "homes" / student)
    finally:
        os.chdir(here)
    seen["fetched"] = {s: [p.read_text() for p in (base / "homes" / s / B / "feedback").glob(f"*/{B}.html")]
                       for s in ("fkowalski", "ilopez")}
    lap("feedback (A), feedback --release (B), two students fetch theirs")

    seen["export"] = autograder("export", A, B, "--canvas-id", f"{A}=4242", course=course)
    seen["stats"] = autograder("stats", A, course=course)
    lap("export and stats")
    print(f"\nsemester, (wall, CPU) seconds per step: {times} (total {sum(w for w, _ in times.values()):.0f} "
          f"s wall, {sum(c for _, c in times.values()):.0f} s CPU, load {os.getloadavg()[0]:.1f})")
    return course, seen


# ----------------------------------------------------------------------------- intake

def test_lms_exports_are_read_as_they_come_with_unicode_names_mapped_by_the_roster(semester):
    _, seen = semester
    a = {r["student"]: r for r in seen["csv A"]}
    b = {r["student"]: r for r in seen["csv B"]}
    graded_a = {s for s, r in a.items() if r["status"] == "ok"}
    graded_b = {s for s, r in b.items() if r["status"] == "ok"}
    assert graded_a == {"jmueller", "koneil", "asmid", "hbrown"}, a
    assert graded_b == {"jmueller", "koneil", "gsato", "fkowalski", "ilopez"}, b
    scores = {s: float(b[s]["score"]) for s in graded_b}
    assert scores == {"jmueller": 5, "koneil": 2, "gsato": 0, "fkowalski": 5, "ilopez": 2}, (
        f"expected the Moodle folder, the zip in the zip, the flat file and the exchange "
        f"submissions graded as what they are, seen {scores}")
    assert a["jmueller"]["lms_id"] == "7001" and a["koneil"]["lms_id"] == "7002", a["jmueller"]


def test_a_resubmission_is_resolved_by_its_time_and_reported(semester):
    _, seen = semester
    row = {r["student"]: r for r in seen["csv A"]}["jmueller"]
    assert float(row["score"]) == 5.0, f"expected the later (correct) notebook graded, seen {row}"
    assert f"graded canvas.zip: müllerjürgen_7001_102_{A}-1.ipynb (2026-03-02 20:00 UTC)" in row["reason"] \
        and "not graded" in row["reason"] and "101" in row["reason"], row["reason"]


def test_refusals_say_what_to_do_and_an_entry_that_climbs_out_is_nobodys(semester):
    course, seen = semester
    rows = {r["student"]: r for r in seen["csv A"]}
    stranger = rows["strangerx"]
    assert stranger["status"] == "rejected" and "add them to the roster" in stranger["reason"], stranger
    climbing = [r for s, r in rows.items() if s.startswith("archive entry") and "../../x/jmueller" in s]
    assert climbing and climbing[0]["reason"].startswith(
        "the archive entry's path leaves the archive's folder: it names no one here"), rows
    assert rows["jmueller"]["status"] == "ok" and float(rows["jmueller"]["score"]) == 5.0, rows["jmueller"]
    submitted = {p.name for p in (course / "autograder" / "submitted").iterdir()}
    assert "x" not in submitted and "strangerx" not in submitted, submitted
    assert "4 graded, 2 refused, 8 missing" in seen["grade A"], seen["grade A"][-1500:]


def test_missing_students_are_named(semester):
    _, seen = semester
    missing = {r["student"] for r in seen["csv A"] if r["status"] == "missing"}
    assert missing == {"bchen", "cdiaz", "dnguyen", "eolsen", "fkowalski", "gsato", "ilopez", "jkim"}, missing
    assert ("missing (8): bchen, cdiaz, dnguyen, eolsen, fkowalski, gsato, ilopez, jkim"
            in seen["grade A"]), seen["grade A"]


# ----------------------------------------------------------------------------- time

def test_late_penalties_follow_the_policy_and_the_extension(semester):
    """koneil came 1 day 11 h late (2 started days: 20% of her score, manual points included,
    once they are graded); asmid after the due date but within her extension."""
    course, seen = semester
    assert "late 1 day 11 h: -0.4" in seen["grade A"], seen["grade A"]
    rows = {r["course id"]: r for r in read_csv(course / "autograder" / "exports" / "grades.csv")}
    koneil = rows["koneil"]
    assert koneil[f"{A}: late by"] == "1 day 11 h", koneil
    total = (2.0 + MANUAL[A, "koneil"][0]) * (1 - 0.2)
    assert float(koneil[f"{A}: late penalty (points)"]) == pytest.approx(0.8), koneil
    assert float(koneil[f"{A}: total (of 7)"]) == pytest.approx(total), koneil
    asmid = rows["asmid"]
    assert asmid[f"{A}: late by"] == "" and float(asmid[f"{A}: late penalty (points)"]) == 0, asmid


def test_feedback_explains_the_lateness(semester):
    course, _ = semester
    shown = text_of(course / "autograder" / "feedback" / "koneil" / A / f"{A}.html")
    assert "Late submission penalty: -0.8" in shown and "1 day 11 h after the due date" in shown \
        and "10% of the score per started day late" in shown, shown[:2000]
    extended = text_of(course / "autograder" / "feedback" / "asmid" / A / f"{A}.html")
    assert "on time" in extended and "your extension included" in extended, extended[:2000]


# ----------------------------------------------------------------------------- manual grading

def test_written_answers_are_pending_until_graded_not_zero(semester):
    _, seen = semester
    shown = re.sub(r"<[^>]+>", "", seen["pending page"])
    assert "Written response (pending: not graded yet (2.0 points))" in shown, shown[:3000]
    assert "2.0 of 2.0 points pending" in shown and "Score: 5.0 / 7.0 so far" in shown, shown[:3000]
    assert "Written response (Score: 0.0 / 2.0)" not in shown


def test_the_grader_sees_the_rubric_and_students_never_do(semester):
    course, seen = semester
    rubric = "Instructor notes and rubric"
    for key, html in seen["grading pages"].items():
        assert rubric in html, f"{key}: the formgrader's grading page shows no rubric"
    pages = list((course / "autograder" / "feedback").glob("*/*/*.html"))
    leaks = [str(p) for p in pages if rubric in p.read_text() or "Rubric for the grader" in p.read_text()]
    assert pages and not leaks, f"rubrics reach students: {leaks}"


def test_regrading_keeps_manual_scores_and_comments(semester):
    course, seen = semester
    rows = seen["csv regrade"]
    assert float(rows["jmueller"]["manual"]) == 1.5 and float(rows["jmueller"]["total"]) == 6.5, rows["jmueller"]
    assert rows["jmueller"]["needs_manual_grade"] == "False", "an unchanged answer is flagged again"
    shown = text_of(course / "autograder" / "feedback" / "jmueller" / A / f"{A}.html")
    assert "Score: 6.5 / 7.0" in shown and "Clear prediction; say which taste differs." in shown, shown[:3000]


def test_a_changed_answer_keeps_its_grade_and_asks_for_a_second_look(semester):
    _, seen = semester
    row = seen["csv regrade"]["hbrown"]
    assert float(row["manual"]) == 2.0 and row["needs_manual_grade"] == "True", row
    assert "written answer prediction changed since it was graded" in row["reason"], row["reason"]


# ----------------------------------------------------------------------------- feedback

def test_feedback_has_no_hidden_test_code_anywhere(semester):
    course, seen = semester
    secret = hidden_lines()
    pages = list((course / "autograder" / "feedback").glob("*/*/*.html"))
    fetched = [html for pages_ in seen["fetched"].values() for html in pages_]
    leaks = {str(p): [ln for ln in secret if ln in text_of(p)] for p in pages}
    leaks = {p: v for p, v in leaks.items() if v}
    assert len(pages) == 9 and len(fetched) == 2 and not leaks, f"{len(pages)} pages; leaks: {leaks}"
    assert not [ln for html in fetched for ln in secret if ln in html]


def test_feedback_pages_carry_no_script_from_markdown_or_html_output(semester):
    """hbrown's written answer (markdown) and a display(HTML(...)) output hold a script, an
    <img onerror>, javascript: links and an SVG script; none of it runs in the page."""
    course, _ = semester
    html = page(course, "hbrown", A)
    assert "<b>shown</b>" in html and "onerror=alert(5)" in html.replace("&lt;", "<"), (
        "expected the harmless part of the HTML output, and the code cell's text, to stay")
    assert not Markup(html).unsafe, f"unsafe markup in the feedback page: {Markup(html).unsafe}"
    head = html.split("<body", 1)[0]
    assert "default-src 'none'" in head and "<script" not in head, head[:500]
    for other in (course / "autograder" / "feedback").glob("*/*/*.html"):
        assert not Markup(other.read_text()).unsafe, other


def test_the_formgrader_shows_the_instructor_no_script_of_a_student(semester):
    """The grading page is the formgrader's own (with its own scripts); what hbrown wrote and
    printed reaches it without a handler, a javascript: link or a script of hers."""
    _, seen = semester
    html = seen["grading pages"][A, "hbrown"]
    found = [m for m in Markup(html).unsafe if "alert" in m] + re.findall(r"<script[^>]*>[^<]*alert\(", html)
    assert "<b>shown</b>" in html and not found, f"a student's markup would run in the formgrader: {found}"


def test_feedback_is_released_and_fetched_with_manual_scores_comments_and_pending(semester):
    _, seen = semester
    assert "released through the exchange: 2" in seen["feedback B"], seen["feedback B"]
    assert "hand back through your LMS" in seen["feedback B"] and "gsato" in seen["feedback B"], seen["feedback B"]
    [filip], [iker] = seen["fetched"]["fkowalski"], seen["fetched"]["ilopez"]
    filip, iker = re.sub(r"<[^>]+>", "", filip), re.sub(r"<[^>]+>", "", iker)
    assert "Score: 7.0 / 7.0" in filip and "Well argued, Filip." in filip, filip[:3000]
    assert "pending: not graded yet" in iker and "Score: 2.0 / 7.0 so far" in iker, iker[:3000]


# ----------------------------------------------------------------------------- grades out

def test_canvas_and_moodle_csvs_have_the_expected_columns_and_totals(semester):
    course, seen = semester
    out = course / "autograder" / "exports"
    canvas = list(csv.reader(open(out / "canvas.csv", encoding="utf-8")))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{A} (4242)", B], canvas[0]
    assert canvas[1] == ["    Points Possible", "", "", "", "", "7", "7"], canvas[1]
    rows = {r[1]: r for r in canvas[2:]}
    assert len(rows) == 12 and rows["7001"][0] == "Müller, Jürgen", rows
    assert rows["7001"][5:] == ["6.5", ""], f"jmueller: A total 6.5, B pending (empty): {rows['7001']}"
    assert rows["7002"][5] == "3.2" and rows["7006"][5:] == ["", ""], (rows["7002"], rows["7006"])
    assert rows["7008"][6] == "7", f"fkowalski's B, graded in full: {rows['7008']}"
    moodle = read_csv(out / "moodle.csv")
    header = list(moodle[0])
    for name in ("ID number", "Email address", f"{A}: cosine-tests (autograded, of 3)",
                 f"{A}: prediction (written, graded by hand, of 2)", f"{A}: autograded (of 5)",
                 f"{A}: written, graded by hand (of 2)", f"{A}: late penalty (points)",
                 f"{A}: total (of 7)", f"{B}: total (of 7)"):
        assert name in header, f"{name!r} not in {header}"
    by_id = {r["ID number"]: r for r in moodle}
    koneil = by_id["7002"]
    assert (koneil[f"{A}: late penalty (points)"], koneil[f"{A}: total (of 7)"]) == ("0.8", "3.2"), koneil
    assert by_id["7011"][f"{B}: prediction (written, graded by hand, of 2)"] == "pending", by_id["7011"]
    assert "totals left empty in the LMS files: written answers not graded yet" in seen["export"]


def test_the_class_at_a_glance_has_statistics_a_histogram_and_difficulty(semester):
    course, seen = semester
    png = course / "autograder" / f"stats-{A}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and oct(png.stat().st_mode)[-3:] == "600"
    for text in (seen["grade A"], seen["stats"]):
        assert re.search(rf"{A}: 4 graded, total of 7: mean [\d.]+, median", text), text
        assert "questions, hardest first" in text and "cosine-tests" in text and "█" in text, text


def test_the_log_has_one_line_per_student_and_no_noise(semester):
    _, seen = semester
    log = seen["log A"]
    for student in ("jmueller", "koneil", "asmid", "hbrown", "bchen", "jkim", "strangerx"):
        assert len(re.findall(rf"^\S+ \S+ {student}: ", log, re.M)) == 1, f"{student}:\n{log}"
    assert "Warning" not in log and "SAWarning" not in log and len(log.splitlines()) < 25, log


# ----------------------------------------------------------------------------- docs and set-up

DOCS = ("README.md", "autograder/README.md", "deploy/README.md")


def documented_commands() -> list[tuple[str, str]]:
    """Every ``python -m autograder ...`` command the docs show (in code blocks and in inline
    code, with a subcommand and at least one argument), as (file, command)."""
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text().replace("\\\n", " ")
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
        spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S).replace("\n", " "))
        lines = [ln for block in blocks for ln in block.splitlines()] + spans
        for line in lines:
            match = re.search(r"python -m autograder (.*)", line)
            command = match.group(1).split("  #")[0].strip() if match else ""
            if len(command.split()) >= 2:
                found.append((doc, command))
    return found


@pytest.mark.parametrize("doc,command", documented_commands())
def test_each_documented_command_is_one_the_tool_takes(doc, command):
    """Options in square brackets are optional: each is checked too. ``...``: the rest."""
    from autograder.__main__ import parser

    words = shlex.split(command.replace("[", " ").replace("]", " ").replace("...", " "))
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            parser().parse_args(words)
        except SystemExit as exc:
            pytest.fail(f"{doc}: `python -m autograder {command}` is refused ({exc.code}): {err.getvalue()}")


def test_docs_name_the_feedback_command_and_what_leaks():
    readme = (ROOT / "README.md").read_text()
    assert "python -m autograder feedback" in readme and "leaks" in readme
    deploy = (ROOT / "deploy" / "README.md").read_text()
    assert "finish_grading" not in deploy and "--owner" in deploy and "Until the class tool" not in deploy


def test_setup_names_the_torch_build_and_falls_back_when_the_cpu_index_is_unreachable():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import torch_build
    finally:
        sys.path.pop(0)
    started = time.monotonic()
    assert not torch_build.reachable("http://127.0.0.1:9/whl/cpu", timeout=5)
    assert time.monotonic() - started < 6
    assert re.match(r"torch \S+: the (CPU|CUDA) build", torch_build.report()), torch_build.report()
    setup = (ROOT / "tools" / "setup.sh").read_text()
    assert "download.pytorch.org/whl/cpu" in setup and "torch_build.py report" in setup
    readme = (ROOT / "README.md").read_text()
    assert "download.pytorch.org/whl/cpu" in readme and "CUDA build" in readme


def test_nbgrader_config_makes_plain_generate_feedback_write_the_safe_pages():
    from autograder import feedback
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    from traitlets.utils.importstring import import_item

    configured = [import_item(name) for name in config.GenerateFeedback.preprocessors]
    assert configured == feedback.preprocessors(), config.GenerateFeedback.preprocessors
    assert config.GenerateFeedback.exporter_class == "autograder.feedback.SafeFeedback"


# every test that takes the semester runs it (or shares its one run): slow
for _name, _test in list(globals().items()):
    if _name.startswith("test_") and "semester" in _test.__code__.co_varnames[:_test.__code__.co_argcount]:
        globals()[_name] = pytest.mark.slow(_test)
