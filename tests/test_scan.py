"""The static scan behind the review column (autograder/scan.py): obfuscated ways to reach the
interpreter's internals are flagged (issue 21 found twelve the scan missed), honest answers to
every lesson are not. A flag is a reason for a person to look; verdicts never depend on it."""
from __future__ import annotations

import pytest

from autograder import scan
from conftest import READY, cells, nbgrader_meta
from course import lessons

OBFUSCATED = {
    "builtins by getattr": "getattr(__builtins__, '__imp' + 'ort__')('ctyp' + 'es')",
    "exec of base64": "import base64\nrun = exec\nrun(base64.b64decode(b'cHJpbnQoMSk='))",
    "compile via vars": "vars(__builtins__)['comp' + 'ile']('1', 'x', 'eval')",
    "sys.modules through an alias": "import sys as s\ng = s.modules['g' + 'c']",
    "frames via traceback": "import traceback\nframes = list(traceback.walk_stack(None))",
    "object.__setattr__ on a module": "import course.checks as c\nobject.__setattr__(c, 'x', 1)",
    "posix_spawnp": "import os as o\no.posix_spawnp('sh', ['sh'], {})",
    "a computed getattr": "import sys as s\nf = getattr(s, '_get' + 'frame')(1)",
    "attrgetter of code": "from operator import attrgetter as a\ncode = a('__co' + 'de__')(len)",
    "a module's class swapped": "import types as t, sys as s\nt.ModuleType.__setattr__(s.modules['course'], '__class__', t.ModuleType)",
    "subclasses walk": "base = ().__class__.__base__\nkids = [k for k in base.__subclasses__()]",
    "builtins dict": "import builtins as b\nb.__dict__['ev' + 'al']('1')",
}


@pytest.mark.parametrize("form", OBFUSCATED)
def test_each_obfuscated_form_is_flagged(form):
    findings = scan.scan([(3, OBFUSCATED[form])])
    assert findings, f"{form!r} is not flagged: {OBFUSCATED[form]!r}"


@pytest.mark.parametrize("lesson_id", READY)
def test_honest_answers_are_not_flagged(lesson_id):
    answers = [(i, c.source) for i, c in enumerate(cells(lessons.solution_path(lesson_id)))
               if c.cell_type == "code" and nbgrader_meta(c).get("solution")]
    assert scan.scan(answers) == [], "a lesson's own solutions must flag nothing"
