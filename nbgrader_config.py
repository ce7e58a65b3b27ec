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
# Seconds a cell may run when nbgrader executes a notebook. A solution notebook takes up to a
# minute on one core (the budget, course/tooling/bench.py) and a single cell under load several
# times its share: lesson 04's fitting cell took 14 s on one loaded core and 78 s on a busier
# machine. 180 s lets every lesson's cells finish and still stops a stuck cell from hanging
# grading or Validate forever. Validate runs cells with nbgrader's Execute, whose own default is
# 30 s (it interrupts the cell and still reports success), so it is set there too; the hub's
# students read the same value from deploy/singleuser/common/nbgrader_config.py.
c.ExecutePreprocessor.timeout = 180
c.Execute.timeout = 180
# test cells are judged outside the kernel (see above)
c.Autograde.autograde_preprocessors = [
    GuardedExecute if p is Execute else p
    for p in Autograde.class_traits()["autograde_preprocessors"].default()]

# Feedback: `python -m autograder feedback`, plain `nbgrader generate_feedback` and the
# formgrader's Generate Feedback button all write the same pages: scores with the grader's
# comments, written answers not graded yet shown as pending, the late penalty explained; no
# hidden test code, no rubric, no script (autograder/feedback.py). nbgrader's own steps,
# without these lines, write every hidden test verbatim into the students' pages.
c.GenerateFeedback.preprocessors = [
    "autograder.feedback.FeedbackGrades", "autograder.feedback.HideHiddenTests",
    "autograder.feedback.DropRubrics", "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
c.GenerateFeedback.exporter_class = "autograder.feedback.SafeFeedback"

# Late submissions (due dates and extensions: `python -m autograder deadline`): 10% of the
# score per started day late, after 15 minutes' grace; all of it after 7 days
c.AssignLatePenalties.plugin_class = "autograder.deadlines.LatePolicy"
c.LatePolicy.percent_per_day = 10
c.LatePolicy.grace_minutes = 15
c.LatePolicy.zero_after_days = 7
