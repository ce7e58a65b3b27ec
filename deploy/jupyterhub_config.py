"""JupyterHub settings for the course: the part `make hub` and tests/test_hub.py run.

Every account gets its own single-user JupyterLab server, started as that account, opening on
/lab. What an account sees depends on its role, chosen by JupyterHub group:

* members of ``nearmiss-instructors``: all of nbgrader (formgrader, create assignment, course
  list, Assignments, Validate), acting on the course copy in their home (singleuser/instructor);
* everyone else, students: the Assignments tab and Validate only (singleuser/student).

Both share singleuser/common (course id ``nearmiss``, the exchange folder) and the course's
Jupyter settings in ../jupyter (no news pop-up). Environment read here:

* ``NEARMISS_EXCHANGE``: nbgrader's exchange, a folder every account can reach (default
  /srv/nbgrader/exchange; mode 1777, see deploy/README.md);
* ``NEARMISS_SINGLEUSER_PATH``: PATH of the single-user servers, i.e. the environment the course
  is installed in (default: the hub's own PATH).

Authentication and the spawner are left to whoever loads this file (``load_subconfig``), with
the machine-specific rest (address, ports, accounts, groups): course/tooling/hub.py keeps
JupyterHub's defaults, PAM log-in for local accounts and a local process per account.
"""
import os
from pathlib import Path

c = get_config()  # noqa: F821 (provided by JupyterHub)

HERE = Path(__file__).resolve().parent
INSTRUCTORS = "nearmiss-instructors"
# one BLAS/torch thread per kernel, as the lessons' budgets and Binder assume
THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
           "TORCH_NUM_THREADS")

c.Spawner.default_url = "/lab"
# a single-user server imports JupyterLab and nbgrader: slow on a busy machine
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
# added to what the hub's own configuration sets (TLJH, Z2JH), not replacing it
c.Spawner.environment.update({
    "NEARMISS_EXCHANGE": os.environ.get("NEARMISS_EXCHANGE", "/srv/nbgrader/exchange"),
    **{var: "1" for var in THREADS},
    **({"PATH": os.environ["NEARMISS_SINGLEUSER_PATH"]} if "NEARMISS_SINGLEUSER_PATH" in os.environ else {}),
})


def role(spawner) -> str:
    return "instructor" if any(g.name == INSTRUCTORS for g in spawner.user.groups) else "student"


def pre_spawn_hook(spawner) -> None:
    """The role's Jupyter settings first, then the shared ones, then the course's."""
    folders = [HERE / "singleuser" / role(spawner), HERE / "singleuser" / "common",
               HERE.parent / "jupyter"]
    spawner.environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join(map(str, folders))


c.Spawner.pre_spawn_hook = pre_spawn_hook
