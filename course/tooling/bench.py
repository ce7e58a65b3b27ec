"""Benchmark: run every solution notebook in a fresh kernel, as a student would wait for it.

Each notebook runs twice, each time in its own subprocess: pinned to one core with one
BLAS/torch thread (the budget's condition), and on two cores with the course's automatic
thread setting (:mod:`course.threads`, what a student's kernel gets on a two-core machine:
two threads when both cores are idle, fewer when other programs keep them busy; the table
shows the count chosen).
The parent reads each subprocess tree's CPU time and peak resident memory from ``wait4``.
Timings depend on what else the machine runs: the load average is reported beside them, and
CPU seconds are the figure that does not depend on it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from .. import lessons, threads

__all__ = ["BUDGET_SECONDS", "BUDGET_MB", "MODES", "run_notebook", "bench_all",
           "extra_benchmarks", "one_thread_env", "automatic_env"]

BUDGET_SECONDS = 60.0
BUDGET_MB = 1536.0
#: how each notebook is run: one thread on one core, and the automatic setting on two cores
MODES = ("1 thread", "automatic")


def one_thread_env() -> dict[str, str]:
    """Environment that keeps NumPy, BLAS and torch on one thread."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "TORCH_NUM_THREADS"):
        env[var] = "1"
    env.setdefault("MPLBACKEND", "Agg")
    return env


def automatic_env() -> dict[str, str]:
    """This environment without the thread settings ``course`` made in this process, so that
    the child's own ``import course`` chooses them from the CPUs it may use."""
    env = {k: v for k, v in os.environ.items() if threads.SET.get(k) != v}
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _cores(n: int):
    """A pre-exec hook pinning the child to the first ``n`` cores it may use."""
    def pin() -> None:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
    return pin


def execute(path: Path, timeout: int = 600) -> None:
    """Execute a notebook in place in memory (outputs discarded); raise on any error."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()


def run_notebook(path: Path, mode: str = "1 thread") -> dict:
    """Run one notebook in a subprocess, in one of :data:`MODES`; return its wall time and
    CPU time (s), peak memory (MB) and the cores it could use."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    cores = 1 if mode == "1 thread" else min(2, len(os.sched_getaffinity(0))
                                             if hasattr(os, "sched_getaffinity") else 2)
    env = one_thread_env() if mode == "1 thread" else automatic_env()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "course.tooling.bench", "--execute", str(path)],
                            env=env, preexec_fn=_cores(cores),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    chosen = re.search(r"^threads: (\d+)$", output, re.M)
    return {"notebook": path.parent.name, "mode": mode, "cores": cores,
            "threads": int(chosen.group(1)) if chosen else None,
            "wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_mb": round(usage.ru_maxrss / 1024, 1), "ok": proc.returncode == 0,
            **({} if proc.returncode == 0 else {"error": output[-2000:]})}


def bench_all() -> list[dict]:
    """Benchmark every ready lesson's solution notebook in every mode."""
    return [run_notebook(lessons.solution_path(l.id), mode) for l in lessons.SYLLABUS
            if l.status == "ready" for mode in MODES]


def within_budget(row: dict) -> bool:
    return row["ok"] and row["wall_s"] <= BUDGET_SECONDS and row["peak_mb"] <= BUDGET_MB


def table(rows: list[dict]) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    lines = [f"load average (1, 5, 15 min) at the end: {load}",
             f"{'notebook':<20} {'threads':<14} {'cores':>5} {'wall (s)':>9} {'CPU (s)':>8} "
             f"{'peak (MB)':>10}  verdict",
             f"{'budget':<20} {'':<14} {'':>5} {BUDGET_SECONDS:>9.0f} {'':>8} {BUDGET_MB:>10.0f}"]
    for r in rows:
        verdict = "ok" if within_budget(r) else ("FAILED TO RUN" if not r["ok"] else "OVER BUDGET")
        mode = r["mode"] if r["mode"] == "1 thread" else f"{r['mode']} ({r['threads']})"
        lines.append(f"{r['notebook']:<20} {mode:<14} {r['cores']:>5} {r['wall_s']:>9.1f} "
                     f"{r['cpu_s']:>8.1f} {r['peak_mb']:>10.0f}  {verdict}")
    return "\n".join(lines)


def extra_benchmarks() -> dict[str, dict]:
    """The ready lessons' own benchmarks (named in the syllabus), each on one thread."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    out = {}
    with threadpool_limits(1):
        for lesson in lessons.SYLLABUS:
            if lesson.status == "ready":
                for name, target in lesson.benchmarks.items():
                    out[name] = lessons.load(target)()
    return out


def main(as_json: bool) -> int:
    rows = bench_all()
    extras = extra_benchmarks()
    if as_json:
        load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        print(json.dumps({"load_average": load, "notebooks": rows, **extras}, indent=2))
    else:
        print(table(rows))
        for name, result in extras.items():
            print(f"\n{name}: {result.get('summary') or json.dumps(result)}")
        for r in rows:
            if not r["ok"]:
                print(f"\n--- {r['notebook']} failed ---\n{r['error']}", file=sys.stderr)
    return 0 if all(within_budget(r) for r in rows) else 1


if __name__ == "__main__" and sys.argv[1:2] == ["--execute"]:
    print(f"threads: {os.environ['OMP_NUM_THREADS']}", flush=True)  # what `import course` chose
    execute(Path(sys.argv[2]))
