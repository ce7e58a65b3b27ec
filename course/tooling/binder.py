"""Binder readiness: memory of a never-restarted kernel, offline runs, the environment's size.

``python -m course.tooling.binder memory``  runs every ready lesson's solution notebook top to bottom in
    ONE kernel, as a Binder student who never restarts would (one CPU, one thread), and reports
    each lesson's peak resident memory. Binder gives 1-2 GB; the limit checked is 2 GB.
    ``--offline`` (the default; ``--online`` turns it off) also hides the real-data mirror,
    points every data cache at an empty folder and refuses any network connection from the
    kernel, as on a first run without internet.
``python -m course.tooling.binder envsize``  installs environment.yml's package set into a scratch
    venv (with constraints.txt, so torch is the CPU wheel) and reports its size on disk.

The kernel's peak is read from Linux's ``VmHWM`` (reset per lesson through
``/proc/<pid>/clear_refs`` where allowed) and, for its child processes, by sampling.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .. import lessons
from .bench import one_thread_env

__all__ = ["LIMIT_MB", "offline_env", "OFFLINE_PREAMBLE", "run_in_one_kernel", "environment_size",
           "main"]

LIMIT_MB = 2048.0

# Run in the kernel before the first lesson: no connection leaves the machine.
OFFLINE_PREAMBLE = r'''
import socket as _course_socket
_COURSE_LOCAL = {None, "localhost", "127.0.0.1", "::1", "0.0.0.0", ""}
def _course_refuse(*args, **kwargs):
    raise OSError(101, "Network is unreachable (course offline run)")
_course_getaddrinfo = _course_socket.getaddrinfo
def _course_offline_getaddrinfo(host, *args, **kwargs):
    if host not in _COURSE_LOCAL:
        raise _course_socket.gaierror(-3, "Temporary failure in name resolution (course offline run)")
    return _course_getaddrinfo(host, *args, **kwargs)
_course_socket.getaddrinfo = _course_offline_getaddrinfo
_course_connect = _course_socket.socket.connect
_course_connect_ex = _course_socket.socket.connect_ex
def _course_is_remote(sock, address):
    return (sock.family in (_course_socket.AF_INET, _course_socket.AF_INET6)
            and isinstance(address, tuple) and address[0] not in _COURSE_LOCAL
            and not str(address[0]).startswith("127."))
def _course_offline_connect(self, address):
    if _course_is_remote(self, address):
        _course_refuse()
    return _course_connect(self, address)
def _course_offline_connect_ex(self, address):
    if _course_is_remote(self, address):
        return 101
    return _course_connect_ex(self, address)
_course_socket.socket.connect = _course_offline_connect
_course_socket.socket.connect_ex = _course_offline_connect_ex
'''


def course_env_names() -> set[str]:
    """Every ``COURSE_*`` environment variable the course library reads."""
    names: set[str] = set()
    for path in Path(__file__).parent.glob("*.py"):
        names |= set(re.findall(r"\bCOURSE_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
    return names


def offline_env(base: dict[str, str], empty_dir: Path, keep_data: bool = False) -> dict[str, str]:
    """``base`` with no proxy out; unless ``keep_data``, also without the data mirror and with
    every cache in ``empty_dir`` (a first run without internet)."""
    env = dict(base)
    if not keep_data:
        env = {k: v for k, v in env.items() if "MIRROR" not in k or not k.startswith("COURSE_")}
        for name in course_env_names():
            if "MIRROR" in name:
                env.pop(name, None)
            elif re.search(r"CACHE|DATA_?DIR|DATA_?HOME|DATA_?ROOT", name):
                env[name] = str(empty_dir)
        env["XDG_CACHE_HOME"] = str(empty_dir)
    dead = "http://127.0.0.1:9"      # nothing listens there: any download fails at once
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        env[var] = dead
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost,::1"    # loopback stays direct
    return env


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else 0.0


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (MB)."""
    try:
        import psutil
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 2**20
    except Exception:
        return _rss_mb(pid)


def _reset_peak(pid: int) -> bool:
    """Reset the kernel's VmHWM (Linux >= 4.0); False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class _Sampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak, self._halt = pid, every, 0.0, threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, _tree_rss_mb(self.pid))
            self._halt.wait(self.every)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak


def _as_output(msg: dict):
    """The notebook output (nbformat v4) an iopub message adds to its cell, or None.

    ``clear_output`` is not applied: the kernel sends it for a widget's own output area
    (``ipywidgets.interactive`` clears its figure before drawing), not for the cell's.
    """
    from nbformat.v4 import new_output

    kind, content = msg["header"]["msg_type"], msg["content"]
    if kind == "stream":
        return new_output("stream", name=content["name"], text=content["text"])
    if kind == "display_data":
        return new_output(kind, data=content["data"], metadata=content.get("metadata", {}))
    if kind == "execute_result":
        return new_output(kind, data=content["data"], metadata=content.get("metadata", {}),
                          execution_count=content.get("execution_count"))
    if kind == "error":
        return new_output(kind, ename=content["ename"], evalue=content["evalue"],
                          traceback=content["traceback"])
    return None


def _append(outputs: list, out) -> None:
    """Add an output to a cell's list; consecutive text on one stream joins, as in Jupyter."""
    last = outputs[-1] if outputs else None
    if (out.output_type == "stream" and last is not None and last.output_type == "stream"
            and last.name == out.name):
        last.text += out.text
    else:
        outputs.append(out)


def run_in_one_kernel(lesson_ids: list[str] | None = None, offline: bool = True,
                      one_cpu: bool = True, timeout: int = 900, log=print,
                      keep_data: bool = False, keep_outputs: bool = False) -> list[dict]:
    """Run solution notebooks top to bottom in one kernel; one row per lesson.

    Each row: lesson, ok, wall_s, peak_mb (the kernel's peak during that lesson), rss_end_mb,
    cumulative_peak_mb, data_notes (printed lines about data/offline) and error (if any).
    ``offline`` refuses every connection off the machine and, unless ``keep_data``, hides the
    data mirror and caches too. ``keep_outputs`` adds ``notebook``: the lesson executed, with
    its outputs (figures included), as Jupyter would save it.
    """
    import nbformat
    from jupyter_client.manager import KernelManager

    ids = lesson_ids or [l.id for l in lessons.SYLLABUS if l.status == "ready"]
    empty = Path(tempfile.mkdtemp(prefix="course-offline-"))
    env = one_thread_env() if one_cpu else dict(os.environ)
    env.pop("MPLBACKEND", None)       # the student's kernel draws inline, as in JupyterLab
    if offline:
        env = offline_env(env, empty, keep_data=keep_data)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(lessons.ROOT))
    pid = km.provisioner.process.pid
    if one_cpu and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, {min(os.sched_getaffinity(0))})
    kc = km.client()
    kc.start_channels()
    rows: list[dict] = []
    try:
        kc.wait_for_ready(timeout=120)

        def run(code: str, texts: list[str], cell=None) -> dict | None:
            """Execute ``code``; with a notebook ``cell``, record its outputs and count there."""
            error: dict = {}

            def hook(msg):
                kind, content = msg["header"]["msg_type"], msg["content"]
                if cell is not None and (out := _as_output(msg)) is not None:
                    _append(cell.outputs, out)
                if kind == "stream":
                    texts.append(content["text"])
                elif kind in ("display_data", "execute_result"):
                    texts.append(content.get("data", {}).get("text/plain", ""))
                elif kind == "error":
                    error.update(ename=content["ename"], evalue=content["evalue"])

            reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook,
                                           allow_stdin=False)
            if cell is not None:
                cell.execution_count = reply["content"].get("execution_count")
            if reply["content"]["status"] != "ok":
                return error or {"ename": reply["content"].get("ename", "?"),
                                 "evalue": reply["content"].get("evalue", "")}
            return None

        if offline:
            assert run(OFFLINE_PREAMBLE, []) is None, "the offline preamble failed"
        for lesson_id in ids:
            path = lessons.solution_path(lesson_id)
            nb = nbformat.read(str(path), as_version=4)
            texts: list[str] = []
            exact = _reset_peak(pid)
            sampler = _Sampler(pid)
            sampler.start()
            start = time.perf_counter()
            error = run(f"import os; os.chdir({str(path.parent)!r})", texts)
            for cell in nb.cells:
                if error or cell.cell_type != "code" or not cell.source.strip():
                    continue
                error = run(cell.source, texts, cell if keep_outputs else None)
                if error:
                    error["cell"] = cell.source[:120]
            wall = time.perf_counter() - start
            sampled = sampler.stop()
            hwm = _rss_mb(pid, "VmHWM")
            peak = max(hwm, sampled) if exact else max(sampled, 0.0)
            notes = sorted({line.strip() for t in texts for line in t.splitlines()
                            if re.search(r"offline|internet|download|mirror|real data|dataset",
                                         line, re.I) and len(line.strip()) > 20})
            rows.append({"lesson": lesson_id, "ok": error is None, "wall_s": round(wall, 1),
                         "peak_mb": round(peak, 1),
                         "rss_end_mb": round(_tree_rss_mb(pid), 1),
                         "cumulative_peak_mb": round(max([peak] + [r["peak_mb"] for r in rows]), 1),
                         "peak_exact": exact, "data_notes": notes[:5],
                         **({"error": error} if error else {}),
                         **({"notebook": nb} if keep_outputs else {})})
            log(_row_text(rows[-1]))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        shutil.rmtree(empty, ignore_errors=True)
    return rows


def _row_text(r: dict) -> str:
    verdict = ("FAILED: " + f"{r['error']['ename']}: {r['error']['evalue'][:200]}"
               if not r["ok"] else ("ok" if r["peak_mb"] < LIMIT_MB else "OVER 2 GB"))
    return (f"{r['lesson']:<20} {r['wall_s']:>8.1f} {r['peak_mb']:>10.0f} {r['rss_end_mb']:>11.0f}"
            f"  {verdict}")


def _reachable(url: str, timeout: float = 5.0) -> bool:
    import socket
    import urllib.parse

    parts = urllib.parse.urlparse(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def environment_size(keep: bool = False) -> dict:
    """Install environment.yml's pip packages into a scratch venv; report its size (MB)."""
    import yaml

    root = lessons.ROOT
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    packages = [line for line in pip if not line.startswith("-")]
    index = [arg for line in pip if line.startswith("-") for arg in line.split()]
    venv = Path(tempfile.mkdtemp(prefix="course-envsize-")) / "env"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check", "-c", str(root / "constraints.txt"), *packages]
    # environment.yml names PyTorch's CPU index; without a route to it (an offline machine
    # with a local wheel mirror) the same pinned +cpu wheel comes from pip's configured index
    used_index = bool(index) and all(_reachable(arg) for arg in index if "://" in arg)
    proc = subprocess.run(cmd + (index if used_index else []), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install failed:\n{proc.stderr[-2000:]}")
    site = next((venv / "lib").glob("python*/site-packages"))
    sizes = {}
    for pkg in site.iterdir():
        if pkg.is_dir():
            sizes[pkg.name] = sum(f.stat().st_size for f in pkg.rglob("*") if f.is_file())
    total = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
    freeze = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True).stdout
    listed = {p["name"].lower(): p["version"] for p in json.loads(freeze or "[]")}
    cuda = sorted(n for n in listed if re.search(r"nvidia|cuda|triton", n))
    top = sorted(sizes.items(), key=lambda kv: -kv[1])[:8]
    result = {"venv_mb": round(total / 2**20), "packages": len(listed),
              "torch": listed.get("torch"), "cuda_packages": cuda,
              "largest_mb": {k: round(v / 2**20) for k, v in top},
              "install_s": round(time.perf_counter() - start), "used_pytorch_index": used_index,
              "path": str(venv) if keep else None}
    if not keep:
        shutil.rmtree(venv.parent, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course.tooling.binder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    mem = sub.add_parser("memory", help="peak memory per lesson in one never-restarted kernel")
    mem.add_argument("--online", action="store_true", help="keep the data mirror and network")
    mem.add_argument("--all-cpus", action="store_true", help="do not pin to one CPU and thread")
    mem.add_argument("--json", action="store_true")
    size = sub.add_parser("envsize", help="size of environment.yml's packages, installed")
    size.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    if args.what == "memory":
        if not args.json:
            print(f"Every ready lesson's solution in ONE kernel, "
                  f"{'offline' if not args.online else 'online'}, "
                  f"{'one CPU, one thread' if not args.all_cpus else 'all CPUs'}; limit 2048 MB\n"
                  f"{'lesson':<20} {'wall (s)':>8} {'peak (MB)':>10} {'end (MB)':>11}  verdict",
                  flush=True)
        rows = run_in_one_kernel(offline=not args.online, one_cpu=not args.all_cpus,
                                 log=(lambda *_: None) if args.json else
                                 (lambda s: print(s, flush=True)))
        if args.json:
            print(json.dumps({"limit_mb": LIMIT_MB, "lessons": rows}, indent=2))
        else:
            top = max((r["peak_mb"] for r in rows), default=0)
            print(f"\nPeak of the never-restarted kernel: {top:.0f} MB "
                  f"({'under' if top < LIMIT_MB else 'OVER'} the 2 GB of a Binder session)")
            for r in rows:
                for note in r["data_notes"]:
                    print(f"  {r['lesson']}: {note}")
        return 0 if rows and all(r["ok"] and r["peak_mb"] < LIMIT_MB for r in rows) else 1

    result = environment_size()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"environment.yml's packages installed: {result['venv_mb']} MB on disk "
              f"({result['packages']} distributions, torch {result['torch']}, "
              f"CUDA packages: {result['cuda_packages'] or 'none'}; install took "
              f"{result['install_s']} s)")
        for name, mb in result["largest_mb"].items():
            print(f"  {name:<30} {mb:>6} MB")
    return 0 if not result["cuda_packages"] else 1


if __name__ == "__main__":
    sys.exit(main())
