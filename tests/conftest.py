"""Shared fixtures: the repository root, the ready lessons, scratch courses, and each lesson's
notebooks executed at most once per test session.

How the suite stays fast as lessons are added (see tests/README.md):

* Every test that belongs to one lesson says so, by a ``lesson_id`` parameter or by
  ``@pytest.mark.lesson("<id>")``. It is put in that lesson's xdist group, so with
  ``pytest -n 2 --dist loadgroup`` (``make test``) all of a lesson's tests run on one worker,
  where the session fixtures below execute each of its notebooks once and share the result.
  Tests of the one-kernel run (every lesson in one kernel) form a group of their own.
* A test that executes notebooks, starts servers or trains models is marked ``slow``: by
  using one of the fixtures in ``SLOW_FIXTURES``, or explicitly. ``make check`` runs the rest.
* Kernels and the test processes run on one thread each (NumPy, BLAS, torch), as ``make
  bench`` and Binder do, so two workers on two cores do not oversubscribe them.
"""
from __future__ import annotations

import functools
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course import lessons  # noqa: E402
from course.tooling.bench import one_thread_env  # noqa: E402

READY = [lesson.id for lesson in lessons.SYLLABUS if lesson.status == "ready"]
BIN = Path(sys.executable).parent
# kernels inherit this process's environment: one thread each, non-interactive figures;
# nbgrader runs its helper tools (alembic) by name
os.environ.update({k: v for k, v in one_thread_env().items()
                   if k.endswith("_THREADS") or k == "MPLBACKEND"})
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
# the class's grading secret (autograder.secret): one per test process, never the user's own
_SECRET = Path(tempfile.mkdtemp(prefix="course-test-secret-")) / "grading-secret"
_SECRET.write_text(secrets.token_hex(32))
os.environ["COURSE_GRADING_SECRET"] = str(_SECRET)

#: fixtures that execute notebooks or start servers; a test that uses one is slow
SLOW_FIXTURES = {"notebooks", "one_kernel", "lab", "browser", "playwright", "reproduced"}


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "slow: executes notebooks, trains models or starts servers")
    config.addinivalue_line("markers", "lesson(id): the test belongs to one lesson (its xdist group)")


def lesson_of(item) -> str | None:
    marker = item.get_closest_marker("lesson")
    if marker:
        return marker.args[0]
    params = getattr(item, "callspec", None)
    return params.params.get("lesson_id") if params else None


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        lesson_id = lesson_of(item)
        if "one_kernel" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("one-kernel"))
        elif lesson_id:
            item.add_marker(pytest.mark.xdist_group(lesson_id))
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session) -> None:
    """Fail loudly if pytest-xdist ignored the groups (a lesson's notebooks would then run on
    both workers, once each, and the suite would silently take twice as long)."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    lost = [i.nodeid for i in session.items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
    if lost:
        raise pytest.UsageError(f"pytest-xdist did not group {len(lost)} tests (e.g. {lost[0]}): "
                                "this pytest and pytest-xdist do not work together; see pyproject.toml")


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


def cells(path: Path):
    return nbformat.read(str(path), as_version=4).cells


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def once(cache: dict, key: str, make):
    """``cache[key]``, made on first use; a failure is kept too, so the tests that share an
    expensive step fail at once with its message instead of each repeating it."""
    if key not in cache:
        try:
            cache[key] = make()
        except BaseException as err:  # noqa: BLE001 - pytest.fail raises a BaseException
            cache[key] = err
    if isinstance(cache[key], BaseException):
        raise cache[key]
    return cache[key]


@dataclass
class Graded:
    """One lesson autograded by nbgrader: each student's scores and graded notebook."""

    scores: dict[str, tuple[float, float]]                  # student -> (code score, max)
    cell_scores: dict[str, dict[str, tuple[float, float]]]  # student -> test cell -> (score, max)
    notebooks: dict[str, nbformat.NotebookNode]             # student -> graded notebook, with outputs


class GeneratedCourse:
    """A scratch course in which nbgrader generates each lesson from solutions/ when asked."""

    def __init__(self, path: Path):
        self.path = make_course_copy(path)
        self._done: set[str] = set()

    def lesson(self, lesson_id: str) -> Path:
        """``lessons/<id>/`` as nbgrader generates it (once per session)."""
        if lesson_id not in self._done:
            result = self._api().generate_assignment(lesson_id, force=True)
            if not result["success"]:
                pytest.fail(f"nbgrader generate_assignment {lesson_id} failed:\n{result['log']}")
            self._done.add(lesson_id)
        return self.path / "lessons" / lesson_id

    @functools.cache
    def _api(self):
        """nbgrader's Python API on this course: one import of nbgrader for every lesson,
        where ``nbgrader generate_assignment`` would start a process (~5 s of CPU) for each."""
        from nbgrader.apps import NbGraderAPI
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.path)).load_config()
        return NbGraderAPI(config=config)


class Notebooks:
    """Each lesson autograded once per session (per xdist worker), in one ``nbgrader autograde``.

    ``graded(id)`` grades, in the generated course: the solution (``solution``), the untouched
    release (``untouched``), and the wrong submissions of ``tests/cheats.py`` with an honest
    one beside them (``cheat-<name>``, ``cheat-honest``). Its solution notebook, executed as
    nbgrader executes it, also serves the claims of ``tests/claims.py``.
    """

    def __init__(self, course: GeneratedCourse):
        self.course = course
        self._graded: dict[str, Graded] = {}

    def graded(self, lesson_id: str) -> Graded:
        return once(self._graded, lesson_id, lambda: self._autograde(lesson_id))

    def _submissions(self, lesson_id: str) -> dict[str, nbformat.NotebookNode]:
        import cheats

        release = self.course.lesson(lesson_id) / f"{lesson_id}.ipynb"
        solution = nbformat.read(str(lessons.solution_path(lesson_id)), as_version=4)
        wrong = {"honest": {}, **cheats.WRONG.get(lesson_id, {})}
        return {"solution": solution, "untouched": nbformat.read(str(release), as_version=4),
                **{f"cheat-{name}": cheats.submission(solution, replaced)
                   for name, replaced in wrong.items()}}

    def _autograde(self, lesson_id: str) -> Graded:
        from nbgrader.api import Gradebook

        course = self.course.path
        submissions = self._submissions(lesson_id)
        for student, nb in submissions.items():
            dest = course / "autograder" / "submitted" / student / lesson_id
            dest.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(dest / f"{lesson_id}.ipynb"))
        nbgrader("autograde", lesson_id, "--force", cwd=course)
        scores, cells = {}, {}
        with Gradebook(f"sqlite:///{course / 'autograder' / 'gradebook.db'}") as gb:
            for student in submissions:
                nb = gb.find_submission_notebook(lesson_id, lesson_id, student)
                scores[student] = (nb.code_score, nb.max_code_score)
                cells[student] = {g.name: (g.score, g.max_score) for g in nb.grades
                                  if g.cell.cell_type == "code"}
        graded = {s: nbformat.read(str(course / "autograder" / "autograded" / s / lesson_id
                                       / f"{lesson_id}.ipynb"), as_version=4)
                  for s in ("solution", "untouched")}
        return Graded(scores, cells, graded)


@pytest.fixture(scope="session")
def generated_course(tmp_path_factory) -> GeneratedCourse:
    return GeneratedCourse(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="session")
def notebooks(generated_course) -> Notebooks:
    return Notebooks(generated_course)


@pytest.fixture(scope="session")
def playwright():
    """One Playwright per test process, shared by the browser and hub tests: between calls its
    sync API marks an asyncio loop as running in the main thread, so a second
    ``sync_playwright()`` in the same process refuses to start."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def one_kernel(request) -> dict[str, dict]:
    """Every ready lesson's solution notebook top to bottom in one never-restarted kernel, on
    one CPU and one thread, with the real data where the mirror is set: a Binder student's
    session. One row per lesson (``course.tooling.binder.run_in_one_kernel``); it serves
    "the solution runs top to bottom", Binder's memory limit, and the website, built from each
    row's executed ``notebook`` (tests/test_book.py). Lessons without data and without
    internet are run by the browser test, whose server is offline."""
    from course.tooling import binder

    # every lesson when a test needs the whole sequence; else only the lessons selected
    wanted = {lesson_of(item) for item in request.session.items
              if "one_kernel" in getattr(item, "fixturenames", ())}
    ids = READY if None in wanted else [i for i in READY if i in wanted]
    rows = binder.run_in_one_kernel(ids, offline=False, one_cpu=True, log=lambda _: None,
                                    keep_outputs=True)
    return {row["lesson"]: row for row in rows}


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory):
    """``reproduced(id)``: ``python -m course reproduce <id> --json``, run once per session."""
    import json

    from course.tooling.binder import offline_env

    cache: dict[str, dict] = {}

    def make(lesson_id: str) -> dict:
        # without the mirror, stay offline: a lesson's real-data part then says it skipped
        env = None if os.environ.get("COURSE_DATA_MIRROR") else offline_env(
            dict(os.environ), tmp_path_factory.mktemp("no-data"))
        proc = subprocess.run([sys.executable, "-m", "course", "reproduce", lesson_id, "--json"],
                              cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
        assert proc.returncode == 0, f"reproduce {lesson_id} failed:\n{proc.stderr[-3000:]}"
        return json.loads(proc.stdout)

    def run(lesson_id: str) -> dict:
        return once(cache, lesson_id, lambda: make(lesson_id))

    return run
