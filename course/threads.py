"""Thread counts from the CPUs this process may actually use.

Libraries size their thread pools by the machine's cores, but a process often gets fewer:
Binder gives one CPU of a many-core host (a cgroup quota), a shared machine may pin a kernel
to some cores (its affinity mask), and other programs may keep cores busy. More threads than
free CPUs make the same work slower and costlier: the lessons' models are small, so threads
mostly wait for each other, and waiting OpenMP and BLAS threads spin on a CPU (measured on a
busy two-core machine: lesson 03 took four times the CPU with two BLAS threads as with one).
Importing ``course`` therefore calls :func:`configure`, which sets OpenMP, BLAS and torch to
:func:`available_cpus` threads: the smaller of the affinity mask and the cgroup CPU quota,
and of the CPUs the load average leaves idle; and it lets waiting OpenMP threads sleep.

An explicit choice wins: with ``OMP_NUM_THREADS`` set, nothing is changed. ``configure``
costs about a millisecond (two small files read, no library imported).
"""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

__all__ = ["available_cpus", "cgroup_cpu_limit", "idle_cpus", "configure", "SET"]

#: environment variables that size OpenMP and BLAS thread pools (read when a library loads)
POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: what :func:`configure` put in the environment (tools starting other processes drop it)
SET: dict[str, str] = {}


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _v2_limit(folder: Path) -> float | None:
    """CPUs allowed by a cgroup v2 folder's ``cpu.max`` ("quota period" or "max period")."""
    text = _read(folder / "cpu.max")
    if not text or text.split()[0] == "max":
        return None
    quota, period = text.split()[:2]
    return int(quota) / int(period)


def _v1_limit(folder: Path) -> float | None:
    """CPUs allowed by a cgroup v1 folder's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``."""
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    if not quota or not period or int(quota) <= 0:
        return None
    return int(quota) / int(period)


def _up_to(root: Path, path: str) -> list[Path]:
    """``root / path`` and each of its parents up to ``root``: every level's quota applies."""
    folder, chain = root / path.strip("/"), []
    while True:
        chain.append(folder)
        if folder == root or root not in folder.parents:
            return chain
        folder = folder.parent


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup"),
                     membership: Path = Path("/proc/self/cgroup")) -> float | None:
    """The CPUs this process's cgroups allow (the tightest quota on its path), or None.

    Reads cgroup v2 (``cpu.max``) and v1 (``cpu.cfs_quota_us``) as ``membership`` lists them.
    """
    limits = []
    for line in (_read(membership) or "").splitlines():
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and not controllers:  # the v2 unified hierarchy
            limits += [_v2_limit(folder) for folder in _up_to(root, path)]
        elif "cpu" in controllers.split(","):  # v1: mounted under the controllers' names
            for mount in {root / controllers, root / "cpu", root / "cpu,cpuacct"}:
                limits += [_v1_limit(folder) for folder in _up_to(mount, path)]
    limits = [limit for limit in limits if limit]
    return min(limits) if limits else None


def idle_cpus() -> int | None:
    """The machine's CPUs minus its 1-minute load average, rounded; None where unknown."""
    if not hasattr(os, "getloadavg"):
        return None
    return round((os.cpu_count() or 1) - os.getloadavg()[0])


def available_cpus(root: Path = Path("/sys/fs/cgroup"),
                   membership: Path = Path("/proc/self/cgroup"), idle=idle_cpus) -> int:
    """CPUs this process may use: its affinity mask, capped by its cgroup quota and by the
    CPUs other programs leave idle (``idle()``), and at least 1.

    A fractional quota rounds down (1.5 CPUs run one thread without being throttled).
    """
    if hasattr(os, "sched_getaffinity"):
        cpus = len(os.sched_getaffinity(0))
    else:  # macOS, Windows: no affinity mask to read
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_limit(root, membership)
    if quota is not None:
        cpus = min(cpus, math.floor(quota))
    free = idle()
    if free is not None:
        cpus = min(cpus, free)
    return max(1, cpus)


def configure(environ=None) -> int | None:
    """Size thread pools to :func:`available_cpus`; returns the count, or None when
    ``OMP_NUM_THREADS`` was set explicitly (then nothing changes).

    Variables already set are kept. Libraries loaded later read the environment; torch and
    the BLAS and OpenMP libraries already loaded are lowered to the count, never raised (a
    ``torch.set_num_threads(1)`` made before importing ``course`` stands).
    """
    environ = os.environ if environ is None else environ

    def ours(name: str) -> bool:  # set by an earlier call, not by the user
        return name in environ and SET.get(name) == environ[name]

    if environ.get("OMP_NUM_THREADS") and not ours("OMP_NUM_THREADS"):
        return None
    n = available_cpus()
    for name in POOL_VARIABLES:
        if name not in environ or ours(name):
            environ[name] = SET[name] = str(n)
    if "OMP_WAIT_POLICY" not in environ:  # waiting OpenMP threads sleep instead of spinning
        environ["OMP_WAIT_POLICY"] = SET["OMP_WAIT_POLICY"] = "PASSIVE"
    if environ is os.environ:  # libraries already loaded: lower their pools, never raise them
        torch = sys.modules.get("torch")
        if torch is not None and torch.get_num_threads() > n:
            torch.set_num_threads(n)
        if "numpy" in sys.modules:
            from threadpoolctl import ThreadpoolController

            controller = ThreadpoolController()
            if any(pool["num_threads"] > n for pool in controller.info()):
                controller.limit(limits=n)
    return n
