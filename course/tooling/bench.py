"""Benchmark: run every solution notebook in a fresh kernel on one CPU thread.

Each notebook runs in its own subprocess pinned to one core with one BLAS/torch thread;
the parent reads the subprocess tree's peak resident memory from ``wait4``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .. import lessons

__all__ = ["BUDGET_SECONDS", "BUDGET_MB", "run_notebook", "bench_all", "extra_benchmarks",
           "one_thread_env"]

BUDGET_SECONDS = 60.0
BUDGET_MB = 1536.0


def one_thread_env() -> dict[str, str]:
    """Environment that keeps NumPy, BLAS and torch on one thread."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "TORCH_NUM_THREADS"):
        env[var] = "1"
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def execute(path: Path, timeout: int = 600) -> None:
    """Execute a notebook in place in memory (outputs discarded); raise on any error."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()


def run_notebook(path: Path) -> dict:
    """Run one notebook in a pinned subprocess; return wall time (s) and peak memory (MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "course.tooling.bench", "--execute", str(path)],
                            env=one_thread_env(), preexec_fn=_pin_to_one_core,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    return {"notebook": path.parent.name, "wall_s": round(wall, 2),
            "peak_mb": round(usage.ru_maxrss / 1024, 1), "ok": proc.returncode == 0,
            **({} if proc.returncode == 0 else {"error": output[-2000:]})}


def bench_all() -> list[dict]:
    """Benchmark every ready lesson's solution notebook."""
    return [run_notebook(lessons.solution_path(l.id)) for l in lessons.SYLLABUS
            if l.status == "ready"]


def within_budget(row: dict) -> bool:
    return row["ok"] and row["wall_s"] <= BUDGET_SECONDS and row["peak_mb"] <= BUDGET_MB


def table(rows: list[dict]) -> str:
    lines = [f"{'notebook':<20} {'wall (s)':>9} {'peak (MB)':>10}  verdict",
             f"{'budget':<20} {BUDGET_SECONDS:>9.0f} {BUDGET_MB:>10.0f}"]
    for r in rows:
        verdict = "ok" if within_budget(r) else ("FAILED TO RUN" if not r["ok"] else "OVER BUDGET")
        lines.append(f"{r['notebook']:<20} {r['wall_s']:>9.1f} {r['peak_mb']:>10.0f}  {verdict}")
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
        print(json.dumps({"notebooks": rows, **extras}, indent=2))
    else:
        print(table(rows))
        for name, result in extras.items():
            print(f"\n{name}: {result.get('summary') or json.dumps(result)}")
        for r in rows:
            if not r["ok"]:
                print(f"\n--- {r['notebook']} failed ---\n{r['error']}", file=sys.stderr)
    return 0 if all(within_budget(r) for r in rows) else 1


if __name__ == "__main__" and sys.argv[1:2] == ["--execute"]:
    execute(Path(sys.argv[2]))
