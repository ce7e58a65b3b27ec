"""The judge: a trusted process of the grader that runs a notebook's graded test cells.

Under grading no test cell runs in the student's kernel. ``execute.GuardedExecute`` sends each
one's source, read from the gradebook (never from the submission), to this process, which
runs it with the course library *as installed here*: expected values, comparisons, hidden data
(lesson 07's unseen worlds) and messages never exist in the kernel. A test cell reaches the
student's code only through ``course.checks.student_function``; each call comes here as a
``call`` frame, the grader relays it to the kernel as plain data (``course.plaindata``) and
relays the kernel's answer back. Whatever the kernel sends is data: decoding refuses anything
else, so nothing a submission patches, reads or returns can change a verdict or see a test.

A grading process keeps one judge per assignment for all the notebooks it grades (see
``execute.GuardedExecute._shared_judge``); each test cell runs in a fresh namespace. The protocol is
frames on two pipes (``write_frame``/``read_frame``): a JSON header and raw buffers.

grader -> judge: ``start`` (assignment, secret, modules to import), ``run`` (a cell),
``reply`` (the kernel's answer to a call).
judge -> grader: ``ready``, ``call`` (a student function, its inputs), ``done`` (the cell's
printed output, its error if it failed, what it recorded, how many calls it made).
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import select
import struct
import subprocess
import sys
import time
import traceback
from typing import BinaryIO

MAX_HEADER = 64 * 2**20  # bytes of a frame's JSON header
MAX_BUFFERS = 1024  # buffers of one frame
MAX_FRAME_BYTES = 2**31  # all buffers of one frame (a kernel's reply is capped before this)


class FrameError(RuntimeError):
    """A malformed frame: the other side is broken."""


def write_frame(fh: BinaryIO, header: dict, buffers: list[bytes] = ()) -> None:
    head = json.dumps({**header, "nbuf": len(buffers)}).encode()
    fh.write(struct.pack(">I", len(head)) + head)
    for buf in buffers:
        fh.write(struct.pack(">Q", len(buf)))
        fh.write(buf)
    fh.flush()


def read_frame(fh: BinaryIO) -> tuple[dict, list[bytes]]:
    """One frame; ``EOFError`` when the other side closed the pipe."""
    size = _exactly(fh, 4)
    (length,) = struct.unpack(">I", size)
    if length > MAX_HEADER:
        raise FrameError(f"a frame header of {length} bytes")
    header = json.loads(_exactly(fh, length))
    count = header.pop("nbuf", 0)
    if not isinstance(count, int) or not 0 <= count <= MAX_BUFFERS:
        raise FrameError("a frame with a bad buffer count")
    buffers, total = [], 0
    for _ in range(count):
        (n,) = struct.unpack(">Q", _exactly(fh, 8))
        total += n
        if total > MAX_FRAME_BYTES:
            raise FrameError("a frame over the size limit")
        buffers.append(_exactly(fh, n))
    return header, buffers


def _exactly(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise EOFError("the other side closed the pipe")
    return data


# --- the grader's side -------------------------------------------------------------------------

class Process:
    """A judge process for one notebook, started at once (its imports overlap the kernel's
    start); frames go in on one pipe and come out on another that no kernel ever inherits."""

    def __init__(self, env: dict, assignment: str, secret: str, modules: list[str]):
        judge_reads, grader_writes = os.pipe()
        grader_reads, judge_writes = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.judge", str(judge_reads), str(judge_writes)],
            pass_fds=(judge_reads, judge_writes), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            env=env)  # in the grader's process group: a grader killed takes its judge along
        os.close(judge_reads)
        os.close(judge_writes)
        self.inbox, self.outbox = os.fdopen(grader_reads, "rb"), os.fdopen(grader_writes, "wb")
        self._ready = False
        write_frame(self.outbox, {"op": "start", "assignment": assignment, "secret": secret,
                                  "modules": modules})

    def alive(self) -> bool:
        return self.proc.poll() is None and not self.outbox.closed

    def ready(self, timeout: float) -> None:
        if not self._ready:
            frame = self.receive(timeout)
            if frame is None or frame[0].get("op") != "ready":
                raise FrameError("the judge did not start")
            self._ready = True

    def send(self, header: dict, buffers: list[bytes] = ()) -> None:
        write_frame(self.outbox, header, buffers)

    def receive(self, timeout: float) -> tuple[dict, list[bytes]] | None:
        """The next frame, or None if none began within ``timeout`` seconds."""
        ready, _, _ = select.select([self.inbox], [], [], timeout)
        return read_frame(self.inbox) if ready else None

    def close(self) -> None:
        for fh in (self.outbox, self.inbox):
            with contextlib.suppress(OSError):
                fh.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- the judge's side ---------------------------------------------------------------------------

class Channel:
    """``course.checks``' transport inside the judge: student calls become ``call`` frames."""

    def __init__(self, inbox: BinaryIO, outbox: BinaryIO, secret: str, assignment: str):
        self.inbox, self.outbox = inbox, outbox
        self.secret, self.assignment = secret, assignment
        self.records: dict = {}
        self.calls = 0

    def call(self, target: dict, node: dict, buffers: list[bytes], request: dict):
        self.calls += 1
        write_frame(self.outbox, {"op": "call", "target": target, "args": node, "request": request},
                    buffers)
        header, back = read_frame(self.inbox)
        if header.get("op") != "reply":
            raise FrameError(f"expected a reply, got {header.get('op')!r}")
        return header["reply"], back

    def seeds(self, name: str, n: int) -> list[int]:
        from .secret import seeds

        return seeds(self.secret, self.assignment, name, n)

    def record(self, name: str, value) -> None:
        self.records[name] = json.loads(json.dumps(value, allow_nan=True))  # plain JSON only


def run_cell(channel: Channel, cell: str, source: str, count: int) -> dict:
    """Run one test cell in a fresh namespace; its printed output and error, if any."""
    filename = f"<test cell {cell}>"
    out, err = io.StringIO(), io.StringIO()
    channel.records, channel.calls = {}, 0
    start = time.perf_counter()
    error = None
    namespace = {"__name__": "__main__"}
    try:
        code = compile(source, filename, "exec")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            exec(code, namespace)  # noqa: S102 - the instructor's test, from the gradebook
    except (FrameError, EOFError):
        raise
    except BaseException as exc:  # noqa: BLE001 - a failed test is an answer, not a crash
        error = _describe(exc, filename, count)
    return {"op": "done", "stdout": out.getvalue(), "stderr": err.getvalue(), "error": error,
            "records": channel.records, "calls": channel.calls,
            "seconds": round(time.perf_counter() - start, 4)}


def _describe(exc: BaseException, filename: str, count: int) -> dict:
    """The error as a notebook shows it: where in the test cell, as ``Cell In[n], line k``
    (the feedback tells visible from hidden tests by that line; the code itself is not quoted),
    then the student's own traceback when the error came from their function."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    lines = [f"Cell In[{count}], line {f.lineno}" for f in frames]
    trace = getattr(exc, "student_trace", None)
    if trace:
        lines += ["Traceback in your function (it ran in your kernel):", *trace]
    name = type(exc).__name__
    lines.append(f"{name}: {exc}")
    return {"ename": name, "evalue": str(exc), "traceback": lines}


def serve(inbox: BinaryIO, outbox: BinaryIO) -> None:
    """Run test cells as the grader sends them, until it closes the pipe."""
    import course.checks

    header, _ = read_frame(inbox)
    if header.get("op") != "start":
        raise FrameError("the first frame must be start")
    channel = Channel(inbox, outbox, header["secret"], header["assignment"])
    for name in header.get("modules", []):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    course.checks._judge_with(channel)
    write_frame(outbox, {"op": "ready"})
    while True:
        try:
            header, _ = read_frame(inbox)
        except EOFError:
            return
        if header.get("op") != "run":
            raise FrameError(f"expected a cell to run, got {header.get('op')!r}")
        write_frame(outbox, run_cell(channel, header["cell"], header["source"], header["count"]))


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    serve(os.fdopen(int(sys.argv[1]), "rb"), os.fdopen(int(sys.argv[2]), "wb"))
