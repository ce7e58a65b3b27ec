"""Shared fixtures: the repository root, the ready lessons, and a scratch copy of the course."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course import lessons  # noqa: E402

READY = [lesson.id for lesson in lessons.SYLLABUS if lesson.status == "ready"]
BIN = Path(sys.executable).parent


def nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run an nbgrader command in ``cwd``; fail the test with its output on error."""
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT),
                               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    if proc.returncode != 0:
        pytest.fail(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_course_copy(dest: Path) -> Path:
    """A scratch course: config, solutions/ and an empty autograder/ (no gradebook)."""
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions", dest / "solutions")
    (dest / "autograder").mkdir()
    return dest


@pytest.fixture(scope="session")
def generated_course(tmp_path_factory) -> Path:
    """A scratch course whose lessons/ were generated from solutions/ by nbgrader."""
    dest = make_course_copy(tmp_path_factory.mktemp("course"))
    for lesson_id in READY:
        nbgrader("generate_assignment", lesson_id, "--force", cwd=dest)
    return dest


def cells(path: Path):
    return nbformat.read(str(path), as_version=4).cells


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})
