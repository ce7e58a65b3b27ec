"""`make bench` runs each notebook on one thread and with the automatic thread setting."""
import os

import nbformat

from course import threads
from course.tooling import bench


def test_each_mode_reports_wall_cpu_memory_and_cores(tmp_path):
    path = tmp_path / "tiny" / "tiny.ipynb"
    path.parent.mkdir()
    code = ("import os, course, torch\n"
            "assert torch.get_num_threads() == int(os.environ['OMP_NUM_THREADS'])")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), str(path))
    rows = [bench.run_notebook(path, mode) for mode in bench.MODES]
    for row in rows:
        assert row["ok"], row.get("error")
        assert row["cpu_s"] > 0 and row["peak_mb"] > 0 and row["wall_s"] > 0, row
    assert [r["cores"] for r in rows] == [1, min(2, len(os.sched_getaffinity(0)))]
    assert rows[0]["threads"] == 1 and 1 <= rows[1]["threads"] <= rows[1]["cores"], rows
    text = bench.table(rows)
    assert "load average" in text and text.count("tiny") == 2 and "CPU (s)" in text


def test_automatic_env_leaves_the_choice_to_the_child(monkeypatch):
    monkeypatch.setattr(threads, "SET", {"OMP_NUM_THREADS": "2"})
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MKL_NUM_THREADS", "5")  # the user's own setting stays
    env = bench.automatic_env()
    assert "OMP_NUM_THREADS" not in env and env["MKL_NUM_THREADS"] == "5"
    assert bench.one_thread_env()["OMP_NUM_THREADS"] == "1"
