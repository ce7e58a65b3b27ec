"""nbgrader configuration: run plain ``nbgrader`` commands from the repository root.

Authoring happens in solutions/ (the nbgrader source); ``make lessons`` generates the
student versions in lessons/. Student work, grades and feedback live under autograder/
and are git-ignored.

Autograding (``nbgrader autograde``, and the formgrader's Autograde button) runs every graded
test cell in the grader's own judge process, never in the student's kernel
(``autograder.execute.GuardedExecute``): no submission can change its verdicts or read its
hidden tests. Only ``python -m autograder grade`` run as root also jails the kernels.
"""
import os

from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute

from autograder.execute import GuardedExecute

c = get_config()  # noqa: F821 (provided by nbgrader)

root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = root
c.CourseDirectory.course_id = "nearmiss"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
c.CourseDirectory.submitted_directory = os.path.join("autograder", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("autograder", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("autograder", "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(root, "autograder", "gradebook.db")

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# a solution notebook takes up to a minute; a stuck cell must not hang grading forever
c.ExecutePreprocessor.timeout = 180
# test cells are judged outside the kernel (see above)
c.Autograde.autograde_preprocessors = [
    GuardedExecute if p is Execute else p
    for p in Autograde.class_traits()["autograde_preprocessors"].default()]
