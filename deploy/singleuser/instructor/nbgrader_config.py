"""The instructor's course: a private copy of this repository in the instructor's home
(~/nearmiss-course unless NEARMISS_COURSE_DIR says otherwise). Its own nbgrader_config.py maps
nbgrader's folders onto it, so the formgrader, release, collect and feedback act on it."""
import os

c = get_config()  # noqa: F821 (provided by nbgrader)

course = os.path.expanduser(os.environ.get("NEARMISS_COURSE_DIR", "~/nearmiss-course"))
if os.path.isfile(os.path.join(course, "nbgrader_config.py")):
    load_subconfig(os.path.join(course, "nbgrader_config.py"))  # noqa: F821
