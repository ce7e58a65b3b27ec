"""Isolation for one student's kernel, built from util-linux and the kernel's namespaces.

As root, every kernel starts through ``unshare`` in fresh PID, mount, network, IPC, UTS and
cgroup namespaces, then a short shell script (``JAIL``) builds its view of the machine:

* a new root holding only ``/usr``, ``/etc``, the Python install, the ``course`` library and
  ``datasets/`` cards, all read-only and at their own paths wherever they live (mounted after
  the private ``/tmp``, so a library under ``/tmp`` shows through it); no ``/home``, ``/root``,
  ``/run``, ``/var``, nor the course folders, templates, gradebook, grades or logs;
* a private ``/tmp`` (``HOME`` and the working folder live there) and ``/dev/shm``, each a tmpfs
  of ``scratch_mb``; System V shared memory of its IPC namespace capped alike;
* only loopback networking, and the kernel's channels on unix sockets in a folder only its
  account (and the grader) can open, bind-mounted at ``/ipc``: a tmpfs of ``IPC_KB`` and
  ``IPC_INODES`` (sockets are inodes without data), so no kernel writes to the host's disk;
* a fresh ``/proc`` that shows its own processes only.

Where Linux allows it (cgroup v1's memory controller, or v2's delegated from the root), the
namespace also runs in a memory cgroup of its own, which counts what resident memory does
not: tmpfs, ``memfd`` files, kernel buffers. It then becomes its slot's unprivileged account (``autograder-sb<N>``; a lock file keeps two
runs on one machine from sharing an account) with no capabilities, ``no_new_privs``, a process
cap, and the parent-death signal, and execs the kernel, which is PID 1 of its namespace: when
the kernel dies, or the ``unshare`` that started it is killed, Linux kills every process of the
namespace, whatever it forked. Without root a warning says the kernel has the grader's rights.
"""
from __future__ import annotations

import fcntl
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

USER_PREFIX = "autograder-sb"
LOCK_DIR = Path("/run/autograder")  # root-only: one lock file per sandbox account
PROCESSES = 512  # per account: threads count too (torch, BLAS, the kernel's own)
CGROUP_ROOT = Path("/sys/fs/cgroup")
TOOLS = ("useradd", "unshare", "setpriv", "prlimit", "mount", "chroot")
# the kernel's own folders (on its private /tmp) and socket folder; no host folder may be shown
# there, nor where the jail mounts its own file systems
KERNEL_DIR, KERNEL_IPC = "/tmp/.kernel", "/ipc"
KERNEL_HOME, KERNEL_WORK = f"{KERNEL_DIR}/home", f"{KERNEL_DIR}/work"
RESERVED = (KERNEL_DIR, KERNEL_IPC, "/proc", "/sys", "/dev")

# Runs as root as PID 1 of the new namespaces, builds the kernel's root at $R and execs the
# kernel as the sandbox account. Arguments: R uid gid scratch_mb readonly(colon-separated)
# ipc_dir home_seed work_seed python cgroup, then the kernel command.
JAIL = r'''
set -eu
R=$1 uid=$2 gid=$3 mb=$4 ro=$5 ipc=$6 home_seed=$7 work_seed=$8 py=$9 cg=${10}; shift 10
kdir=@KERNEL_DIR@ home=@KERNEL_HOME@ work=@KERNEL_WORK@
# everything this namespace will hold is charged to the kernel's memory cgroup
[ -z "$cg" ] || echo $$ > "$cg/cgroup.procs"
# the new network namespace has a loopback device only, and it starts down
"$py" -I -S -c 'import fcntl, socket, struct; fcntl.ioctl(socket.socket(), 0x8914, struct.pack("16sH", b"lo", 0x41))'
echo $((mb * 1048576)) > /proc/sys/kernel/shmmax
echo $((mb * 256)) > /proc/sys/kernel/shmall
mount -t tmpfs -o mode=755,size=4m,nosuid,nodev tmpfs "$R"
bind_ro() {
  mkdir -p "$R$1"; mount --bind "$1" "$R$1"; mount -o remount,bind,ro,nosuid,nodev "$R$1"
}
mkdir "$R/proc" "$R/dev" "$R/tmp" "$R/ipc"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t tmpfs -o mode=755,size=64k,nosuid tmpfs "$R/dev"
for n in null zero full random urandom; do touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
ln -s /proc/self/fd "$R/dev/fd"
for i in 0:stdin 1:stdout 2:stderr; do ln -s "/proc/self/fd/${i%%:*}" "$R/dev/${i#*:}"; done
mkdir "$R/dev/shm"
mount -t tmpfs -o mode=1777,size=${mb}m,nosuid,nodev tmpfs "$R/dev/shm"
mount -t tmpfs -o mode=1777,size=${mb}m,nosuid,nodev tmpfs "$R/tmp"
mkdir -m 755 "$R$kdir"
mkdir -m 700 "$R$home" "$R$work"
[ -z "$home_seed" ] || cp -R "$home_seed/." "$R$home/"
[ -z "$work_seed" ] || cp -R "$work_seed/." "$R$work/"
chown -R "$uid:$gid" "$R$home" "$R$work"
# the system, then the course library and Python wherever they live: mounted after the private
# /tmp and /dev/shm, so that a library under /tmp shows on top of them instead of vanishing
for d in /usr /etc /bin /sbin /lib /lib32 /lib64 /libx32; do
  if [ -L "$d" ]; then ln -s "$(readlink "$d")" "$R$d"; elif [ -d "$d" ]; then bind_ro "$d"; fi
done
IFS=:
for d in $ro; do bind_ro "$d"; done
unset IFS
bind_ro /sys
mount --bind "$ipc" "$R/ipc"
mount -o remount,bind,nosuid,nodev,noexec "$R/ipc"
mount -o remount,ro "$R"
exec chroot "$R" prlimit --nproc=$PROCESSES --core=0 -- \
  setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs --inh-caps=-all \
  --bounding-set=-all --pdeathsig SIGKILL -- env -C "$work" "$@"
'''.replace("$PROCESSES", str(PROCESSES)).replace("@KERNEL_DIR@", KERNEL_DIR).replace(
    "@KERNEL_HOME@", KERNEL_HOME).replace("@KERNEL_WORK@", KERNEL_WORK)


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


@dataclass(frozen=True)
class Jail:
    """What one kernel's jail is built from (host paths, all prepared by the grader)."""

    root: Path  # an empty folder to mount the kernel's root on
    ipc: Path  # the kernel's socket folder, owned by the sandbox account
    readonly: tuple[str, ...]  # folders shown read-only at their own paths
    scratch_mb: int  # size of /tmp and of /dev/shm
    home_seed: str = ""  # copied into HOME (e.g. matplotlib's font cache)
    work_seed: str = ""  # copied into the working folder (the assignment's other files)
    cgroup: str = ""  # a memory cgroup to run in (see ``memory_cgroup``)


def isolation_missing() -> str | None:
    """Why kernels cannot be isolated here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "not running as root"
    tools = [t for t in TOOLS if not shutil.which(t)]
    if tools:
        return f"missing {', '.join(tools)} (Debian packages util-linux, mount, passwd, coreutils)"
    probe = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--net", "--ipc", "--uts",
                            "--cgroup", "--propagation", "private", "true"], capture_output=True)
    return (f"namespaces are not allowed here: {probe.stderr.decode().strip()}"
            if probe.returncode else None)


@contextmanager
def sandboxes(count: int) -> Iterator[list[Sandbox]]:
    """``count`` accounts, each held by a lock for the duration and emptied of any process.

    Without root (or namespaces) warns and yields non-isolated sandboxes.
    """
    missing = isolation_missing()
    if missing:
        warnings.warn(f"no isolation ({missing}): student kernels run with the grader's rights and "
                      "could read the hidden tests and write to the gradebook", IsolationWarning,
                      stacklevel=3)
        yield [Sandbox()] * count
        return
    LOCK_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    held: list[tuple[int, Sandbox]] = []
    try:
        index = 0
        while len(held) < count:
            fd = os.open(LOCK_DIR / f"{USER_PREFIX}{index}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another grading run uses this account
                os.close(fd)
            else:
                box = _ensure_user(f"{USER_PREFIX}{index}")
                end(box)  # what a grader killed earlier may have left
                held.append((fd, box))
            index += 1
        yield [box for _, box in held]
    finally:
        for fd, box in held:
            end(box)
            os.close(fd)


def _ensure_user(name: str) -> Sandbox:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", name],
                       check=True, capture_output=True)
        entry = pwd.getpwnam(name)
    return Sandbox(entry.pw_uid, grp.getgrnam(name).gr_gid)


def readonly_paths(package_root: Path) -> tuple[str, ...]:
    """What a kernel may read besides /usr and /etc: Python, the library, the data cards."""
    paths = {str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve())}
    paths |= {str(package_root / name) for name in ("course", "datasets") if (package_root / name).is_dir()}
    mirror = os.environ.get("COURSE_DATA_MIRROR")
    if mirror and Path(mirror).is_dir():
        paths.add(str(Path(mirror).resolve()))
    # a folder inside another is shown through its parent's bind already
    return tuple(sorted(p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths)))


def jailed(cmd: list[str], box: Sandbox, jail: Jail) -> list[str]:
    """``cmd`` wrapped to run in the jail as the sandbox account.

    ``setpriv --pdeathsig`` makes ``unshare`` die with the grading worker; ``--kill-child``
    then kills the namespace's PID 1 (the kernel) and Linux every process left in it.
    """
    for path in (jail.root, jail.ipc):
        if ":" in str(path) or len(str(path)) > 80:
            raise ValueError(f"jail path unusable (over 80 characters or contains ':'): {path}")
    for path in jail.readonly:
        if ":" in path or any(_inside(path, r) for r in RESERVED) and not _inside(path, "/dev/shm"):
            raise ValueError(f"cannot show {path} to kernels: it contains ':' or lies where the "
                             f"jail mounts its own folders ({', '.join(RESERVED)}); move it")
    return ["setpriv", "--pdeathsig", "SIGKILL", "--",
            "unshare", "--mount", "--pid", "--fork", "--kill-child", "--net", "--ipc", "--uts",
            "--cgroup", "--propagation", "private", "--", "/bin/sh", "-c", JAIL, "jail",
            str(jail.root), str(box.uid), str(box.gid), str(jail.scratch_mb),
            ":".join(jail.readonly), str(jail.ipc), jail.home_seed, jail.work_seed,
            sys.executable, jail.cgroup, *cmd]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def kernel_connection(info: dict, ipc: Path, inside: str) -> dict:
    """The kernel's copy of its connection info: the same sockets, seen from inside the jail."""
    return {**info, "key": info["key"].decode() if isinstance(info["key"], bytes) else info["key"],
            "ip": info["ip"].replace(str(ipc), inside, 1)}


def write_private(path: Path, text: str, box: Sandbox) -> None:
    """A file readable by the sandbox account only (and the grader)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    if box.isolated:
        os.chown(path, box.uid, box.gid)


IPC_KB, IPC_INODES = 256, 64  # the socket folder: a connection file and a few sockets


def socket_folder(path: Path, box: Sandbox) -> Path:
    """The folder holding one kernel's unix sockets: its account's only, mode 0700; when
    isolated a tiny tmpfs of its own (``release_socket_folder`` unmounts it)."""
    path.mkdir(mode=0o700)
    if box.isolated:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={IPC_KB}k,nr_inodes={IPC_INODES},"
                        f"mode=0700,uid={box.uid},gid={box.gid},nosuid,nodev,noexec",
                        "autograder-ipc", str(path)], check=True, capture_output=True)
    return path


def release_socket_folder(path: Path) -> None:
    """Unmount a socket folder's tmpfs (lazily: a dying kernel may still hold it)."""
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def memory_cgroup(name: str, limit_mb: float) -> Path | None:
    """A new memory cgroup capped at ``limit_mb`` (no swap) for one kernel, or ``None`` where
    none can be made. Unlike resident memory, it counts tmpfs, ``memfd`` and kernel buffers."""
    for version, parent in _memory_hierarchies():
        path = parent / name
        try:
            path.mkdir()
        except OSError:
            continue
        limit = str(int(limit_mb * 2**20))
        try:
            if version == 2:
                (path / "memory.max").write_text(limit)
                (path / "memory.swap.max").write_text("0")
            else:
                (path / "memory.limit_in_bytes").write_text(limit)
                if (path / "memory.memsw.limit_in_bytes").exists():
                    (path / "memory.memsw.limit_in_bytes").write_text(limit)
            return path
        except OSError:
            path.rmdir()
    return None


def _memory_hierarchies() -> list[tuple[int, Path]]:
    """Where a memory cgroup can be made: under ``/sys/fs/cgroup/autograder`` on cgroup v2
    (the root's memory controller delegated to it), or beside this process on cgroup v1."""
    out = []
    try:
        if "memory" in (CGROUP_ROOT / "cgroup.subtree_control").read_text().split():
            parent = CGROUP_ROOT / "autograder"
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text("+memory")
            out.append((2, parent))
    except OSError:
        pass
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            out.append((1, CGROUP_ROOT / "memory" / path.lstrip("/")))
    return out


def oom_kills(path: Path | None) -> int:
    """How many processes the cgroup's memory limit has killed."""
    for name in ("memory.events", "memory.oom_control"):
        if path is not None and (path / name).exists():
            for line in (path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    return 0


def remove_cgroup(path: Path | None) -> None:
    """Remove an emptied cgroup (Linux may need a moment after its last process)."""
    for _ in range(100):
        if path is None or not path.exists():
            return
        try:
            path.rmdir()
        except OSError:
            time.sleep(0.02)


def end(box: Sandbox, timeout_s: float = 10.0) -> list[str]:
    """Kill every process of the sandbox account and wait until none is left.

    Kernels are PID 1 of their namespace, so killing them ends everything they started;
    the loop only waits for Linux to finish. Returns what could not be killed (normally []).
    """
    if not box.isolated:
        return []
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [p for p in psutil.process_iter(["uids", "name", "status"])
                 if p.info["uids"] and p.info["status"] != psutil.STATUS_ZOMBIE  # nothing left to kill
                 and box.uid in (p.info["uids"].real, p.info["uids"].effective, p.info["uids"].saved)]
        if not alive:
            return []
        if time.monotonic() > deadline:
            return [f"{p.pid} {p.info['name']}" for p in alive]
        for proc in alive:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        time.sleep(0.02)


def kill_tree(pid: int | None) -> None:
    """SIGKILL a process and its descendants (the jail's ``unshare`` and the kernel under it)."""
    if not pid:
        return
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB (a PID namespace's orphans
    are re-parented to its PID 1, the kernel, so they stay in this tree)."""
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
