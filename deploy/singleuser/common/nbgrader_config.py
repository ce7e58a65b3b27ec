"""nbgrader settings every account shares: the course, where its exchange lives, and how long
a cell may run when a student presses Validate."""
import os

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "nearmiss"
# a folder every account can reach; the hub's environment may move it
c.Exchange.root = os.environ.get("NEARMISS_EXCHANGE", "/srv/nbgrader/exchange")
# nbgrader's own default is 30 s, after which Validate interrupts the cell and still reports
# success (lesson 04's fitting cell can take longer on a busy hub); the course's value, the same
# as in the repository's nbgrader_config.py
c.Execute.timeout = 180
