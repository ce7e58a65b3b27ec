"""`make lab` serves JupyterLab on 127.0.0.1 with lessons/ visible, shows students only the
nbgrader tools they use, and stops on Ctrl-C."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT
from course.tooling.lab import free_port

pytestmark = pytest.mark.slow  # each test starts a JupyterLab server


def start_lab(port: int, *args: str, **popen) -> tuple[subprocess.Popen, list[str], re.Match]:
    """The launcher, and what it printed up to the URL it serves."""
    proc = subprocess.Popen([sys.executable, "-m", "course.tooling.lab", "--port", str(port), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, **popen)
    lines, url = [], None
    deadline = time.monotonic() + 120
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            pytest.fail(f"launcher exited early: {''.join(lines)}")
        lines.append(line)
        url = re.search(r"http://127\.0\.0\.1:(\d+)/lab\?token=(\w+)", line)
    if url is None:
        proc.kill()
        pytest.fail("no URL with a token was printed")
    return proc, lines, url


def assert_stops_with_its_server(proc: subprocess.Popen, port: int, sig: int) -> None:
    try:
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0, f"launcher exit code {proc.returncode} after {sig!r}"
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "server still listening"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_lab_serves_lessons_picks_a_free_port_and_stops_on_ctrl_c():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        proc, lines, url = start_lab(port)
        assert any(f"Port {port} is busy" in l for l in lines), "the busy port was not reported"
        new_port, token = url.groups()
        assert int(new_port) != port
        with urllib.request.urlopen(f"http://127.0.0.1:{new_port}/api/contents?token={token}") as r:
            names = {item["name"] for item in json.load(r)["content"]}
        assert "00_orientation" in names, names
        assert_stops_with_its_server(proc, int(new_port), signal.SIGINT)
    finally:
        busy.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_lab_stops_its_server_when_started_in_the_background(sig):
    """A non-interactive shell starts `make lab &` with SIGINT ignored; a process manager
    stops it with SIGTERM. Either way the server (in its own session) must go too."""
    proc, _, url = start_lab(free_port(), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert_stops_with_its_server(proc, int(url.group(1)), sig)


INSTRUCTOR_ONLY = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                   "@jupyter/nbgrader:course-list"]


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def with_exchange(tmp_path, exists: bool) -> dict[str, str]:
    """An environment whose nbgrader config names an exchange folder that exists, or not."""
    folder = tmp_path / "exchange"
    if exists:
        folder.mkdir()
    (tmp_path / "nbgrader_config.py").write_text(f"c.Exchange.root = {str(folder)!r}\n")
    return {**os.environ, "JUPYTER_CONFIG_PATH": str(tmp_path)}


@pytest.mark.parametrize("role", ["student", "instructor"])
def test_students_get_validate_and_assignments_instructors_everything(role, tmp_path):
    proc, _, url = start_lab(free_port(), "--role", role, env=with_exchange(tmp_path, True))
    port, token = url.groups()
    base = f"http://127.0.0.1:{port}"
    try:
        with urllib.request.urlopen(f"{base}/lab?token={token}") as r:
            page = r.read().decode()
        disabled = json.loads(re.search(r'"disabledExtensions": (\[[^\]]*\])', page).group(1))
        formgrader = status(f"{base}/formgrader?token={token}")
        validate = status(f"{base}/nbgrader_version?version=0&token={token}")
        assignments = status(f"{base}/assignments?token={token}")
        with urllib.request.urlopen(f"{base}/api/contents?token={token}") as r:
            top = {item["name"] for item in json.load(r)["content"]}
    finally:
        assert_stops_with_its_server(proc, int(port), signal.SIGINT)
    assert validate == 200 and assignments != 404, (
        f"{role}: Validate ({validate}) and the assignment list ({assignments}) must be served")
    if role == "student":
        assert sorted(disabled) == sorted(INSTRUCTOR_ONLY), f"student page disables {disabled}"
        assert formgrader == 404, f"a student's server answers /formgrader with {formgrader}"
        assert "00_orientation" in top, f"a student opens lessons/, seen {sorted(top)}"
    else:
        assert not set(disabled) & set(INSTRUCTOR_ONLY), f"instructor page disables {disabled}"
        assert formgrader == 200, f"an instructor's /formgrader answers {formgrader}"
        assert {"solutions", "lessons"} <= top, f"an instructor reaches solutions/, seen {sorted(top)}"


def test_without_an_exchange_the_assignments_list_is_hidden_and_the_launcher_says_why(tmp_path):
    proc, lines, url = start_lab(free_port(), env=with_exchange(tmp_path, False))
    port, token = url.groups()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}") as r:
            page = r.read().decode()
        assignments = status(f"http://127.0.0.1:{port}/assignments?token={token}")
    finally:
        assert_stops_with_its_server(proc, int(port), signal.SIGINT)
    disabled = json.loads(re.search(r'"disabledExtensions": (\[[^\]]*\])', page).group(1))
    said = "".join(lines)
    assert "@jupyter/nbgrader:assignment-list" in disabled and assignments == 404, (
        f"expected the Assignments list hidden, seen disabled {disabled}, /assignments {assignments}")
    assert "Assignments list is hidden" in said and str(tmp_path / "exchange") in said, said
