"""The course in a real JupyterHub classroom: `make hub`, deploy/ and nbgrader's exchange.

``test_class_round_trip`` runs one assignment through a class the way it happens on a hub
(course/tooling/hub.py, configured by deploy/jupyterhub_config.py): real local accounts for an
instructor and two students, each with a JupyterLab server started as that account, PAM log-in,
nbgrader's exchange in a shared folder.

1. the instructor releases 00_orientation (the formgrader of their own server);
2. Alice, in headless Chromium, logs in, fetches it in the Assignments tab, answers it (the
   solution's code, written through her server), validates and submits it there, and later
   fetches her feedback there;
3. Bob fetches and submits the untouched release through his server's REST API;
4. the instructor collects; root grades with the class tool (``python -m autograder grade``);
   the instructor releases feedback; each student fetches theirs;
5. checks: full / zero code scores, feedback for each, neither student can reach the other's
   work or feedback, no hidden test reaches a student.

Also: `make hub` logs in with the passwords it prints and stops everything on Ctrl-C or
SIGTERM; grading a collected folder without a notebook says why in one line and writes nothing.

The hub and every server, account and file it made are gone when the test ends. It needs root
(accounts); without it the tests fail and say so, or skip with the reason when
COURSE_SKIP_HUB=1. The proxy comes from npm (tools/ensure_proxy.sh, run by `make test`).
"""
from __future__ import annotations

import csv
import html
import json
import os
import pwd
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, nbgrader_meta
from course import lessons
from course.tooling import hub as hubtool
from course.tooling.lab import free_port
from test_browser import CHROMIUM_ARGS, VIEWPORT, chromium  # noqa: F401 (a fixture)

LESSON = "00_orientation"
ARTIFACTS = ROOT / "test-artifacts" / "hub"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hub")]


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def needs_root():
    if os.geteuid() != 0:
        reason = "the hub tests need root: they create local accounts and start servers as them"
        if os.environ.get("COURSE_SKIP_HUB"):
            pytest.skip(reason)
        pytest.fail(reason)
    proc = subprocess.run([str(ROOT / "tools" / "ensure_proxy.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, f"tools/ensure_proxy.sh failed: {proc.stderr.strip()}"


@pytest.fixture
def classroom(needs_root, tmp_path_factory):
    log = tmp_path_factory.mktemp("hub") / "jupyterhub.log"
    hub = hubtool.Hub({"teacher": "instructor", "alice": "student", "bob": "student"},
                      tag=f"t{secrets.token_hex(2)}-", log=log)
    try:
        hub.start()
    except hubtool.HubError as err:
        pytest.fail(f"the hub did not start: {err}\n{log.read_text()[-3000:] if log.exists() else ''}")
    yield hub
    names = list(hub.accounts)
    hub.stop()
    assert not [n for n in names if _exists(n)], "accounts left behind"


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# ----------------------------------------------------------------------------- helpers

def as_user(name: str, *cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", name, "--", *cmd], capture_output=True, text=True)


def answered(release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The release with every answer cell filled in as a student would: the solution's code
    (without nbgrader's markers) and a sentence for the written answer."""
    solution = {nbgrader_meta(c).get("grade_id"): c for c in
                nbformat.read(str(lessons.solution_path(LESSON)), as_version=4).cells}
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if not meta.get("solution"):
            continue
        if cell.cell_type == "code":
            source = solution[meta["grade_id"]].source.splitlines()
            cell.source = "\n".join(l for l in source if l.strip() not in
                                    ("### BEGIN SOLUTION", "### END SOLUTION"))
        else:
            cell.source = ("The nearest neighbour hurts more: it matches on topics, so the model "
                           "trusts it and applies a stranger's fine-grained taste.")
    return nb


def hidden_lines() -> list[str]:
    """Lines of the hidden tests that appear nowhere in the release (so finding one means a
    hidden test leaked)."""
    release = lessons.lesson_path(LESSON).read_text()
    lines, inside = [], False
    for cell in nbformat.read(str(lessons.solution_path(LESSON)), as_version=4).cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 12 and line.strip() not in release:
                lines.append(line.strip())
    assert len(lines) >= 5, f"too few distinctive hidden-test lines to look for: {lines}"
    return lines


def text_of(path: Path) -> str:
    """What a student reads in a file: HTML without tags and entities, or the raw text."""
    raw = path.read_text(errors="replace")
    return html.unescape(re.sub(r"<[^>]+>", "", raw)) if path.suffix == ".html" else raw


def code_points(nb: nbformat.NotebookNode) -> float:
    return sum(nbgrader_meta(c).get("points", 0) for c in nb.cells
               if nbgrader_meta(c).get("grade") and c.cell_type == "code")


def page_config(hub, account) -> dict:
    """The settings JupyterLab's page hands the browser (which extensions are off)."""
    page = hub.server(account.name, "GET", "lab", raw=True)
    match = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                      page, re.S)
    assert match, f"{account.name}'s JupyterLab page carries no jupyter-config-data"
    return json.loads(match.group(1))


def graded_students(db: Path) -> set[str]:
    """Students with a submission in the gradebook (none when there is no gradebook yet)."""
    if not db.exists():
        return set()
    with sqlite3.connect(db) as con:
        try:
            return {r[0] for r in con.execute("select student_id from submitted_assignment")}
        except sqlite3.OperationalError:    # an empty file: no tables, no grades
            return set()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


# ----------------------------------------------------------------------------- browser steps

def log_in(page, hub, account) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", account.name)
    page.fill("#password_input", account.password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf"/user/{re.escape(account.name)}/lab"), timeout=240_000)


def open_assignments(page) -> None:
    page.wait_for_selector(".jp-LabShell", timeout=120_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Assignment List$")).click()
    page.wait_for_selector("#released_assignments_list", timeout=60_000)


def row_button(page, listing: str, label: str):
    """The button ``label`` in the row of LESSON in the list ``listing``, once it is there."""
    row = page.locator(f"#{listing} .list_item", has_text=LESSON)
    row.first.wait_for(timeout=120_000)
    return row.first.locator("button", has_text=re.compile(rf"^{label}$"))


def fetch_validate_submit_in_browser(page, hub, alice) -> str:
    """Alice's Assignments tab: Fetch, (her answers arrive), Validate, Submit; the dialog text."""
    log_in(page, hub, alice)
    open_assignments(page)
    row_button(page, "released_assignments_list", "Fetch").click()
    row_button(page, "fetched_assignments_list", "Submit").wait_for(timeout=120_000)
    shot(page, "alice-fetched")
    path = f"{LESSON}/{LESSON}.ipynb"
    release = hub.server(alice.name, "GET", f"api/contents/{path}")["content"]
    hub.server(alice.name, "PUT", f"api/contents/{path}",
               {"type": "notebook", "format": "json", "content": answered(nbformat.from_dict(release))})
    row = page.locator("#fetched_assignments_list .list_item", has_text=LESSON).first
    row.locator("a", has_text=LESSON).first.click()           # unfold the notebooks
    row.locator("button", has_text=re.compile(r"^Validate$")).first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=600_000)
    page.wait_for_timeout(300)
    shot(page, "alice-validated")
    verdict = dialog.inner_text()
    dialog.locator("button", has_text="Ok").first.click()
    row_button(page, "fetched_assignments_list", "Submit").click()
    page.locator("#submitted_assignments_list .list_item", has_text=LESSON).first.wait_for(timeout=120_000)
    shot(page, "alice-submitted")
    return verdict


def fetch_feedback_in_browser(page, alice) -> None:
    """Alice refreshes her Assignments tab and presses Fetch Feedback."""
    page.locator("#refresh_assignments_list").click()
    row_button(page, "submitted_assignments_list", "Fetch Feedback").click()
    deadline = time.monotonic() + 120
    while not list((alice.home / LESSON / "feedback").glob(f"*/{LESSON}.html")):
        assert time.monotonic() < deadline, "Fetch Feedback in Alice's Assignments tab fetched nothing"
        page.wait_for_timeout(500)
    page.wait_for_timeout(1000)
    shot(page, "alice-feedback")


# ----------------------------------------------------------------------------- the test

def test_class_round_trip(classroom, chromium, playwright):  # noqa: F811
    hub = classroom
    teacher = hub.instructor
    alice, bob = (a for a in hub.accounts.values() if a.role == "student")
    form = {"course_id": hubtool.COURSE_ID, "assignment_id": LESSON}
    submitted = hub.course / "autograder" / "submitted"
    grades_csv = hub.course / "autograder" / f"grades-{LESSON}.csv"
    times, clock = {}, [time.monotonic()]

    def lap(step: str) -> None:
        times[step] = round(time.monotonic() - clock[0], 1)
        clock[0] = time.monotonic()

    for account in (teacher, alice, bob):
        hub.spawn(account.name)
    lap("start 3 servers")

    # the roles: a student's server has no formgrader; the instructor's has
    with pytest.raises(urllib.error.HTTPError) as err:
        hub.server(alice.name, "GET", "formgrader/api/status")
    assert err.value.code == 404, f"a student's server answers the formgrader: {err.value}"
    assert hub.server(teacher.name, "GET", "formgrader/api/status")["status"] is True
    instructor_only = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list",
                       "@jupyter/nbgrader:create-assignment"}
    for account, hidden in ((alice, instructor_only), (teacher, set())):
        disabled = set(page_config(hub, account).get("disabledExtensions", []))
        assert disabled & instructor_only == hidden, (
            f"{account.role} {account.name}: JupyterLab disables {disabled & instructor_only}")

    # 1. release
    result = hub.server(teacher.name, "POST", f"formgrader/api/assignment/{LESSON}/release")
    assert result["success"], f"release failed: {result}"
    lap("release")

    browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        # 2. Alice in the browser
        verdict = fetch_validate_submit_in_browser(page, hub, alice)
        assert "passes all the tests" in verdict, (
            f"Validate in Alice's Assignments tab: {verdict[:800]}")
        lap("Alice: log in, fetch, validate, submit (browser)")

        # 3. Bob through the REST API of his own server: fetch, submit untouched
        for action in ("fetch", "submit"):
            reply = hub.server(bob.name, "POST", f"assignments/{action}", form, form=True)
            assert reply["success"], f"Bob's {action} failed: {reply}"
        lap("Bob: fetch, submit (REST)")

        # 4. collect (instructor), grade (root, the class tool), release feedback
        result = hub.server(teacher.name, "POST", f"formgrader/api/assignment/{LESSON}/collect")
        assert result["success"], f"collect failed: {result}"
        assert {p.name for p in submitted.iterdir()} == {alice.name, bob.name}, (
            list(submitted.iterdir()))
        proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(hub.course),
                               "grade", LESSON, "--submissions", str(submitted), "--workers", "2",
                               "--owner", teacher.name],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (
            f"python -m autograder grade failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
        lap("collect and grade (class tool, 2 workers)")
        result = hub.server(teacher.name, "POST", f"formgrader/api/assignment/{LESSON}/release_feedback")
        assert result["success"], f"release_feedback failed: {result}"
        fetch_feedback_in_browser(page, alice)
        reply = hub.server(bob.name, "POST", "assignments/fetch_feedback", form, form=True)
        assert reply["success"], f"Bob's fetch_feedback failed: {reply}"
        lap("release and fetch feedback (Alice: browser, Bob: REST)")
    except Exception:
        shot(page, "alice-FAILED")
        raise
    finally:
        browser.close()

    # 5a. scores: full for the solution, zero for the untouched release
    release = nbformat.read(str(lessons.lesson_path(LESSON)), as_version=4)
    full = code_points(release)
    with open(grades_csv) as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    table = "\n".join(f"{s}: {r['status']} {r['score']}/{r['max_score']} {r['reason']}" for s, r in rows.items())
    assert rows[alice.name]["status"] == "ok" and float(rows[alice.name]["score"]) == full, table
    assert float(rows[bob.name]["score"]) == 0 and float(rows[bob.name]["max_score"]) == full, table
    students = graded_students(hub.course / "autograder" / "gradebook.db")
    assert students == {alice.name, bob.name}, students

    # 5b. each student has their own feedback, with their own score
    feedback = {}
    for student, score in ((alice, full), (bob, 0)):
        files = list((student.home / LESSON / "feedback").glob(f"*/{LESSON}.html"))
        assert len(files) == 1, f"{student.name} fetched {files}"
        feedback[student.name] = files[0]
        shown = text_of(files[0])
        assert re.search(rf"Score:\s*{score:g}(\.0)?\s*/", shown) or f"{score:g} / " in shown, (
            f"{student.name}'s feedback does not show the score {score:g}: {shown[:600]}")

    # 5c. neither student reaches the other's work or feedback, nor the instructor's course
    exchange = hub.exchange / hubtool.COURSE_ID
    for me, other in ((alice, bob), (bob, alice)):
        for target in (exchange / "inbound", exchange / "feedback", other.home, hub.course):
            listing = as_user(me.name, "ls", str(target))
            assert listing.returncode != 0, f"{me.name} can list {target}: {listing.stdout[:200]}"
        for target in (feedback[other.name], other.home / LESSON / f"{LESSON}.ipynb",
                       submitted / other.name / LESSON / f"{LESSON}.ipynb",
                       lessons.solution_path(LESSON).relative_to(ROOT)):
            target = target if target.is_absolute() else hub.course / target
            read = as_user(me.name, "cat", str(target))
            assert read.returncode != 0, f"{me.name} can read {target}"
        moved = as_user(me.name, "mv", str(exchange), str(exchange) + "-moved")
        assert moved.returncode != 0, f"{me.name} can move the course's exchange folder"
        with pytest.raises(urllib.error.HTTPError):     # nor the other's server
            hub._request("GET", f"{hub.url}/user/{other.name}/api/contents", hub.token(me.name))
        listed = hub.server(me.name, "GET", f"assignments?course_id={hubtool.COURSE_ID}")["value"]
        paths = json.dumps(listed)
        assert other.name not in paths, f"{me.name}'s assignment list names {other.name}: {paths[:500]}"

    # 5d. no hidden test in anything a student received: the release, the feedback
    secret = hidden_lines()
    received = [exchange / "outbound" / LESSON / f"{LESSON}.ipynb", *feedback.values(),
                *(s.home / LESSON / f"{LESSON}.ipynb" for s in (alice, bob))]
    for path in received:
        shown = text_of(path)
        leaked = [line for line in secret if line in shown]
        assert not leaked, f"hidden tests reach students in {path}: {leaked[:3]}"
    lap("checks")
    print(f"\nhub round trip, seconds per step: {times} (total {sum(times.values()):.0f} s)")


# ----------------------------------------------------------------------------- bad input

def test_a_student_without_a_submission_gets_a_reason_and_no_grade(tmp_path):
    """The exchange gave the instructor a folder for Bob without a notebook (he submitted an
    empty folder, or it was deleted): grading names the problem in one line and writes nothing."""
    course = tmp_path / "course"
    course.mkdir()
    from conftest import make_course_copy
    make_course_copy(course)
    folder = course / "autograder" / "submitted" / "bob" / LESSON
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC")
    proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), "grade",
                           LESSON, "--submissions", str(course / "autograder" / "submitted")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, f"grading an empty submission succeeded:\n{proc.stdout}"
    message = proc.stderr.strip().splitlines()
    assert len(message) == 1 and message[0].startswith("error:") and LESSON in message[0], message
    assert not graded_students(course / "autograder" / "gradebook.db"), "a grade was written"


# ----------------------------------------------------------------------------- make hub

def start_demo(port: int, **popen) -> tuple[subprocess.Popen, str, dict[str, str], list[str]]:
    """``make hub``'s launcher; what it printed: the login URL, ``{account: password}``."""
    proc = subprocess.Popen([sys.executable, "-m", "course.tooling.hub", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **popen)
    lines: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not any("Ctrl-C" in l for l in lines):
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            pytest.fail("`make hub` exited early:\n" + "".join(lines))
        lines.append(line)
    text = "".join(lines)
    url = re.search(r"http://127\.0\.0\.1:\d+/hub/login", text)
    accounts = dict(re.findall(r"user (nmhub-\S+)\s+password (\S+)", text))
    if not url or len(accounts) != 3:
        proc.kill()
        pytest.fail(f"`make hub` printed no login URL or not three accounts:\n{text}")
    return proc, url.group(0), accounts, lines


def session():
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))


def log_in_by_form(opener, login_url: str, name: str, password: str) -> str:
    """Post JupyterHub's log-in form; the URL it lands on."""
    with opener.open(login_url, timeout=60) as r:
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', r.read().decode())
    data = {"username": name, "password": password, **({"_xsrf": xsrf.group(1)} if xsrf else {})}
    try:
        with opener.open(login_url, urllib.parse.urlencode(data).encode(), timeout=60) as r:
            return r.geturl()
    except urllib.error.HTTPError as err:
        assert err.code == 403, f"log-in answered {err.code}"   # refused: back on the form
        return err.geturl()


def stopped_and_cleaned(proc, port: int, uids: dict[str, int], sig: int) -> None:
    proc.send_signal(sig)
    try:
        assert proc.wait(timeout=120) == 0, f"`make hub` exit code {proc.returncode} after {sig!r}"
    finally:
        if proc.poll() is None:
            proc.kill()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the proxy still listens"
    left = {name: hubtool._processes_of(uid) for name, uid in uids.items()}
    assert not any(left.values()), f"processes of the demo accounts still run: {left}"
    assert not [n for n in uids if _exists(n)], "demo accounts left behind"
    assert not [n for n in uids if Path("/home", n).exists()], "demo homes left behind"


def test_make_hub_logs_in_with_the_printed_passwords_and_stops_everything_on_ctrl_c(needs_root):
    port = free_port()
    proc, login, accounts, _ = start_demo(port)
    uids = {name: pwd.getpwnam(name).pw_uid for name in accounts}
    try:
        student = next(n for n in accounts if n.endswith("alice"))
        landed = log_in_by_form(session(), login, student, "not-" + accounts[student])
        assert "/hub/login" in landed, f"a wrong password logged in (landed on {landed})"
        web = session()
        landed = log_in_by_form(web, login, student, accounts[student])
        assert "/hub/login" not in landed, f"the printed password did not log in (landed on {landed})"
        web.open(login.replace("/hub/login", "/hub/spawn"), timeout=60).close()
        lab = login.replace("/hub/login", f"/user/{student}/lab")
        deadline = time.monotonic() + 240
        while True:           # the student's JupyterLab, started as the student, answers
            try:
                with web.open(lab, timeout=30) as r:
                    if r.geturl().startswith(lab) and "jupyter-config-data" in r.read().decode():
                        break
            except urllib.error.HTTPError:   # 424 from the hub while it starts
                pass
            assert time.monotonic() < deadline, f"{student}'s server did not start"
            time.sleep(1)
        assert hubtool._processes_of(uids[student]), f"nothing runs as {student}"
    except BaseException:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        raise
    stopped_and_cleaned(proc, port, uids, signal.SIGINT)


def test_make_hub_stops_on_sigterm_when_started_in_the_background(needs_root):
    """A non-interactive shell starts `make hub &` with SIGINT ignored; a process manager stops
    it with SIGTERM."""
    port = free_port()
    proc, _, accounts, _ = start_demo(port, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    uids = {name: pwd.getpwnam(name).pw_uid for name in accounts}
    stopped_and_cleaned(proc, port, uids, signal.SIGTERM)
