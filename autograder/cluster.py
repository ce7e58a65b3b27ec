"""Grading on a Dask cluster: ``python -m autograder grade ... --cluster tcp://HOST:8786``.

This process (the coordinator) does what it does for local grading (intake, refusals, the
template gradebook, progress with ETA, the CSV) except the grading: each submission travels to
a Dask worker as one task carrying the assignment's template and the notebook's bytes, so no
disk is shared. The worker grades it exactly as a local slot does (``slots.grade_one``: the
same worker process, jail, sandbox account and limits) and sends back the grades and the graded
notebook; the coordinator makes the feedback page. Only it writes the gradebook, once per submission:
Dask reruns the task of a worker that died mid-job elsewhere, but its future resolves once, and
``gradebook.merge`` updates the submission's rows in place, so a re-run rewrites them.

Before anything is written the coordinator checks that the scheduler answers, that at least
one worker is there, and that every worker imports the same ``course`` and ``autograder`` code
as this process; otherwise it stops with a one-line reason (``ClusterError``).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import io
import itertools
import queue
import shutil
import tarfile
import tempfile
import threading
import uuid
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from distributed import Client, WorkerPlugin, as_completed, get_worker
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from . import gradebook, sandbox, slots
from .course_dir import Course

CONNECT_TIMEOUT_S = 10.0
WORKERS_TIMEOUT_S = 30.0
PLUGIN = "autograder-slots"
SOURCES = ("course", "autograder")  # what workers must import, identical to the coordinator's
RETURNED = (("autograded", "ipynb"),)  # files a result brings back (pages are made where it lands)
IN_FLIGHT = 3  # tasks submitted per worker thread: work queued on each, bounded memory


class ClusterError(RuntimeError):
    """The cluster cannot grade: unreachable, empty, or a worker without the same course."""


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


@functools.cache
def fingerprint() -> dict:
    """What a worker must share with the coordinator: the ``course`` and ``autograder`` code it
    imports (a digest of their sources) and nbgrader's version; or why it cannot import them."""
    digests = {}
    for name in (*SOURCES, "nbgrader"):
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 (any import failure is the answer)
            return {"error": f"cannot import {name} ({one_line(exc)})"}
        if name == "nbgrader":
            digests[name] = module.__version__
            continue
        if getattr(module, "__file__", None) is None:  # a bare folder of that name shadows it
            return {"error": f"cannot import {name} (found {list(module.__path__)}, not the library)"}
        h = hashlib.sha256()
        root = Path(module.__file__).parent
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
        digests[name] = h.hexdigest()[:12]
    return {"code": digests, "isolation_missing": sandbox.isolation_missing()}


def check_workers(client: Client, address: str) -> None:
    """Every worker imports the coordinator's code; warn for workers that cannot isolate."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
    except TimeoutError:
        raise ClusterError(f"no Dask worker joined the scheduler at {address} "
                           f"within {WORKERS_TIMEOUT_S:g} s (start one: dask worker "
                           f"{address} --nthreads 1)") from None
    ours = fingerprint()["code"]
    for address, seen in sorted(client.run(fingerprint, on_error="return").items()):
        if isinstance(seen, BaseException):
            seen = {"error": one_line(seen)}
        if "error" in seen:
            raise ClusterError(f"worker {address} {seen['error']}: install the course on every "
                               "worker (pip install -e '.[cluster]' from the same commit)")
        if seen["code"] != ours:
            raise ClusterError(f"worker {address} runs other code than this grader ({seen['code']} "
                               f"vs {ours}): install the same commit of the course on every worker")
        if seen["isolation_missing"]:
            warnings.warn(f"worker {address}: no isolation ({seen['isolation_missing']}): student "
                          "kernels there run with the worker's rights", sandbox.IsolationWarning,
                          stacklevel=2)


@contextlib.contextmanager
def connect(address: str) -> Iterator["Cluster"]:
    """A checked connection to the scheduler at ``address``; ``ClusterError`` with the reason."""
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {one_line(exc)}") from None
    try:
        check_workers(client, address)
        client.register_plugin(Slots(), name=PLUGIN)
        yield Cluster(client)
    finally:
        client.close()


def _pack(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname=".")
    return buf.getvalue()


def _submission(notebook: Path) -> dict[str, bytes]:
    """The staged notebook and its timestamp, as bytes that travel with the task."""
    files = {notebook.name: notebook.read_bytes()}
    stamp = notebook.parent / "timestamp.txt"
    if stamp.is_file():
        files[stamp.name] = stamp.read_bytes()
    return files


@dataclass
class Cluster:
    client: Client

    def grade(self, course: Course, assignment: str, staged: dict[str, Path],
              template: gradebook.Template, workdir: Path, limits: slots.Limits,
              grading_secret: str) -> Iterator[dict]:
        """Results as the cluster's workers finish them; files written under ``workdir``.
        At most ``IN_FLIGHT`` tasks per worker thread are submitted at a time, so a large class
        does not sit in the scheduler's memory (each task carries its notebook)."""
        run = {"id": uuid.uuid4().hex[:8], "course_id": course.course_id, "assignment": assignment,
               "limits": asdict(limits), "grading_secret": grading_secret}
        blob = _pack(template.root)
        run["template_digest"] = hashlib.sha256(blob).hexdigest()
        [shared] = self.client.scatter([blob], broadcast=True, hash=False)
        waiting, students = iter(sorted(staged.items())), {}

        def submit(student: str, notebook: Path):
            future = self.client.submit(grade_remote, run, shared, student, _submission(notebook),
                                        key=f"grade-{assignment}-{student}-{run['id']}", pure=False)
            students[future] = student
            return future

        def more() -> list:  # up to the window of the workers there now (some may join later)
            window = IN_FLIGHT * max(sum(self.client.nthreads().values()), 1)
            return [submit(*job) for job in itertools.islice(waiting, max(window - len(students), 0))]

        finished = as_completed(more(), loop=self.client.loop)
        try:
            for future in finished:
                student = students.pop(future)
                finished.update(more())
                yield _received(workdir / "received" / student, student, future)
                shutil.rmtree(workdir / "received" / student, ignore_errors=True)
        finally:
            self.client.cancel(list(students))


def _received(folder: Path, student: str, future) -> dict:
    """A task's result with its files written to ``folder``, as ``grade.record`` takes it."""
    try:
        result = future.result()
    except KilledWorker as exc:  # it took down several workers: the student's, like a local crash
        return {"student": student, "status": "error", "notebooks": None,
                "reason": f"the grading task was lost with the workers running it ({one_line(exc)})"}
    except (ClusterError, FutureCancelledError):
        raise
    except Exception as exc:  # noqa: BLE001 (a grader failure stops the run, with its reason)
        raise ClusterError(f"grading {student} failed on the cluster: {one_line(exc)}") from None
    for key, _ in RETURNED:
        data = result.pop(f"{key}_file", None)
        if data is not None:
            (folder / key).mkdir(parents=True, exist_ok=True)
            (folder / key / result[key]).write_bytes(data)
        result[key] = str(folder / key) if data is not None else None
    return result


@dataclass
class Slot:
    box: sandbox.Sandbox
    worker: slots.Worker


class Slots(WorkerPlugin):
    """On each Dask worker: sandbox slots (an account and a grading process each, as a local
    slot holds for a whole run) kept for the worker's life, and each template unpacked once.
    Idempotent: a second coordinator reuses the slots instead of tearing down busy ones."""

    idempotent = True

    def setup(self, worker=None) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="autograder-cluster-"))
        self.log = slots.private_file(self.scratch / "grade.log")
        self.free: queue.SimpleQueue[Slot] = queue.SimpleQueue()
        self.accounts = contextlib.ExitStack()
        self.runs: dict[str, dict] = {}
        self.lock = threading.Lock()

    def teardown(self, worker=None) -> None:
        while not self.free.empty():
            self.free.get().worker.close()
        self.accounts.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def take(self) -> Slot:
        try:
            return self.free.get_nowait()
        except queue.Empty:
            with self.lock, warnings.catch_warnings():
                warnings.simplefilter("ignore", sandbox.IsolationWarning)  # the coordinator says it
                [box] = self.accounts.enter_context(sandbox.sandboxes(1))
            return Slot(box, slots.Worker(self.log))

    def common(self, run: dict, blob: bytes) -> dict:
        """The run's shared job fields on this worker (template, font cache, public files)."""
        with self.lock:
            if run["template_digest"] not in self.runs:
                workdir = self.scratch / run["template_digest"][:16]
                workdir.mkdir(mode=0o700)
                with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
                    tar.extractall(workdir / "template", filter="data")
                template = gradebook.Template(workdir / "template", run["assignment"], run["course_id"])
                self.runs[run["template_digest"]] = slots.job_common(
                    run["course_id"], run["assignment"], template, workdir,
                    slots.Limits(**run["limits"]), run["grading_secret"])
            return self.runs[run["template_digest"]]


def grade_remote(run: dict, blob: bytes, student: str, files: dict[str, bytes]) -> dict:
    """A Dask task: grade one submission on this worker as a local slot would."""
    problem = fingerprint().get("error")
    if problem:
        raise ClusterError(f"worker {get_worker().address} {problem}")
    plugin: Slots = get_worker().plugins[PLUGIN]
    common = plugin.common(run, blob)
    here = plugin.scratch / "j" / uuid.uuid4().hex[:8]  # short: the jail's paths have a limit
    (here / "in").mkdir(parents=True, mode=0o700)
    for name, data in files.items():
        (here / "in" / name).write_bytes(data)
    job = slots.job_for(common, student, here / "in" / f"{run['assignment']}.ipynb", here / "g")
    slot = plugin.take()
    try:
        result, slot.worker = slots.grade_one(slot.worker, slot.box, job,
                                              slots.Limits(**run["limits"]), plugin.log)
        for key, ext in RETURNED:  # only regular files, never through a link (as locally)
            name = f"{run['assignment']}.{ext}"
            if result.get(key):
                slots.copy_regular(Path(result[key]) / name, here / "back" / name)
            back = here / "back" / name
            result[f"{key}_file"] = back.read_bytes() if back.is_file() else None
            result[key] = name
        return result
    finally:
        plugin.free.put(slot)
        shutil.rmtree(here, ignore_errors=True)
