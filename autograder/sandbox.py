"""Isolation and limits for one student's kernel.

The grader (nbgrader, the gradebook) runs as the invoking user; the student's kernel runs as an
unprivileged per-worker system user, in its own working copy with its own HOME. A watchdog
thread stops the kernel (never the grader) when it exceeds the memory limit, the per-submission
time limit, or ignores the interrupt sent at the per-cell time limit. Output beyond a byte cap is
dropped while it arrives, so a flood cannot fill the grader's memory.
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import sys

import psutil
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from traitlets import Float, Integer, List, Unicode

from nbgrader.preprocessors import Execute

USER_PREFIX = "autograder-sb"
FLOOD_FACTOR = 10  # output beyond this many caps is a flood: the kernel is stopped
# variables a kernel may inherit; everything else (tokens, credentials, DB URLs) stays behind
ENV_KEEP = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "NBGRADER_EXECUTION", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "TORCH_NUM_THREADS",
            "MPLBACKEND")


# Runs as root in a fresh mount namespace, then becomes the sandbox user and execs the kernel:
# $1 uid, $2 gid, $3 a folder to hide (e.g. /root), $4 the interpreter inside it to keep,
# $5 colon-separated folders to make read-only; the rest is the kernel command.
JAIL = r'''
set -e
uid=$1 gid=$2 hide=$3 keep=$4 ro=$5; shift 5
if [ -n "$hide" ]; then
  stash=$(mktemp -d)
  mount --bind "$keep" "$stash"
  mount -t tmpfs -o mode=755,size=1m tmpfs "$hide"
  mkdir -p "$keep"
  mount --bind "$stash" "$keep"
  umount "$stash"; rmdir "$stash"
fi
IFS=:
for d in $ro; do mount --bind "$d" "$d"; mount -o remount,bind,ro "$d"; done
unset IFS
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs \
  --inh-caps=-all --bounding-set=-all -- "$@"
'''


class IsolationWarning(UserWarning):
    """Student code runs with the grader's rights: it could write to the gradebook."""


@dataclass(frozen=True)
class Sandbox:
    """An unprivileged account for kernels; ``uid is None`` means no isolation."""

    uid: int | None = None
    gid: int | None = None

    @property
    def isolated(self) -> bool:
        return self.uid is not None


def _ensure_user(name: str) -> Sandbox:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", name],
                       check=True, capture_output=True)
        entry = pwd.getpwnam(name)
    return Sandbox(entry.pw_uid, grp.getgrnam(name).gr_gid)


def sandboxes(count: int) -> list[Sandbox]:
    """One account per worker, so one student's leftovers can be killed without touching another's.

    Needs root (to create accounts and launch kernels as them); otherwise warns and returns
    non-isolated sandboxes.
    """
    missing = _isolation_missing()
    if missing:
        warnings.warn(f"no isolation ({missing}): student kernels run with the grader's rights and "
                      "could write to the gradebook and course files", IsolationWarning, stacklevel=2)
        return [Sandbox()] * count
    return [_ensure_user(f"{USER_PREFIX}{i}") for i in range(count)]


def _isolation_missing() -> str | None:
    """Why kernels cannot be isolated here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "not running as root"
    tools = [t for t in ("useradd", "unshare", "setpriv", "mount") if not shutil.which(t)]
    if tools:
        return f"missing {', '.join(tools)}"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True)
    return "mount namespaces are not allowed" if probe.returncode else None


def _hidden_interpreter() -> tuple[str, str]:
    """(closed ancestor, interpreter prefix) when the interpreter sits in a folder others
    cannot enter (e.g. pyenv under /root); the jail hides that folder and keeps the prefix."""
    prefix = Path(sys.base_prefix).resolve()
    for folder in reversed(prefix.parents):
        if folder != Path("/") and not folder.stat().st_mode & 0o001:
            return str(folder), str(prefix)
    return "", ""


def jailed(cmd: list[str], box: Sandbox, readonly: list[str]) -> list[str]:
    """``cmd`` wrapped to run as the sandbox user with ``readonly`` folders mounted read-only."""
    hide, keep = _hidden_interpreter()
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", JAIL, "jail",
            str(box.uid), str(box.gid), hide, keep, ":".join(readonly), *cmd]


def give(path: Path, box: Sandbox) -> None:
    """Make ``path`` (a fresh directory tree) the sandbox user's own, closed to others."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if not box.isolated:
        return
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(Path(root) / name, box.uid, box.gid)
    os.chown(path, box.uid, box.gid)


def take_back(path: Path) -> None:
    """After the kernel: remove links, pipes and devices the student may have planted (the
    grader is about to write there), and return the tree to the grader."""
    for root, dirs, files in os.walk(path, followlinks=False):
        for name in dirs + files:
            entry = Path(root) / name
            if entry.is_symlink() or not (entry.is_file() or entry.is_dir()):
                entry.unlink()
            else:
                os.lchown(entry, os.geteuid(), os.getegid())
    os.lchown(path, os.geteuid(), os.getegid())


def kill_sandbox(box: Sandbox, pid: int | None) -> None:
    """SIGKILL the kernel, its children and (when isolated) every process of the sandbox user."""
    victims = []
    if pid:
        try:
            kernel = psutil.Process(pid)
            victims = [kernel, *kernel.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    if box.isolated:
        victims += [p for p in psutil.process_iter(["uids"]) if p.info["uids"]
                    and box.uid in (p.info["uids"].real, p.info["uids"].effective)]
    for proc in victims:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


class SandboxKernelManager(AsyncKernelManager):
    """Starts the kernel as the sandbox user, with a connection file that user can read."""

    box: Sandbox = Sandbox()
    kernel_env: dict[str, str] = {}
    readonly: list[str] = []

    async def _async_pre_start_kernel(self, **kw):
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        # the kernel's own output never reaches the grader's streams
        kw.update(env=dict(self.kernel_env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.box.isolated:
            os.chown(self.connection_file, self.box.uid, self.box.gid)
            kernel_cmd = jailed(kernel_cmd, self.box, self.readonly)
        return kernel_cmd, kw


class GuardedExecute(Execute):
    """nbgrader's Execute with a sandboxed kernel, a watchdog and an output cap.

    When the kernel is stopped (crash, memory, time) the cells that did not run get an error
    output, so the cells that ran before keep their credit and nbgrader still saves grades.
    """

    sandbox_uid = Integer(-1, help="uid for the kernel; -1 runs it as the grader").tag(config=True)
    sandbox_gid = Integer(-1).tag(config=True)
    home = Unicode("", help="HOME of the kernel (a directory of the sandbox user)").tag(config=True)
    submission_timeout = Float(600.0, help="wall-clock seconds for the whole notebook").tag(config=True)
    memory_mb = Float(2048.0, help="resident memory of the kernel tree").tag(config=True)
    output_bytes = Integer(1_000_000, help="output kept per notebook").tag(config=True)
    interrupt_grace = Float(5.0, help="seconds a cell may run past its timeout").tag(config=True)
    report_path = Unicode("", help="JSON file that receives what the guard did").tag(config=True)
    readonly = List(Unicode(), help="folders mounted read-only for the kernel").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self.stopped: tuple[str, str] | None = None  # (kind, what happened)
        self.dropped_bytes = 0
        self.interrupted: list[int] = []
        self._flooded = False
        self._kept_bytes = 0
        self._cell = (-1, time.monotonic())
        self._timed_out_at: float | None = None
        self._started = time.monotonic()
        self._exit_code: int | None = None
        box = Sandbox(*(None, None) if self.sandbox_uid < 0 else (self.sandbox_uid, self.sandbox_gid))
        workdir = Path(resources["metadata"]["path"])
        give(workdir, box)
        give(Path(self.home), box)
        self.kernel_manager_class = type("BoxedKM", (SandboxKernelManager,), {
            "box": box, "kernel_env": self._kernel_env(), "readonly": list(self.readonly)})
        done = threading.Event()
        watchdog = threading.Thread(target=self._watch, args=(done, box), daemon=True)
        watchdog.start()
        try:
            super().preprocess(nb, resources, km)
        except (DeadKernelError, CellTimeoutError, RuntimeError) as exc:
            self.stopped = self.stopped or self._death(exc)
            self._fail_remaining(nb)
        finally:
            done.set()
            watchdog.join()
            kill_sandbox(box, None)
            take_back(workdir)
            self._report()
        return nb, self.resources

    def _kernel_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ENV_KEEP}
        home = self.home or os.environ.get("HOME", "/tmp")
        env.update(HOME=home, MPLCONFIGDIR=str(Path(home) / ".config" / "matplotlib"),
                   TMPDIR=home, JUPYTER_RUNTIME_DIR=str(Path(home) / ".runtime"),
                   MPLBACKEND=env.get("MPLBACKEND", "Agg"))
        return env

    def start_new_kernel(self, **kwargs):
        # the connection file must live where the sandbox user can read it
        self.km.connection_file = str(Path(self.home or ".") / ".kernel.json")
        return super().start_new_kernel(**kwargs)

    def preprocess_cell(self, cell, resources, index):
        self._cell = (index, time.monotonic())
        self._timed_out_at = None
        return super().preprocess_cell(cell, resources, index)

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out_at = time.monotonic()
        self.interrupted.append(self._cell[0])
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        size = len(str(msg.get("content", "")))
        # errors decide scores: never drop them
        if msg["msg_type"] != "error" and self._kept_bytes + size > self.output_bytes:
            first = self.dropped_bytes == 0
            self.dropped_bytes += size
            if self.dropped_bytes > FLOOD_FACTOR * self.output_bytes:
                self._flooded = True
            return NotebookNode(output_type="stream", name="stderr", text=(
                f"[output over {self.output_bytes} bytes dropped by the grader]\n")) if first else None
        self._kept_bytes += size
        return super().output(outs, msg, display_id, cell_index)

    def _kernel_pid(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None) if self.km else None
        return getattr(provisioner, "pid", None)

    def _watch(self, done: threading.Event, box: Sandbox) -> None:
        while not done.wait(0.05):
            pid = self._kernel_pid()
            verdict = self._verdict(pid)
            if verdict:
                self.stopped = verdict
                kill_sandbox(box, pid)
                return
            process = getattr(getattr(self.km, "provisioner", None), "process", None)
            if process is not None and process.poll() is not None:
                self._exit_code = process.returncode

    def _verdict(self, pid: int | None) -> tuple[str, str] | None:
        now = time.monotonic()
        index = self._cell[0]
        if now - self._started > self.submission_timeout:
            return "time", f"the notebook ran over its {self.submission_timeout:g} s limit in cell {index}"
        if self._timed_out_at and now - self._timed_out_at > self.interrupt_grace:
            return "time", f"cell {index} ran over its {self.timeout} s limit and ignored the interrupt"
        if self._flooded:
            return "output", (f"cell {index} printed over {FLOOD_FACTOR}x the "
                              f"{self.output_bytes} byte output limit")
        if pid and tree_rss_mb(pid) > self.memory_mb:
            # a fast output flood lands here too: the kernel buffers it faster than it is sent
            return "memory", f"the kernel went over the {self.memory_mb:g} MB limit in cell {index}"
        return None

    def _death(self, exc: Exception) -> tuple[str, str]:
        if self._timed_out_at:  # nbclient gave up waiting for the interrupted cell to go idle
            return "time", f"cell {self._cell[0]} ran over its {self.timeout} s limit and ignored the interrupt"
        code = self._exit_code
        if code is None:  # the kernel did not die: a slow start or a late reply, not the student
            return "glitch", f"the kernel did not answer in cell {self._cell[0]} ({type(exc).__name__}: {exc})"[:300]
        how = (f"killed by {signal.Signals(-code).name}" if code and code < 0 and -code in
               signal.valid_signals() else f"exit code {code}" if code is not None else type(exc).__name__)
        return "crash", f"the kernel died in cell {self._cell[0]} ({how})"

    def _fail_remaining(self, nb: NotebookNode) -> None:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and index >= self._cell[0]:
                message = self.stopped[1] if self.stopped else ""
                cell.outputs = [NotebookNode(output_type="error", ename="KernelStopped",
                                             evalue=message, traceback=[f"KernelStopped: {message}"])]

    def _report(self) -> None:
        if not self.report_path:
            return
        Path(self.report_path).write_text(json.dumps(
            {"stopped": self.stopped, "interrupted": self.interrupted,
             "cell_timeout": self.timeout, "dropped_output_bytes": self.dropped_bytes}))
