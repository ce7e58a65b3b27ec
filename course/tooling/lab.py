"""``make lab``: serve JupyterLab on lessons/ at 127.0.0.1, print the URL, stop on Ctrl-C.

JupyterLab runs in its own session so that Ctrl-C reaches only this launcher, which then
shuts the server down cleanly instead of leaving it asking "Shutdown this Jupyter server?".

Two roles, set the way nbgrader documents it (its lab and server extensions enabled or
disabled by Jupyter config): a **student** (the default) sees nbgrader's Validate button and
its Assignments list only, in ``lessons/``; an **instructor** (``--role instructor``, ``make
lab-instructor``) also gets Create Assignment, Formgrader and the course list, in the
repository's root (``solutions/`` and ``lessons/`` both).

The Assignments list shows what an instructor released through nbgrader's exchange (a folder,
``Exchange.root`` in nbgrader's config, ``/srv/nbgrader/exchange`` by default). Without that
folder, as on a laptop, the list could only say "The exchange directory does not exist": it is
hidden then (``jupyter/no-exchange``), and the launcher says why.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from ..lessons import ROOT

__all__ = ["free_port", "lab_command", "lab_env", "exchange_root", "main", "CONFIG_DIR", "ROLES"]

DEFAULT_PORT = 8888
# Jupyter config the course carries (no news pop-up, no update check); Binder's postBuild
# copies the same folder into the environment
CONFIG_DIR = ROOT / "jupyter"
#: role -> config folders put first on JUPYTER_CONFIG_PATH; jupyter/student disables
#: nbgrader's instructor extensions (``jupyter labextension disable`` and
#: ``jupyter server extension disable`` write the same files)
ROLES = {"student": (CONFIG_DIR, CONFIG_DIR / "student"), "instructor": (CONFIG_DIR,)}
#: the folder each role opens
FOLDERS = {"student": ROOT / "lessons", "instructor": ROOT}
#: hides nbgrader's Assignments list (its lab and server extensions) where no exchange exists
NO_EXCHANGE = CONFIG_DIR / "no-exchange"
DEFAULT_EXCHANGE = "/srv/nbgrader/exchange"  # nbgrader's own default for Exchange.root


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_command(port: int, token: str, root_dir: str) -> list[str]:
    """The ``jupyter lab`` command line the course uses."""
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--port-retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root_dir}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def lab_env(base: dict[str, str] | None = None, role: str = "student",
            exchange: bool = True) -> dict[str, str]:
    """The server's environment: the role's config folders first on JUPYTER_CONFIG_PATH
    (``exchange=False``: also the one that hides the Assignments list)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {sorted(ROLES)}, got {role!r}")
    env = dict(os.environ if base is None else base)
    extra = env.get("JUPYTER_CONFIG_PATH")
    folders = [*ROLES[role], *([] if exchange else [NO_EXCHANGE])]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [*map(str, folders), extra]))
    return env


def exchange_root(env: dict[str, str] | None = None) -> Path:
    """The exchange folder nbgrader will use in a server started with ``env``: the last
    ``Exchange.root`` set by an ``nbgrader_config.py`` on its Jupyter config path or in the
    course, else nbgrader's default."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.loader import PyFileConfigLoader

    env = dict(os.environ if env is None else env)
    own = [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    root = DEFAULT_EXCHANGE
    for folder in [*reversed([*own, *jupyter_config_path()]), str(ROOT)]:  # lowest priority first
        if Path(folder, "nbgrader_config.py").is_file():
            config = PyFileConfigLoader("nbgrader_config.py", path=folder).load_config()
            root = config.get("Exchange", {}).get("root", root)
    return Path(root)


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {proc.returncode} while starting")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not answer at {url} within {timeout:.0f} s")


def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C and SIGTERM both stop the server, which runs in its own session and sees neither.
    # Set explicitly: a shell that starts us in the background hands us SIGINT ignored.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    p = argparse.ArgumentParser(prog="python -m course.tooling.lab", description=__doc__)
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    p.add_argument("--dir", help="folder to open (default: lessons/ for students, the "
                                 "repository's root for instructors)")
    p.add_argument("--role", choices=sorted(ROLES), default=os.environ.get("ROLE") or "student",
                   help="student: Validate and Assignments only (default); instructor: all of "
                        "nbgrader's tools")
    args = p.parse_args(argv)

    port = args.port
    if not port_is_free(port):
        port = free_port()
        print(f"Port {args.port} is busy; using port {port} instead.", flush=True)
    token = secrets.token_hex(16)
    # cwd=ROOT: nbgrader's Validate button reads nbgrader_config.py from the server's cwd
    root_dir = os.path.abspath(args.dir or FOLDERS[args.role])
    exchange = exchange_root(lab_env(role=args.role))
    if not exchange.is_dir():
        print(f"nbgrader's Assignments list is hidden: it lists what an instructor released "
              f"through nbgrader's exchange, and there is none here ({exchange} does not exist). "
              "On a class hub it is there (make hub, deploy/README.md); here, open the lessons "
              "and press Validate.", flush=True)
    proc = subprocess.Popen(lab_command(port, token, root_dir), start_new_session=True,
                            cwd=ROOT, env=lab_env(role=args.role, exchange=exchange.is_dir()))
    url = f"http://127.0.0.1:{port}/lab?token={token}"
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/status?token={token}", proc)
        print(f"\nThe course is open ({args.role} view) at:\n\n    {url}\n\nPress Ctrl-C to stop.",
              flush=True)
        proc.wait()
    except KeyboardInterrupt:
        print("\nStopping JupyterLab ...", flush=True)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0 if proc.returncode in (0, -signal.SIGTERM) else 1


if __name__ == "__main__":
    sys.exit(main())
