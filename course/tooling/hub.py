"""``make hub``: the course in a real JupyterHub classroom on 127.0.0.1, for as long as it runs.

It creates local accounts (one instructor, two students; passwords printed), puts nbgrader's
exchange in a shared folder, copies the course into the instructor's home, and starts
JupyterHub with ``deploy/jupyterhub_config.py`` (PAM log-in, one JupyterLab server per account
started as that account, nbgrader's extensions by role). Ctrl-C or SIGTERM stops the hub, its
proxy and every single-user server, then removes the accounts, their homes and the exchange.

tests/test_hub.py drives the same :class:`Hub`. It needs root (it creates accounts and starts
servers as them) and configurable-http-proxy (``tools/ensure_proxy.sh``, run by ``make hub``).
Accounts are named ``nmhub-...`` and carry the creating process id in their comment, so that
accounts left behind by a killed run are removed by the next one.
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..lessons import ROOT
from .lab import free_port, port_is_free

__all__ = ["Account", "Hub", "HubError", "main", "remove_stale_accounts"]

PREFIX = "nmhub-"
COMMENT = "nearmiss hub pid="          # account comment (GECOS): which process made it
INSTRUCTORS = "nearmiss-instructors"   # the JupyterHub group deploy/jupyterhub_config.py reads
COURSE_DIR = "nearmiss-course"          # the instructor's course, in their home
COURSE_ID = "nearmiss"
DEPLOY = ROOT / "deploy"
PROXY = ROOT / ".venv" / "hub-proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
DEFAULT_PORT = 8000
DEMO = {"teacher": "instructor", "alice": "student", "bob": "student"}


class HubError(RuntimeError):
    """The hub cannot start here; the message says why in one line."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str        # "instructor" or "student"
    password: str

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(self.name).pw_dir)

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.name).pw_uid


# ----------------------------------------------------------------------------- accounts

def _run(*cmd: str, stdin: str | None = None) -> None:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if proc.returncode:
        raise HubError(f"{' '.join(cmd[:2])} failed: {(proc.stderr or proc.stdout).strip()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ours() -> dict[str, int]:
    """``{account: pid of the process that made it}`` for every account this module made."""
    return {p.pw_name: int(p.pw_gecos.removeprefix(COMMENT)) for p in pwd.getpwall()
            if p.pw_name.startswith(PREFIX) and p.pw_gecos.startswith(COMMENT)
            and p.pw_gecos.removeprefix(COMMENT).isdigit()}


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except FileNotFoundError:
                pass
    return pids


def remove_account(name: str) -> None:
    """End what still runs as ``name`` (servers and kernels the hub started), then delete the
    account, its group and its home."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _processes_of(uid)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while pids and _processes_of(uid) and time.monotonic() < deadline:
            time.sleep(0.1)
    _run("userdel", "--remove", name)


def remove_stale_accounts() -> list[str]:
    """Remove the accounts of hubs whose process is gone (a run that was killed)."""
    stale = [name for name, pid in _ours().items() if not _alive(pid)]
    for name in stale:
        remove_account(name)
    return stale


def create_accounts(roles: dict[str, str], tag: str = "") -> list[Account]:
    """One local account per ``{short name: role}``, named ``nmhub-<tag><short name>``, with a
    random password and a home only its owner can enter."""
    remove_stale_accounts()
    accounts: list[Account] = []
    try:
        for short, role in roles.items():
            name = f"{PREFIX}{tag}{short}"
            if name in _ours():
                raise HubError(f"account {name} belongs to another running hub "
                               f"(pid {_ours()[name]}): stop it first")
            password = secrets.token_urlsafe(9)
            _run("useradd", "--create-home", "--shell", "/bin/bash",
                 "--comment", f"{COMMENT}{os.getpid()}", name)
            accounts.append(Account(name, role, password))
            _run("chpasswd", stdin=f"{name}:{password}\n")
            accounts[-1].home.chmod(0o700)   # classmates must not read each other's work
    except BaseException:
        for account in accounts:
            remove_account(account.name)
        raise
    return accounts


# ----------------------------------------------------------------------------- environment

def _reachable(path: Path) -> bool:
    """Can any local account reach (and, for a file, run) ``path``?"""
    path = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


def shared_environment(state: Path) -> Path:
    """The ``bin`` folder of a Python environment with the course that every account can run.

    That is the project's venv when its interpreter is reachable by other accounts. When it is
    not (a Python under /root, as pyenv installs it), a thin venv of the system's Python of the
    same version that loads the project venv's packages: the course is still installed once.
    """
    venv = Path(sys.prefix)
    packages = next(Path(p) for p in sys.path if p.endswith("site-packages") and p.startswith(str(venv)))
    if not _reachable(packages):
        blocked = next(p for p in [packages, *packages.parents] if not p.stat().st_mode & stat.S_IXOTH)
        raise HubError(f"the course's environment {venv} is not readable by other accounts "
                       f"({blocked} has mode {blocked.stat().st_mode & 0o777:o}): put the "
                       "checkout where local accounts can read it")
    if _reachable(Path(sys.executable)):
        return venv / "bin"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    system = Path(f"/usr/bin/python{version}")
    if not system.exists() or not _reachable(system):
        raise HubError(f"the course's Python ({Path(sys.executable).resolve()}) cannot be run by "
                       f"other accounts and there is no /usr/bin/python{version} to stand in for "
                       f"it (Debian: apt-get install python{version}-minimal)")
    env = state / "env"
    _run(str(system), "-m", "venv", "--without-pip", str(env))
    site = next((env / "lib").glob("python*/site-packages"))
    (site / "nearmiss-course.pth").write_text(f"import site; site.addsitedir({str(packages)!r})\n")
    for share in ("share", "etc"):        # Jupyter's data (lab extensions) and server settings
        if (venv / share).exists():
            (env / share).symlink_to(venv / share)
    for script in (venv / "bin").iterdir():   # the console scripts, run by the stand-in Python
        if script.is_file() and not (env / "bin" / script.name).exists():
            head, _, body = script.read_bytes().partition(b"\n")
            if head.startswith(b"#!") and head.decode(errors="replace")[2:].startswith(str(venv)):
                (env / "bin" / script.name).write_bytes(f"#!{env / 'bin' / 'python'}\n".encode() + body)
                (env / "bin" / script.name).chmod(0o755)
    return env / "bin"


def copy_course(account: Account) -> Path:
    """The instructor's private course: config, sources (with hidden tests) and releases."""
    course = account.home / COURSE_DIR
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for folder in ("solutions", "lessons"):
        shutil.copytree(ROOT / folder, course / folder,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    (course / "autograder").mkdir()
    _chown_tree(course, account.name)
    return course


def _chown_tree(top: Path, owner: str) -> None:
    uid, gid = pwd.getpwnam(owner).pw_uid, pwd.getpwnam(owner).pw_gid
    for path in [top, *top.rglob("*")]:
        os.chown(path, uid, gid, follow_symlinks=False)


# ----------------------------------------------------------------------------- the hub

class Hub:
    """JupyterHub on 127.0.0.1 with local accounts and nbgrader's exchange; a context manager.

    ``roles`` maps short names to ``"instructor"`` or ``"student"``; accounts are named
    ``nmhub-<tag><short name>``. ``api`` talks to the hub's REST API with an admin token,
    ``server`` to an account's own JupyterLab server with that account's token.
    """

    def __init__(self, roles: dict[str, str], port: int | None = None, tag: str = "",
                 log: Path | None = None):
        self.roles, self.tag = roles, tag
        self.port = port or free_port()
        self.log_path = log
        self.accounts: dict[str, Account] = {}
        self.proc: subprocess.Popen | None = None
        self.state: Path | None = None
        self._token = secrets.token_hex(32)
        self._user_tokens: dict[str, str] = {}

    # -- life cycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def exchange(self) -> Path:
        return self.state / "exchange"

    @property
    def instructor(self) -> Account:
        return next(a for a in self.accounts.values() if a.role == "instructor")

    @property
    def course(self) -> Path:
        return self.instructor.home / COURSE_DIR

    def start(self, timeout: float = 120) -> "Hub":
        if os.geteuid() != 0:
            raise HubError("the hub needs root: it creates local accounts and starts a server "
                           "as each of them (run it with sudo)")
        if not os.access(PROXY, os.X_OK):
            raise HubError(f"JupyterHub's proxy is not installed ({PROXY}): run tools/ensure_proxy.sh")
        try:
            self._lay_out()
            self._launch(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _lay_out(self) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="nearmiss-hub-"))
        self.state.chmod(0o711)         # accounts reach the exchange, list nothing
        self.exchange.mkdir()
        self.exchange.chmod(0o1777)     # nbgrader wants 777; the sticky bit keeps folders safe
        for account in create_accounts(self.roles, self.tag):
            self.accounts[account.name] = account
        copy_course(self.instructor)
        bin_dir = shared_environment(self.state)
        self._env = {**os.environ, "NEARMISS_EXCHANGE": str(self.exchange),
                     "NEARMISS_SINGLEUSER_PATH": os.pathsep.join([str(bin_dir), "/usr/local/bin",
                                                                  "/usr/bin", "/bin"]),
                     "NEARMISS_HUB_TOKEN": self._token}
        (self.state / "jupyterhub_config.py").write_text(self._config())

    def _config(self) -> str:
        """This machine's part of the hub's configuration; the classroom part is deploy/'s."""
        students = [a.name for a in self.accounts.values()]
        return "\n".join([
            "import os",
            "c = get_config()",
            f"load_subconfig({str(DEPLOY / 'jupyterhub_config.py')!r})",
            f"c.JupyterHub.ip = '127.0.0.1'",
            f"c.JupyterHub.port = {self.port}",
            f"c.JupyterHub.hub_ip = '127.0.0.1'",
            f"c.JupyterHub.hub_port = {free_port()}",
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'",
            f"c.ConfigurableHTTPProxy.command = [{str(PROXY)!r}]",
            f"c.JupyterHub.db_url = 'sqlite:///{self.state / 'jupyterhub.sqlite'}'",
            f"c.JupyterHub.cookie_secret_file = {str(self.state / 'cookie_secret')!r}",
            f"c.Authenticator.allowed_users = set({students!r})",
            f"c.JupyterHub.load_groups = {{{INSTRUCTORS!r}: {{'users': [{self.instructor.name!r}]}}}}",
            # the launcher's (and the test's) admin token, read from the environment
            "c.JupyterHub.services = [{'name': 'nearmiss-admin',"
            " 'api_token': os.environ['NEARMISS_HUB_TOKEN']}]",
            "c.JupyterHub.load_roles = [{'name': 'nearmiss-admin', 'services': ['nearmiss-admin'],"
            " 'scopes': ['admin:users', 'admin:servers', 'tokens', 'list:users', 'read:users']}]",
            "",
        ])

    def _launch(self, timeout: float) -> None:
        log = open(self.log_path or self.state / "jupyterhub.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(self.state / "jupyterhub_config.py")],
            cwd=self.state, env=self._env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HubError(f"JupyterHub exited with code {self.proc.returncode} while "
                               f"starting; its log: {log.name}")
            try:
                self.api("GET", "")
                return
            except OSError:
                time.sleep(0.5)
        raise HubError(f"JupyterHub did not answer at {self.url} within {timeout:.0f} s; log: {log.name}")

    def stop(self) -> None:
        """Stop the hub (it stops its proxy and every single-user server), then remove the
        accounts, their homes and the exchange. Safe to call twice."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc:   # the proxy, if the hub could not stop it
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for name in list(self.accounts):
            remove_account(name)
            del self.accounts[name]
        if self.state:
            shutil.rmtree(self.state, ignore_errors=True)

    def __enter__(self) -> "Hub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- REST

    def _request(self, method: str, url: str, token: str, data: dict | None = None,
                 form: bool = False, timeout: float = 300, raw: bool = False):
        body, headers = None, {"Authorization": f"token {token}"}
        if data is not None:
            if form:
                body = urllib.parse.urlencode(data).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                body = json.dumps(data).encode()
                headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return body.decode() if raw else json.loads(body) if body else None

    def api(self, method: str, path: str, data: dict | None = None):
        """The hub's REST API (``/hub/api/<path>``) with the admin service's token."""
        return self._request(method, f"{self.url}/hub/api/{path}", self._token, data)

    def token(self, name: str) -> str:
        """An API token of account ``name`` (what its own browser session could do)."""
        if name not in self._user_tokens:
            reply = self.api("POST", f"users/{name}/tokens", {"note": "nearmiss hub", "expires_in": 3600})
            self._user_tokens[name] = reply["token"]
        return self._user_tokens[name]

    def spawn(self, name: str, timeout: float = 240) -> None:
        """Start ``name``'s JupyterLab server (as that account) and wait until it is ready."""
        try:
            self.api("POST", f"users/{name}/server")
        except urllib.error.HTTPError as err:
            if err.code != 400:      # 400: already running
                raise
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            server = self.api("GET", f"users/{name}")["servers"].get("", {})
            if server.get("ready"):
                return
            if not server and time.monotonic() > started + 5:   # the hub gave up on it
                raise HubError(f"{name}'s server stopped while starting; see the hub's log")
            time.sleep(0.5)
        raise HubError(f"{name}'s server was not ready within {timeout:.0f} s")

    def server(self, name: str, method: str, path: str, data: dict | None = None,
               form: bool = False, raw: bool = False):
        """``name``'s own server (``/user/<name>/<path>``), with ``name``'s token; JSON, or
        the text when ``raw``."""
        return self._request(method, f"{self.url}/user/{name}/{path}", self.token(name), data,
                             form, raw=raw)


# ----------------------------------------------------------------------------- make hub

def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    p = argparse.ArgumentParser(prog="python -m course.tooling.hub", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = p.parse_args(argv)
    port = args.port
    if not port_is_free(port):
        port = free_port()
        print(f"Port {args.port} is busy; using port {port} instead.", flush=True)
    hub = Hub(DEMO, port=port)
    try:
        print("Starting a demo JupyterHub (local accounts, nbgrader's exchange) ...", flush=True)
        hub.start()
        print(f"\nThe course's classroom is open at:\n\n    {hub.url}/hub/login\n", flush=True)
        for account in hub.accounts.values():
            print(f"    {account.role:<10}  user {account.name:<16}  password {account.password}")
        print(f"\nThe instructor's course is {hub.course} (formgrader under Nbgrader > Formgrader);"
              f"\nnbgrader's exchange is {hub.exchange}. The accounts and their files are removed"
              "\nwhen the hub stops. Press Ctrl-C to stop.", flush=True)
        hub.proc.wait()
        print(f"error: JupyterHub exited with code {hub.proc.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping the hub, its proxy and every server; removing the demo accounts ...",
              flush=True)
        return 0
    except HubError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # a second Ctrl-C must not cut the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        hub.stop()


if __name__ == "__main__":
    sys.exit(main())
