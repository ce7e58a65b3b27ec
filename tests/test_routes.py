"""Every route to a grade judges test cells outside the kernel (issue 21): the class tool's
workers configure ``GuardedExecute`` themselves; plain ``nbgrader autograde`` and the
formgrader's Autograde button read ``nbgrader_config.py``, which must register it in place of
nbgrader's own Execute (the cheats of every lesson are graded that way: tests/test_cheats.py)."""
from __future__ import annotations

from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from traitlets.config.loader import PyFileConfigLoader

from autograder.execute import GuardedExecute
from conftest import ROOT


def test_the_course_config_autogrades_with_the_judge():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    converter = Autograde(coursedir=CourseDirectory(config=config), config=config)
    classes = list(converter.autograde_preprocessors)
    assert GuardedExecute in classes and Execute not in classes, (
        f"nbgrader_config.py must put GuardedExecute in place of Execute, seen {classes}")
    assert classes.index(GuardedExecute) == [c.__name__ for c in Autograde.class_traits()[
        "autograde_preprocessors"].default()].index("Execute"), "in Execute's place, after the cell restores"
