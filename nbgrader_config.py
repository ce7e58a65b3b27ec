"""nbgrader configuration: run plain ``nbgrader`` commands from the repository root.

Authoring happens in solutions/ (the nbgrader source); ``make lessons`` generates the
student versions in lessons/. Student work, grades and feedback live under autograder/
and are git-ignored.
"""
import os

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
