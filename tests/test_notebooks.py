"""Every lesson as a notebook: solutions run, releases fail only their tests, nothing leaks,
lessons/ is exactly what nbgrader makes of solutions/, and autograding scores both ends."""
from __future__ import annotations

import ast
import builtins
import re

import pytest

from conftest import READY, ROOT, cells, is_test_cell, nbgrader_meta
from course import lessons

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def errored(cell) -> bool:
    return any(out.get("output_type") == "error" for out in cell.get("outputs", []))


def test_at_least_one_lesson_is_ready():
    assert "00_orientation" in READY


@pytest.mark.parametrize("lesson_id", READY)
def test_solution_runs_top_to_bottom(lesson_id, one_kernel):
    row = one_kernel[lesson_id]
    assert row["ok"], (f"{lesson_id} stops at a cell: {row['error'].get('ename')}: "
                       f"{row['error'].get('evalue')}\nin: {row['error'].get('cell')!r}")


@pytest.mark.parametrize("lesson_id", READY)
def test_release_fails_every_test_cell_and_nothing_else(lesson_id, notebooks):
    """The untouched release as nbgrader autograded it (one execution, shared with the round trip)."""
    nb = notebooks.graded(lesson_id).notebooks["untouched"]
    tests = [c for c in nb.cells if is_test_cell(c)]
    assert tests, "a lesson must have autograded test cells"
    passing = [nbgrader_meta(c)["grade_id"] for c in tests if not errored(c)]
    assert not passing, f"test cells that pass on the untouched release: {passing}"
    broken = [c.source[:80] for c in nb.cells if errored(c) and not is_test_cell(c)]
    assert not broken, f"cells other than tests fail on the release: {broken}"
    for c in tests:
        error = next(o for o in c.outputs if o.output_type == "error")
        assert error.ename == "NotImplementedError", (
            f"{nbgrader_meta(c)['grade_id']} fails with {error.ename}, expected the stub's "
            f"NotImplementedError: {error.evalue}")


@pytest.mark.parametrize("lesson_id", READY)
def test_lessons_are_exactly_what_nbgrader_generates(lesson_id, generated_course):
    fresh_dir = generated_course.lesson(lesson_id)
    made = sorted(p.relative_to(fresh_dir) for p in fresh_dir.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(ROOT / "lessons" / lesson_id)
                       for p in (ROOT / "lessons" / lesson_id).rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts)
    assert made == committed, "lessons/ has other files than nbgrader makes: run `make lessons`"
    for rel in made:
        fresh = (fresh_dir / rel).read_bytes()
        assert fresh == (ROOT / "lessons" / lesson_id / rel).read_bytes(), (
            f"lessons/{lesson_id}/{rel} differs from what solutions/ generates: run `make lessons`")


@pytest.mark.parametrize("lesson_id", READY)
def test_nothing_secret_reaches_the_lesson(lesson_id):
    text = "\n".join(c.source for c in cells(lessons.lesson_path(lesson_id)))
    for marker in MARKERS:
        assert marker not in text, f"lessons/{lesson_id} contains '{marker}'"
    for c in cells(lessons.solution_path(lesson_id)):
        blocks = re.findall(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", c.source, re.S)
        for _, block in blocks:
            for line in block.splitlines():
                s = line.strip()
                if len(s) > 25 and not s.startswith("#"):
                    assert s not in text, f"solution or hidden-test line leaked: {s!r}"
        if nbgrader_meta(c).get("solution") and c.cell_type == "markdown":
            assert c.source.strip() not in text, "a written answer's rubric leaked"


@pytest.mark.parametrize("lesson_id", READY)
def test_lesson_structure(lesson_id):
    """The rules of ../shared/tools/course_check.py, enforced by the project itself."""
    src = cells(lessons.solution_path(lesson_id))
    assert not any(c.get("outputs") for c in src if c.cell_type == "code"), "clear stored outputs"
    tests = [c for c in src if is_test_cell(c)]
    answers = [c for c in src if nbgrader_meta(c).get("solution") and c.cell_type == "code"]
    written = [c for c in src if nbgrader_meta(c).get("solution") and c.cell_type == "markdown"]
    assert tests and answers and written, "needs autograded answers, tests and a written answer"
    assert all(nbgrader_meta(c).get("points", 0) > 0 for c in tests + written), "points on every graded cell"
    assert any("BEGIN HIDDEN TESTS" in c.source for c in tests), "needs hidden tests"
    for c in tests:
        for node in ast.walk(ast.parse(c.source)):
            assert not (isinstance(node, ast.Assert) and node.msg is None), (
                f"[{nbgrader_meta(c)['grade_id']}] assertion without a message at line {node.lineno}")


@pytest.mark.parametrize("lesson_id", READY)
def test_every_written_answer_has_a_visible_prompt(lesson_id):
    """A manually graded cell reaches the student as a stub ("YOUR ANSWER HERE"), so its
    question must stand in a locked markdown cell right above it in the release, with the
    points it is worth; a prompt written inside the answer cell is stripped on release."""
    released = cells(lessons.lesson_path(lesson_id))
    manual = [i for i, c in enumerate(released)
              if nbgrader_meta(c).get("grade") and nbgrader_meta(c).get("solution")]
    assert manual, f"{lesson_id} has no manually graded answer"
    for i in manual:
        answer, prompt = released[i], released[i - 1] if i else None
        grade_id, points = nbgrader_meta(answer)["grade_id"], nbgrader_meta(answer)["points"]
        where = f"lessons/{lesson_id}: the cell above the written answer {grade_id!r}"
        assert prompt is not None and prompt.cell_type == "markdown", f"{where} is not markdown"
        meta = nbgrader_meta(prompt)
        assert meta.get("locked") and not meta.get("solution") and not meta.get("grade"), (
            f"{where} must be a locked, ungraded markdown cell (the prompt), not {meta}")
        assert re.search(rf"Written (answer|report)\b.*\({points:g} points?\)", prompt.source, re.S), (
            f"{where} does not ask the question: it must say 'Written answer ({points:g} "
            f"points)' and the question (seen: {prompt.source[-200:]!r})")


@pytest.mark.parametrize("lesson_id", READY)
def test_autograde_round_trip(lesson_id, notebooks):
    scores = notebooks.graded(lesson_id).scores
    full, top = scores["solution"]
    assert top > 0 and full == top, f"the solution scored {full} of {top} autograded points"
    assert scores["untouched"][0] == 0, f"the untouched release scored {scores['untouched'][0]}"


VALIDATE_TIMEOUT = """
import os, sys
from jupyter_core.paths import jupyter_config_path
from nbgrader.apps import NbGrader
from nbgrader.preprocessors import Execute
from nbgrader.validator import Validator
paths = jupyter_config_path()
paths.insert(0, os.getcwd())
app = NbGrader()                       # as nbgrader's Validate button loads its configuration
app.config_file_paths.append(paths)
app.load_config_file()
print(Execute(parent=Validator(config=app.config)).timeout)
"""


@pytest.mark.parametrize("where", ["make lab", "hub student"])
def test_validate_gives_a_cell_the_lessons_budget(where, tmp_path):
    """nbgrader's default of 30 s per cell interrupts lesson 04's fitting cell under load, and
    Validate still says "Success!": wherever students validate, a cell gets three times the
    budget of a whole notebook (the same as grading)."""
    import os
    import subprocess
    import sys

    from course.tooling.bench import BUDGET_SECONDS
    from course.tooling.lab import ROLES

    folders = {"make lab": ROLES["student"],
               "hub student": [ROOT / "deploy" / "singleuser" / d for d in ("student", "common")]
                              + [ROOT / "jupyter"]}[where]
    cwd = ROOT if where == "make lab" else tmp_path        # the hub's server starts in the home
    env = {**os.environ, "JUPYTER_CONFIG_PATH": os.pathsep.join(map(str, folders)),
           "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", VALIDATE_TIMEOUT], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) >= 3 * BUDGET_SECONDS, (
        f"{where}: Validate gives a cell {proc.stdout.split()[-1]} s; a lesson may take "
        f"{BUDGET_SECONDS:.0f} s on one core, and several times that under load")


def _bound_and_free(source: str) -> tuple[set[str], set[str]]:
    """Names a cell binds anywhere, and names it reads without binding them (builtins aside)."""
    bound, loaded = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else loaded).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound, loaded - bound - set(dir(builtins))


def _declared(source: str) -> dict[str, str]:
    """``name = student_function("function")`` statements at the top level: name -> function."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and getattr(node.value.func, "id", None) == "student_function":
            [target], [arg] = node.targets, node.value.args
            out[target.id] = arg.value
    return out


@pytest.mark.parametrize("lesson_id", READY)
def test_test_cells_are_written_to_be_judged_outside_the_kernel(lesson_id):
    """Under grading a test cell runs in the grader's judge, not in the kernel (course.checks):
    it imports everything it uses, reaches the student's code only through names declared with
    student_function("<a function of an answer cell>"), and no later cell uses what it makes."""
    src = cells(lessons.solution_path(lesson_id))
    answers = set()
    for c in src:
        if c.cell_type == "code" and nbgrader_meta(c).get("solution"):
            answers |= {n.name for n in ast.parse(c.source).body if isinstance(n, ast.FunctionDef)}
    made_by_tests: set[str] = set()
    made_elsewhere: set[str] = set()
    for c in src:
        if c.cell_type != "code":
            continue
        test = nbgrader_meta(c).get("grade_id", "")
        bound, free = _bound_and_free(c.source)
        if is_test_cell(c):
            assert not re.search(r"^\s*[%!]", c.source, re.M), f"[{test}] magics and shell lines cannot be judged"
            assert not free, (f"[{test}] uses {sorted(free)} without binding them: import them in the "
                              "cell, or declare a student's function with student_function(\"name\")")
            declared = _declared(c.source)
            calls = c.source.count("student_function(")
            assert calls == len(declared) and declared, (
                f"[{test}] student_function(...) must appear only as `name = student_function(\"name\")` "
                "at the top of the cell, at least once")
            unknown = set(declared.values()) - answers
            assert not unknown, f"[{test}] declares {sorted(unknown)}, which no answer cell defines"
            names = {n.id for n in ast.walk(ast.parse(c.source)) if isinstance(n, ast.Name)}
            assert not {"get_ipython", "In", "Out", "globals", "vars", "locals"} & names, (
                f"[{test}] reaches for the notebook's namespace or history")
            made_by_tests |= bound
        else:
            leaked = (free & made_by_tests) - made_elsewhere
            assert not leaked, (f"a cell after a test uses {sorted(leaked)}, which only a test cell "
                                "makes; under grading test cells run outside the kernel")
            made_elsewhere |= bound
