"""nbgrader's Execute with a jailed kernel, limits, and tamper-evident test cells.

* The kernel starts in its jail (``sandbox``) with its channels on unix sockets.
* A watchdog thread stops the kernel (never the grader) when it exceeds the memory limit, the
  per-submission time limit, or ignores the interrupt sent at the per-cell time limit. Output
  beyond a byte cap is dropped while it arrives, so a flood cannot fill the grader's memory.
* Before the first cell the kernel gets ``kernel_guard``; before each test cell it restores the
  grader's hooks and the test helpers, after it says whether anything changed while the test
  ran (then the test fails). Errors seen in a test cell stay, whatever the kernel clears.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from queue import Empty

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Float, Integer, List, Unicode

from nbgrader.preprocessors import Execute

from . import sandbox, tamper
from .sandbox import Jail, Sandbox

FLOOD_FACTOR = 10  # output beyond this many caps is a flood: the kernel is stopped
CGROUP_SLACK_MB = 1024  # page cache (libraries, data files) is charged to the cgroup too
GUARD_TIMEOUT_S = 30.0  # a restore takes milliseconds; only a busy or broken kernel is slower
# variables a kernel may inherit; everything else (tokens, credentials, DB URLs) stays behind
ENV_KEEP = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "NBGRADER_EXECUTION", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "TORCH_NUM_THREADS",
            "MPLBACKEND", "COURSE_DATA_MIRROR")


def is_test(cell) -> bool:
    """An autograded test cell: graded, not an answer."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class SandboxKernelManager(AsyncKernelManager):
    """Starts the kernel in its jail, talking over unix sockets in a folder of its own."""

    box: Sandbox = Sandbox()
    jail: Jail | None = None
    kernel_env: dict[str, str] = {}
    ipc: Path = Path()
    workdir: str = ""  # the kernel's working folder when it is not jailed

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = "ipc"
        self.ip = str(self.ipc / "kernel")
        self.connection_file = str(self.ipc.parent / "connection.json")  # the grader's copy

    async def _async_pre_start_kernel(self, **kw):
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        # the kernel's own output never reaches the grader's streams
        kw.update(env=dict(self.kernel_env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.jail is None:
            kw["cwd"] = self.workdir
            return kernel_cmd, kw
        inside = sandbox.kernel_connection(self.get_connection_info(), self.ipc, sandbox.KERNEL_IPC)
        sandbox.write_private(self.ipc / "kernel.json", json.dumps(inside), self.box)
        kernel_cmd = [f"{sandbox.KERNEL_IPC}/kernel.json" if arg == self.connection_file else arg
                      for arg in kernel_cmd]
        kw["cwd"] = "/"
        return sandbox.jailed(kernel_cmd, self.box, self.jail), kw


class GuardedExecute(Execute):
    """See the module doc. When the kernel is stopped (crash, memory, time) the cells that did
    not run get an error output, so the cells before keep their credit and nbgrader still saves
    grades."""

    sandbox_uid = Integer(-1, help="uid for the kernel; -1 runs it as the grader").tag(config=True)
    sandbox_gid = Integer(-1).tag(config=True)
    jobdir = Unicode("", help="the grader's private folder for this submission").tag(config=True)
    readonly = List(Unicode(), help="folders the kernel may read").tag(config=True)
    scratch_mb = Integer(512, help="size of the kernel's /tmp and /dev/shm").tag(config=True)
    home_seed = Unicode("", help="folder copied into the kernel's HOME").tag(config=True)
    work_seed = Unicode("", help="folder copied into the kernel's working folder").tag(config=True)
    submission_timeout = Float(600.0, help="wall-clock seconds for the whole notebook").tag(config=True)
    memory_mb = Float(2048.0, help="resident memory of the kernel tree").tag(config=True)
    output_bytes = Integer(1_000_000, help="output kept per notebook").tag(config=True)
    interrupt_grace = Float(5.0, help="seconds a cell may run past its timeout").tag(config=True)
    report_path = Unicode("", help="JSON file that receives what the guard did").tag(config=True)
    guard = Bool(True, help="restore the grader's hooks around test cells").tag(config=True)
    lesson_modules = List(Unicode(), help="course modules the lesson imports").tag(config=True)

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
        self._pid: int | None = None
        self._errors: dict[int, list[NotebookNode]] = {}
        self._token, self._installed = tamper.new_token(), None
        self.record = tamper.Record()
        box = Sandbox(*(None, None) if self.sandbox_uid < 0 else (self.sandbox_uid, self.sandbox_gid))
        self._cgroup_mb = self.memory_mb + 2 * self.scratch_mb + CGROUP_SLACK_MB
        name = f"autograder-{os.getpid()}-{Path(self.jobdir).parent.name}-{time.monotonic_ns()}"
        self._cgroup = sandbox.memory_cgroup(name, self._cgroup_mb) if box.isolated else None
        self.kernel_manager_class = self._manager_class(box)
        self.shutdown_kernel = "immediate"  # nothing to save: kill the jail at once
        done = threading.Event()
        watchdog = threading.Thread(target=self._watch, args=(done,), daemon=True)
        watchdog.start()
        try:
            super().preprocess(nb, resources, km)
        except (DeadKernelError, CellTimeoutError, RuntimeError) as exc:
            self.stopped = self.stopped or self._death(exc)
            self._fail_remaining(nb)
        finally:
            done.set()
            watchdog.join()
            sandbox.kill_tree(self._pid)
            self.leftover = sandbox.end(box)
            sandbox.remove_cgroup(self._cgroup)
            self._report()
        return nb, self.resources

    def _manager_class(self, box: Sandbox) -> type:
        jobdir = Path(self.jobdir)
        ipc = sandbox.socket_folder(jobdir / "ipc", box)
        if box.isolated:
            (jobdir / "root").mkdir(mode=0o700)
            jail = Jail(jobdir / "root", ipc, tuple(self.readonly), self.scratch_mb,
                        self.home_seed, self.work_seed, str(self._cgroup or ""))
            home, work = sandbox.KERNEL_HOME, sandbox.KERNEL_WORK
        else:
            jail, home, work = None, str(jobdir / "home"), str(jobdir / "work")
            for folder, seed in ((home, self.home_seed), (work, self.work_seed)):
                if seed:
                    subprocess.run(["cp", "-R", seed, folder], check=True)
                Path(folder).mkdir(mode=0o700, exist_ok=True)
        return type("BoxedKM", (SandboxKernelManager,), {
            "box": box, "jail": jail, "kernel_env": self._kernel_env(home), "ipc": ipc,
            "workdir": work})

    def _kernel_env(self, home: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ENV_KEEP}
        env.update(HOME=home, TMPDIR="/tmp" if home == sandbox.KERNEL_HOME else home,
                   MPLCONFIGDIR=f"{home}/.config/matplotlib", IPYTHONDIR=f"{home}/.ipython",
                   JUPYTER_RUNTIME_DIR=f"{home}/.runtime", MPLBACKEND=env.get("MPLBACKEND", "Agg"))
        return env

    def start_new_kernel(self, **kwargs):
        super().start_new_kernel(**kwargs)
        self._pid = self._kernel_pid()

    def preprocess_cell(self, cell, resources, index):
        self._cell = (index, time.monotonic())
        self._timed_out_at = None
        return super().preprocess_cell(cell, resources, index)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        runs = cell.cell_type == "code" and cell.source.strip()
        if not (self.guard and runs):
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if self._installed is None:  # before the first code cell: no student code ran yet
            reply = await self._ask(tamper.install_expression(self._token, list(self.lesson_modules)),
                                    max(GUARD_TIMEOUT_S, float(self.timeout or 0)))
            self._installed = tamper.parse(reply, self._token) is not None
        if not is_test(cell):
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        test = cell.metadata["nbgrader"]["grade_id"]
        before = await self._restore()
        self._cell = (cell_index, time.monotonic())  # the cell's time limit starts now
        cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        self._keep_errors(cell, cell_index)
        after = await self._restore()
        if before is None or after is None:
            self.record.unanswered.append(test)
            self._fail(cell, "the grader could not restore its test environment: the kernel's "
                             "machinery was altered; this test scores 0")
        elif after:
            self.record.tampered[test] = after
            self._fail(cell, "the test environment changed while this test ran "
                             f"({', '.join(after[:5])}); this test scores 0")
        if before:
            self.record.restored[test] = before
        return cell

    execute_cell = run_sync(async_execute_cell)

    async def _restore(self) -> list[str] | None:
        if not self._installed:
            return None
        return tamper.parse(await self._ask(tamper.restore_expression(self._token), GUARD_TIMEOUT_S),
                            self._token)

    async def _ask(self, expression: str, timeout: float) -> dict | None:
        """Send an empty, silent request evaluating ``expression``; its reply or ``None``."""
        msg_id = await ensure_async(self.kc.execute("", silent=True, store_history=False,
                                                    user_expressions={"guard": expression},
                                                    allow_stdin=False, stop_on_error=False))
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(
                    timeout=max(0.0, deadline - time.monotonic())))
            except Empty:
                return None
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def _keep_errors(self, cell, index: int) -> None:
        """A test's errors stand even if the kernel sent ``clear_output`` after them."""
        seen = self._errors.pop(index, [])
        if seen and not any(o.output_type == "error" for o in cell.outputs):
            cell.outputs.extend(seen)

    @staticmethod
    def _fail(cell, message: str) -> None:
        cell.outputs.append(NotebookNode(output_type="error", ename="TamperingDetected",
                                         evalue=message, traceback=[f"TamperingDetected: {message}"]))

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out_at = time.monotonic()
        self.interrupted.append(self._cell[0])
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        size = len(str(msg.get("content", "")))
        if msg["msg_type"] == "error":  # errors decide scores: never dropped, kept aside
            out = super().output(outs, msg, display_id, cell_index)
            if out is not None:
                self._errors.setdefault(cell_index, []).append(out)
            return out
        if self._kept_bytes + size > self.output_bytes:
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

    def _watch(self, done: threading.Event) -> None:
        while not done.wait(0.05):
            pid = self._kernel_pid()
            verdict = self._verdict(pid)
            if verdict:
                self.stopped = verdict
                sandbox.kill_tree(pid)
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
        if pid and sandbox.tree_rss_mb(pid) > self.memory_mb:
            # a fast output flood lands here too: the kernel buffers it faster than it is sent
            return "memory", f"the kernel went over the {self.memory_mb:g} MB limit in cell {index}"
        return None

    def _death(self, exc: Exception) -> tuple[str, str]:
        if sandbox.oom_kills(self._cgroup):
            return "memory", (f"the kernel went over its {self._cgroup_mb:g} MB memory limit (all its "
                              f"memory, /tmp and /dev/shm included) in cell {self._cell[0]}")
        if self._timed_out_at:  # nbclient gave up waiting for the interrupted cell to go idle
            return "time", f"cell {self._cell[0]} ran over its {self.timeout} s limit and ignored the interrupt"
        code = self._exit_code
        if code is None:  # the kernel did not die: a slow start or a late reply, not the student
            return "glitch", f"the kernel did not answer in cell {self._cell[0]} ({type(exc).__name__}: {exc})"[:300]
        how = (f"killed by {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals()
               else f"exit code {code}")
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
             "cell_timeout": self.timeout, "dropped_output_bytes": self.dropped_bytes,
             "guard_installed": self._installed, "guard": self.record.findings(),
             "leftover_processes": self.leftover, "memory_cgroup": bool(self._cgroup)}))
