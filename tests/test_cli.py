import json
import subprocess
import sys

from conftest import ROOT


def run(*args):
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_list_shows_every_lesson_with_status():
    out = run("list").stdout
    assert "00_orientation" in out and "ready" in out and "07_capstone" in out


def test_reproduce_orientation_prints_valid_json():
    proc = run("reproduce", "00_orientation", "--json", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["seed"] == 3 and result["users"] == len(result["table"]) * 30
    assert 0.0 <= result["same_community_rate"] <= 1.0


def test_reproduce_prints_a_table_by_default():
    out = run("reproduce", "00_orientation").stdout
    assert "same_community_rate" in out and "{" not in out


def test_unknown_lesson_is_one_line_and_lists_known_ids():
    proc = run("reproduce", "99_nope")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert "unknown lesson id '99_nope'" in proc.stderr and "00_orientation" in proc.stderr


def test_setup_names_the_failing_step_when_python_is_missing():
    proc = subprocess.run(["bash", str(ROOT / "tools" / "setup.sh")], cwd=ROOT, text=True,
                          capture_output=True, env={"PATH": "/usr/bin:/bin", "PYTHON": "no-such-python"})
    assert proc.returncode == 1
    assert "set-up step 'find Python' failed" in proc.stderr and "Traceback" not in proc.stderr
