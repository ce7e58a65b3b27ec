"""nbgrader's Execute with a jailed kernel, limits, and test cells judged outside the kernel.

* The kernel starts in its jail (``sandbox``) with its channels on unix sockets.
* A watchdog thread stops the kernel (never the grader) when it exceeds the memory limit, the
  per-submission time limit, or ignores the interrupt sent at the per-cell time limit. Output
  beyond a byte cap is dropped while it arrives, so a flood cannot fill the grader's memory.
* Graded test cells never run in the kernel. Their source, read from the gradebook, runs in
  the grader's judge (``judge``); each call it makes to a student's function is relayed to the
  kernel as a comm message of plain data, and the answer relayed back. The cell's outputs are
  what the judge printed and raised; what it recorded is stored, signed, in the cell's metadata.
* Defence in depth: before the first cell the kernel gets ``kernel_guard``; around each test
  cell it restores the grader's hooks and test helpers, and a test during which they changed
  scores 0. Every route to a grade runs this class: the class tool, ``--cluster``, and plain
  ``nbgrader autograde`` or the formgrader through ``nbgrader_config.py``.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from queue import Empty

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Float, Integer, List, Unicode

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import Execute

from . import judge, sandbox, secret, tamper
from .sandbox import Jail, Sandbox

FLOOD_FACTOR = 10  # output beyond this many caps is a flood: the kernel is stopped
CGROUP_SLACK_MB = 1024  # page cache (libraries, data files) is charged to the cgroup too
GUARD_TIMEOUT_S = 30.0  # a restore takes milliseconds; only a busy or broken kernel is slower
JUDGE_START_S = 120.0  # the judge imports the lesson's modules (torch among them) once
REPLY_BYTES = 512 * 2**20  # what a kernel may send back for one call
COMM_TARGET = "course.checks"  # course.checks.COMM_TARGET, in the kernel
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: judges kept between notebooks of one grading process: (assignment, secret, modules) -> judge
_JUDGES: dict[tuple, "judge.Process"] = {}
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
    grading_secret = Unicode("", help="the class's secret (hidden seeds, signed records); empty: "
                                      "read or draw it (autograder.secret)").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self.stopped: tuple[str, str] | None = None  # (kind, what happened)
        self.dropped_bytes = 0
        self.interrupted: list[int] = []
        self.judge_problems: list[str] = []  # the grader's own failures: never the student's
        self.judge_stats = {"cells": 0, "calls": 0, "judge_s": 0.0, "kernel_s": 0.0}
        self._flooded = False
        self._kept_bytes = 0
        self._cell = (-1, time.monotonic())
        self._timed_out_at: float | None = None
        self._started = time.monotonic()
        self._exit_code: int | None = None
        self._pid: int | None = None
        self._token, self._installed, self._serving = tamper.new_token(), None, False
        self._comm_id, self._calls, self._count = uuid.uuid4().hex, 0, 0
        self.record = tamper.Record()
        self._context = dict((resources or {}).get("nbgrader", {}))
        self._sources = self._test_sources(nb)
        if not self.grading_secret:
            self.grading_secret, note = secret.load_or_draw()
            if note:
                self.log.warning(note)
        own_jobdir = not self.jobdir
        if own_jobdir:  # plain nbgrader: a private scratch folder of our own
            self.jobdir = tempfile.mkdtemp(prefix="autograder-nbgrader-")
        box = Sandbox(*(None, None) if self.sandbox_uid < 0 else (self.sandbox_uid, self.sandbox_gid))
        self._cgroup_mb = self.memory_mb + 2 * self.scratch_mb + CGROUP_SLACK_MB
        name = f"autograder-{os.getpid()}-{Path(self.jobdir).parent.name}-{time.monotonic_ns()}"
        self._cgroup = sandbox.memory_cgroup(name, self._cgroup_mb) if box.isolated else None
        self.kernel_manager_class = self._manager_class(box)
        self.shutdown_kernel = "immediate"  # nothing to save: kill the jail at once
        self._judge = self._shared_judge() if self._sources else None  # starts while the kernel does
        for cell in nb.cells:  # only the grader writes this key, below
            cell.get("metadata", {}).pop("autograder", None)
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
            sandbox.release_socket_folder(Path(self.jobdir) / "ipc")
            sandbox.remove_cgroup(self._cgroup)
            self._report()
            if own_jobdir:
                shutil.rmtree(self.jobdir, ignore_errors=True)
                self.jobdir = ""
        return nb, self.resources

    def _test_sources(self, nb) -> dict[str, str]:
        """The source of each test cell of this notebook, from the gradebook (what the
        instructor wrote, whatever the submission holds); from the notebook only when this
        runs outside nbgrader's autograde (no gradebook in the resources)."""
        ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if is_test(c)]
        if not ids:
            return {}
        ctx = self._context
        if not ctx.get("db_url"):
            return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if is_test(c)}
        with Gradebook(ctx["db_url"]) as gb:
            out = {}
            for grade_id in ids:
                try:
                    out[grade_id] = gb.find_source_cell(grade_id, ctx["notebook"], ctx["assignment"]).source
                except MissingEntry:
                    pass  # not a test of this assignment: it runs nowhere and scores nothing
        return out

    def _shared_judge(self) -> "judge.Process":
        """The judge of this assignment in this process, started once and kept for the next
        notebooks (what the library computes for hidden tests, e.g. lesson 07's unseen worlds,
        is then computed once per grader, not once per student). It holds nothing of a student:
        each test cell runs in a fresh namespace and every value from a kernel is plain data."""
        key = (self._context.get("assignment", ""), self.grading_secret, tuple(self.lesson_modules))
        found = _JUDGES.get(key)
        if found is None or not found.alive():
            _JUDGES[key] = found = self._new_judge()
        return found

    def _new_judge(self) -> "judge.Process":
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TORCH_NUM_THREADS"):
            env.setdefault(var, "1")
        env["MPLBACKEND"] = "Agg"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
        return judge.Process(env, self._context.get("assignment", ""), self.grading_secret,
                             list(self.lesson_modules))

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
        if is_test(cell):
            if self._installed is None:
                await self._install()
            return await self._judged(cell, cell_index)
        if cell.cell_type == "code" and cell.source.strip() and self._installed is None:
            await self._install()  # before the first code cell: no student code ran yet
        if cell.cell_type == "code":
            self._count += 1
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    async def _install(self) -> None:
        """The guard's snapshot, and the comm the judge's calls arrive by."""
        wait = max(GUARD_TIMEOUT_S, float(self.timeout or 0))
        if self.guard:
            reply = await self._ask(tamper.install_expression(self._token, list(self.lesson_modules)), wait)
            self._installed = tamper.parse(reply, self._token) is not None
        else:
            self._installed = False
        reply = await self._ask("__import__('course.checks', fromlist=['serve']).serve()", wait)
        value = (reply or {}).get("content", {}).get("user_expressions", {}).get("guard", {})
        self._serving = value.get("data", {}).get("text/plain") == "'serving'"
        if self._serving:
            self.kc.shell_channel.send(self.kc.session.msg(
                "comm_open", {"comm_id": self._comm_id, "target_name": COMM_TARGET, "data": {}}))

    async def _judged(self, cell, cell_index: int):
        """Run a test cell in the judge, relaying its calls to the kernel; see the module doc."""
        test = cell.metadata["nbgrader"]["grade_id"]
        self._count += 1
        cell.execution_count, cell.outputs = self._count, []
        before = await self._restore() if self.guard else []
        self._cell = (cell_index, time.monotonic())  # the cell's time limit starts now
        self._timed_out_at = None
        deadline = self._cell[1] + float(self.timeout or 10**9)
        source = self._sources.get(test)
        if source is None:
            self._fail(cell, f"{test} is not a test cell of this assignment; it was not run", "NotATest")
            return cell
        done = await self._run_in_judge(cell, cell_index, test, source, deadline)
        if done is not None:
            self._finish(cell, test, done)
        after = await self._restore() if self.guard else []
        if self.guard and (before is None or after is None):
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

    async def _run_in_judge(self, cell, cell_index: int, test: str, source: str,
                            deadline: float) -> dict | None:
        """The judge's ``done`` frame for this cell, or None (the cell has an error saying why)."""
        if self._judge is None:
            self._judge = self._shared_judge()
        started = time.monotonic()
        kernel_s = 0.0
        try:
            await asyncio.to_thread(self._judge.ready, max(JUDGE_START_S, deadline - started))
            self._judge.send({"op": "run", "cell": test, "source": source, "count": self._count})
            while True:
                frame = await asyncio.to_thread(self._judge.receive, max(0.0, deadline - time.monotonic()))
                if frame is None:
                    raise judge.FrameError(f"the test ran over its {self.timeout} s time limit in the "
                                           "grader's judge")
                header, buffers = frame
                if header.get("op") == "done":
                    break
                if header.get("op") != "call":
                    raise judge.FrameError(f"unexpected frame {header.get('op')!r}")
                t0 = time.monotonic()
                reply, back = await self._call_kernel(header, buffers, deadline, cell, cell_index)
                kernel_s += time.monotonic() - t0
                self._judge.send({"op": "reply", "reply": reply}, back)
        except (judge.FrameError, EOFError, OSError, ValueError) as exc:
            self._drop_judge()
            problem = f"{test}: the grader's judge failed ({type(exc).__name__}: {exc})"
            self.judge_problems.append(problem)
            self._fail(cell, problem + "; grader error, not the submission's", "GraderError")
            return None
        except BaseException:  # the kernel died mid-call: the judge is left waiting for a reply
            self._drop_judge()
            raise
        stats = self.judge_stats
        stats["cells"] += 1
        stats["calls"] += header.get("calls", 0)
        stats["kernel_s"] += kernel_s
        stats["judge_s"] += time.monotonic() - started - kernel_s
        return header

    def _drop_judge(self) -> None:
        """Stop a judge that is mid-cell; the next cell or notebook starts a fresh one."""
        self._judge.close()
        self._judge = None

    async def _call_kernel(self, header: dict, buffers: list[bytes], deadline: float, cell,
                           cell_index: int) -> tuple[dict, list[bytes]]:
        """Relay one call to the kernel's comm and its answer back; the student's printed
        output goes to the cell. A call past the cell's time limit interrupts the kernel."""
        if not self._serving:
            return _error("RuntimeError", "your kernel does not answer the tests' calls (its "
                                          "course.checks server did not start)"), []
        self._calls += 1
        data = {"op": "call", "id": self._calls, **header.get("target", {}), "args": header.get("args"),
                **header.get("request", {})}
        msg = self.kc.session.msg("comm_msg", {"comm_id": self._comm_id, "data": data})
        msg["buffers"] = buffers
        self.kc.shell_channel.send(msg)
        parent = msg["header"]["msg_id"]
        interrupted_at = None
        while True:
            if self.stopped or self._exit_code is not None:
                raise DeadKernelError("the kernel stopped during a test's call")
            now = time.monotonic()
            if interrupted_at is None and now > deadline:
                interrupted_at = now
                self._timed_out_at = now
                self.interrupted.append(cell_index)
                await ensure_async(self.km.interrupt_kernel())
            try:
                reply = await ensure_async(self.kc.iopub_channel.get_msg(timeout=0.5))
            except Empty:
                continue
            if reply["parent_header"].get("msg_id") != parent:
                continue  # output of something else the kernel runs (a thread): not this test's
            kind, content = reply["msg_type"], reply["content"]
            if kind == "stream":
                self._stream(cell, content.get("name", "stdout"), str(content.get("text", "")))
            elif kind == "comm_msg" and content.get("comm_id") == self._comm_id:
                back = [bytes(b) for b in reply.get("buffers") or []]
                answer = dict(content.get("data") or {})
                if answer.pop("id", None) != self._calls:
                    continue
                if sum(len(b) for b in back) > REPLY_BYTES:
                    return _error("MemoryError", f"your function returned over {REPLY_BYTES >> 20} MB"), []
                if interrupted_at is not None:
                    return _error("TimeoutError", f"your function ran over the cell's {self.timeout} s "
                                                  "time limit and was interrupted"), []
                return answer, back
            elif kind == "status" and content.get("execution_state") == "idle":
                return _error("RuntimeError", "your kernel did not answer the test's call (the "
                                              "course.checks server was removed or replaced)"), []

    def _stream(self, cell, name: str, text: str) -> None:
        """Output printed during a test, kept within the notebook's output cap."""
        if self._kept_bytes + len(text) > self.output_bytes:
            self.dropped_bytes += len(text)
            return
        self._kept_bytes += len(text)
        cell.outputs.append(NotebookNode(output_type="stream", name=name, text=text))

    def _finish(self, cell, test: str, done: dict) -> None:
        """The judge's verdict into the cell: its printed output, its error, its records."""
        for name in ("stdout", "stderr"):
            if done.get(name):
                self._stream(cell, name, done[name])
        if done.get("error"):
            e = done["error"]
            cell.outputs.append(NotebookNode(output_type="error", ename=str(e["ename"]),
                                             evalue=str(e["evalue"]), traceback=list(e["traceback"])))
        if done.get("records"):
            payload = {"assignment": self._context.get("assignment", ""),
                       "student": self._context.get("student", ""), "cell": test,
                       "records": done["records"]}
            cell.metadata["autograder"] = {**payload, "mac": secret.sign(self.grading_secret, payload)}

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

    @staticmethod
    def _fail(cell, message: str, ename: str = "TamperingDetected") -> None:
        cell.outputs.append(NotebookNode(output_type="error", ename=ename,
                                         evalue=message, traceback=[f"{ename}: {message}"]))

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out_at = time.monotonic()
        self.interrupted.append(self._cell[0])
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        size = len(str(msg.get("content", "")))
        if msg["msg_type"] == "error":  # a cell's error is never dropped
            return super().output(outs, msg, display_id, cell_index)
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
             "judge_problems": self.judge_problems, "judge": self.judge_stats,
             "leftover_processes": self.leftover, "memory_cgroup": bool(self._cgroup)}))


def _error(kind: str, message: str) -> dict:
    """A call's answer that is an error the grader observed (time, size, no answer)."""
    return {"error": {"type": kind, "bases": [kind], "message": message, "trace": []}, "lines": 0}
