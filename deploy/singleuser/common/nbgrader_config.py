"""nbgrader settings every account shares: the course and where its exchange lives."""
import os

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "nearmiss"
# a folder every account can reach; the hub's environment may move it
c.Exchange.root = os.environ.get("NEARMISS_EXCHANGE", "/srv/nbgrader/exchange")
