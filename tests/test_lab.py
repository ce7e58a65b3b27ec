"""`make lab` serves JupyterLab on 127.0.0.1 with lessons/ visible, and stops on Ctrl-C."""
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from conftest import ROOT


def test_lab_serves_lessons_picks_a_free_port_and_stops_on_ctrl_c():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "course.lab", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines, url = [], None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"launcher exited early: {''.join(lines)}"
            lines.append(line)
            match = re.search(r"http://127\.0\.0\.1:(\d+)/lab\?token=(\w+)", line)
            if match:
                url = match
        assert url, "no URL with a token was printed"
        assert any(f"Port {port} is busy" in l for l in lines), "the busy port was not reported"
        new_port, token = url.groups()
        assert int(new_port) != port
        with urllib.request.urlopen(f"http://127.0.0.1:{new_port}/api/contents?token={token}") as r:
            names = {item["name"] for item in json.load(r)["content"]}
        assert "00_orientation" in names, names
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", int(new_port))) != 0, "server still listening"
    finally:
        busy.close()
        if proc.poll() is None:
            proc.kill()
