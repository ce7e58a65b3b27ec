"""A synthetic class for any lesson, with the exact score each student must get.

Normal students: correct, blank, partially wrong. Hostile and broken ones: every case of the
grading issues (runaway loops, crashes, memory hog, output flood, invalid JSON, damaged or fake
grade cells, oversized notebooks, code that writes or reads where it must not, processes that
outlive the kernel, spies on other kernels, litter, and tricks that make tests pass without
a right answer: see ``hostile``). Submissions are built from the release (what students get)
and the solution cells of the source, so they look like real student work.

Expected scores assume what the lessons follow: each test cell checks the nearest exercise
(solution cell) above it.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from . import hostile as attacks
from .course_dir import Course
from .gradebook import _generate
from .hostile import PWNED

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.M)
LITTER_MB = 200  # what the littering student writes to each shared folder

# code put at the top of the last exercise: each one stops or stalls the kernel there
RUNAWAY = {
    "infinite-loop": "while True:\n    pass\n",
    "swallows-interrupt": ("while True:\n    try:\n        while True:\n            pass\n"
                           "    except KeyboardInterrupt:\n        pass\n"),
    "os-exit": "import os\nos._exit(3)\n",
    "segfault": "import ctypes\nctypes.string_at(0)\n",
    "memory-hog": "import numpy as _np\n_hog = [_np.ones(2**25) for _ in range(640)]  # 20 GB\n",
    # 4 GB in a memory file never mapped: not resident memory; only a memory cgroup sees it
    "memfd-hog": "import os\n_fd = os.memfd_create('hog')\nfor _ in range(4 * 1024):\n    os.write(_fd, b'x' * 2**20)\n",
    "output-flood": "while True:\n    print('flood ' * 2000)\n",
}


@dataclass(frozen=True)
class Lesson:
    """The release notebook and what grading it involves."""

    release: nbformat.NotebookNode
    solutions: dict[str, str]  # grade_id -> solution source without markers
    tests: list[tuple[int, str, float, int]]  # (cell index, grade_id, points, exercise index)
    exercises: list[int]  # cell indices of code solution cells

    @property
    def max_score(self) -> float:
        return sum(points for _, _, points, _ in self.tests)

    def points_of(self, exercise: int) -> float:
        return sum(p for _, _, p, ex in self.tests if ex == exercise)


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def load_lesson(course: Course, assignment: str) -> Lesson:
    """Generate the release with nbgrader and index its exercises and tests."""
    with tempfile.TemporaryDirectory(prefix="classgen-") as tmp:
        shutil.copytree(course.source / assignment, Path(tmp) / "source" / assignment)
        _generate(Path(tmp), assignment, course.course_id, f"sqlite:///{tmp}/gb.db")
        release = nbformat.read(str(Path(tmp) / "release" / assignment / f"{assignment}.ipynb"), 4)
    source = nbformat.read(str(course.source / assignment / f"{assignment}.ipynb"), 4)
    solutions = {_meta(c)["grade_id"]: MARKER.sub("", c.source)
                 for c in source.cells if _meta(c).get("solution")}
    exercises, tests = [], []
    for i, cell in enumerate(release.cells):
        meta = _meta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            exercises.append(i)
        elif meta.get("grade") and cell.cell_type == "code":
            tests.append((i, meta["grade_id"], float(meta["points"]), exercises[-1] if exercises else -1))
    return Lesson(release, solutions, tests, exercises)


def _answered(lesson: Lesson) -> nbformat.NotebookNode:
    nb = copy.deepcopy(lesson.release)
    for cell in nb.cells:
        meta = _meta(cell)
        if meta.get("solution"):
            cell.source = (lesson.solutions[meta["grade_id"]] if cell.cell_type == "code" else
                           "The nearest neighbour hurts more: it matches on coarse features only.")
    return nb


def _prepend(nb, index: int, code: str):
    nb.cells[index].source = code + "\n" + nb.cells[index].source
    return nb


def _appended(nb, indices: list[int], code: str):
    for index in indices:
        nb.cells[index].source += "\n" + code
    return nb


def _with_cells(nb, markdown: str = "", code: str = ""):
    """Cells a student adds at the end of the notebook."""
    if markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    if code:
        nb.cells.append(nbformat.v4.new_code_cell(code))
    return nb


def _forged_record(lesson: Lesson):
    """A record in a test cell's metadata, as the grader writes one, signed with another key."""
    nb = _answered(lesson)
    payload = {"assignment": "?", "student": "?", "cell": lesson.tests[0][1],
               "records": {"leaderboard": {"worlds": 3, "guards": {"yours": {"log_loss": 0.0}}}}}
    nb.cells[lesson.tests[0][0]].metadata["autograder"] = {**payload, "mac": "0" * 64}
    return nb


def _wrong(lesson: Lesson, exercises: list[int] | None = None):
    """Exercise 1 (or those given) answered with functions that return None."""
    nb = _answered(lesson)
    for index in exercises or lesson.exercises[:1]:
        cell = nb.cells[index]
        names = re.findall(r"^def (\w+)\(", cell.source, re.M)
        cell.source += "".join(f"\n\ndef {n}(*args, **kwargs):\n    return None\n" for n in names)
    return nb


def _tests_edited(lesson: Lesson, edit: Callable):
    nb = copy.deepcopy(lesson.release)
    for index, *_ in lesson.tests:
        edit(nb.cells[index])
    return nb


def _retype(cell) -> None:
    cell.cell_type = "markdown"
    cell.pop("outputs", None)
    cell.pop("execution_count", None)


def _deleted(lesson: Lesson):
    nb = _answered(lesson)
    first = lesson.tests[0][0]
    nb.cells = nb.cells[:first] + nb.cells[first + 1:]
    return nb


def _duplicated(lesson: Lesson):
    nb = _answered(lesson)
    first = lesson.tests[0][0]
    nb.cells.insert(first + 1, copy.deepcopy(nb.cells[first]))
    return nb


def _attack(targets: list[str], student: str) -> str:
    """Code that tries to write to each target (a file or folder) and swallows the refusal."""
    return ("import glob as _glob\n"
            f"for _t in [_p for _g in {targets!r} for _p in (_glob.glob(_g) or [_g])]:\n"
            "    try:\n"
            "        import os as _os, sqlite3 as _sq\n"
            "        if _t.endswith('.db'):\n"
            "            _c = _sq.connect(_t); _c.execute('UPDATE grade SET auto_score = 99'); _c.commit()\n"
            "        elif _os.path.isdir(_t):\n"
            f"            open(_os.path.join(_t, '{PWNED}-{student}.py'), 'w').write('x = 1')\n"
            "        else:\n"
            "            open(_t, 'a').write('pwned')\n"
            "    except Exception as _e:\n"
            "        print('blocked:', _t, type(_e).__name__)\n")


def _fake_grade_cells(lesson: Lesson):
    """A bonus "test" worth 100 points, a second copy of a test's id, a solution marked graded."""
    nb = _answered(lesson)
    fake = nbformat.v4.new_code_cell("print('bonus')", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "points": 100, "locked": False, "solution": False,
        "schema_version": 3}})
    twin_meta = copy.deepcopy(nb.cells[lesson.tests[0][0]].metadata)
    nb.cells.insert(lesson.exercises[-1] + 1, nbformat.v4.new_code_cell("pass", metadata=twin_meta))
    nb.cells.append(fake)
    nb.cells[lesson.exercises[0]].metadata["nbgrader"].update(grade=True, points=100)
    return nb


def _padded(lesson: Lesson, cells: int = 0, text_mb: float = 0.0):
    nb = _answered(lesson)
    nb.cells += [nbformat.v4.new_markdown_cell(f"note {i}") for i in range(cells)]
    if text_mb:
        nb.cells.append(nbformat.v4.new_markdown_cell("x" * int(text_mb * 2**20)))
    return nb


def read_targets(course: Course, assignment: str, victim: str) -> list[str]:
    """What the reading student looks for: hidden tests, gradebooks, grades, logs."""
    scratch = "/tmp/autograder-*"
    return [str(course.source / assignment / f"{assignment}.ipynb"),
            str(PACKAGE_ROOT / "solutions" / assignment / f"{assignment}.ipynb"),
            f"{scratch}/template/source/*/*.ipynb", f"{scratch}/template/gradebook.db",
            f"{scratch}/jobs/*/gradebook.db", f"{scratch}/jobs/*/source/*/*.ipynb",
            f"{scratch}/jobs/*/autograded/*/*/*.ipynb",
            course.db_url.removeprefix("sqlite:///"), str(course.root / "autograder" / "grades-*.csv"),
            str(course.submitted.parent / "grade-*.log"),
            str(course.submitted / victim / assignment / f"{assignment}.ipynb")]


def attack_targets(course: Course, assignment: str, victim: str) -> dict[str, list[str]]:
    """What each write attack aims at, in the course being graded and in this repository."""
    db = course.db_url.removeprefix("sqlite:///") if course.db_url.startswith("sqlite:///") else None
    other = course.submitted / victim / assignment
    scratch = f"/tmp/autograder-*/jobs/{victim}"  # a worker grading the victim right now
    return {
        "writes-gradebook": [p for p in [db, "../../../gradebook.db"] if p],
        "writes-other-student": [str(other / f"{assignment}.ipynb"), str(other),
                                 str(course.autograded), scratch, f"{scratch}/home",
                                 f"{scratch}/autograded/{victim}/{assignment}"],
        "writes-autograder": [str(course.root / "autograder"), str(PACKAGE_ROOT / "autograder"),
                              str(course.feedback)],
        "writes-course-source": [str(course.source / assignment / f"{assignment}.ipynb"),
                                 str(course.source / assignment), str(PACKAGE_ROOT / "course")],
    }


def build(course: Course, assignment: str, copies: int = 1, hostile: bool = True
          ) -> dict[str, tuple[nbformat.NotebookNode | str, float]]:
    """``{student: (notebook or raw text, expected autograded score)}``."""
    lesson = load_lesson(course, assignment)
    top, last = lesson.max_score, lesson.exercises[-1]
    before_last = top - lesson.points_of(last)
    normal = {"correct": (lambda: _answered(lesson), top),
              "blank": (lambda: copy.deepcopy(lesson.release), 0.0),
              "partial": (lambda: _wrong(lesson), top - lesson.points_of(lesson.exercises[0]))}
    students = {f"n{k:02d}-{name}": (make(), score) for k in range(1, copies + 1)
                for name, (make, score) in normal.items()}
    if not hostile:
        return students
    victim = "n01-correct"
    for name, code in RUNAWAY.items():
        students[f"h-{name}"] = (_prepend(_answered(lesson), last, code), before_last)
    students["h-invalid-json"] = (nbformat.writes(_answered(lesson))[:-40], 0.0)
    students["h-deleted-grade-cell"] = (_deleted(lesson), top)
    students["h-duplicated-grade-cell"] = (_duplicated(lesson), top)
    students["h-changed-cell-type"] = (_tests_edited(lesson, _retype), 0.0)
    students["h-edited-test-cell"] = (_tests_edited(lesson, lambda c: setattr(c, "source", "pass")), 0.0)
    for name, targets in attack_targets(course, assignment, victim).items():
        student = f"h-{name}"
        nb = _prepend(_answered(lesson), lesson.exercises[0], _attack(targets, student))
        students[student] = (nb, top)
    first = lesson.exercises[0]
    for name, code in {"survivor": attacks.survivor("h-survivor"),
                       "reads-secrets": attacks.reader(read_targets(course, assignment, victim)),
                       "plants-links": attacks.planter("h-plants-links", assignment),
                       "litters": attacks.litter("h-litters", LITTER_MB)}.items():
        students[f"h-{name}"] = (_prepend(_answered(lesson), first, code), top)
    spy = _prepend(_answered(lesson), first, attacks.SPY_START)
    students["h-spy"] = (_prepend(spy, lesson.exercises[-1], attacks.SPY_REPORT), top)
    for name, code in attacks.TAMPER.items():  # wrong answers that the trick would make pass
        students[f"h-tamper-{name}"] = (_prepend(_wrong(lesson, lesson.exercises), first, code), 0.0)
    functions = [n for i in lesson.exercises for n in re.findall(r"^def (\w+)\(", lesson.release.cells[i].source, re.M)]
    for name, code in attacks.verdict_attacks(functions).items():  # wrong answers, and a trick
        students[f"h-verdict-{name}"] = (_appended(_wrong(lesson, lesson.exercises), lesson.exercises, code), 0.0)
    students["h-prints-history"] = (_with_cells(_answered(lesson), code=attacks.PRINTS_HISTORY), top)
    students["h-fills-ipc"] = (_prepend(_answered(lesson), first, attacks.FILLS_IPC), top)
    students["h-forged-record"] = (_forged_record(lesson), top)
    students["h-script"] = (_with_cells(_answered(lesson), markdown=attacks.SCRIPT_MARKDOWN,
                                        code=attacks.SCRIPT_OUTPUT), top)
    students["h-fake-grade-cells"] = (_fake_grade_cells(lesson), top)
    students["h-many-cells"] = (_padded(lesson, cells=20_000), 0.0)
    students["h-huge"] = (_padded(lesson, text_mb=25), 0.0)
    return students


def write_class(course: Course, assignment: str, out: Path, copies: int = 1,
                hostile: bool = True) -> dict[str, float]:
    """Write ``out/<student>/<assignment>/<assignment>.ipynb`` and ``out/expected.json``."""
    expected = {}
    for student, (nb, score) in build(course, assignment, copies, hostile).items():
        dest = out / student / assignment
        dest.mkdir(parents=True, exist_ok=True)
        text = nb if isinstance(nb, str) else nbformat.writes(nb)
        (dest / f"{assignment}.ipynb").write_text(text)
        expected[student] = score
    (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True))
    return expected
