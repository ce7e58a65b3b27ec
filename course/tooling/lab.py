"""``make lab``: serve JupyterLab on lessons/ at 127.0.0.1, print the URL, stop on Ctrl-C.

JupyterLab runs in its own session so that Ctrl-C reaches only this launcher, which then
shuts the server down cleanly instead of leaving it asking "Shutdown this Jupyter server?".

Two roles, set the way nbgrader documents it (its lab and server extensions enabled or
disabled by Jupyter config): a **student** (the default) sees nbgrader's Validate button and
its Assignments list only; an **instructor** (``--role instructor``, ``make lab-instructor``)
also gets Create Assignment, Formgrader and the course list.
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from ..lessons import ROOT

__all__ = ["free_port", "lab_command", "lab_env", "main", "CONFIG_DIR", "ROLES"]

DEFAULT_PORT = 8888
# Jupyter config the course carries (no news pop-up, no update check); Binder's postBuild
# copies the same folder into the environment
CONFIG_DIR = ROOT / "jupyter"
#: role -> config folders put first on JUPYTER_CONFIG_PATH; jupyter/student disables
#: nbgrader's instructor extensions (``jupyter labextension disable`` and
#: ``jupyter server extension disable`` write the same files)
ROLES = {"student": (CONFIG_DIR, CONFIG_DIR / "student"), "instructor": (CONFIG_DIR,)}


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


def lab_env(base: dict[str, str] | None = None, role: str = "student") -> dict[str, str]:
    """The server's environment: the role's config folders first on JUPYTER_CONFIG_PATH."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {sorted(ROLES)}, got {role!r}")
    env = dict(os.environ if base is None else base)
    extra = env.get("JUPYTER_CONFIG_PATH")
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [*map(str, ROLES[role]), extra]))
    return env


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
    p.add_argument("--dir", default=str(ROOT / "lessons"), help="folder to open")
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
    root_dir = os.path.abspath(args.dir)
    proc = subprocess.Popen(lab_command(port, token, root_dir), start_new_session=True,
                            cwd=ROOT, env=lab_env(role=args.role))
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
