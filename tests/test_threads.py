"""course.threads: thread pools sized to the CPUs a process may actually use."""
import os
import subprocess
import sys

import pytest

from course import threads


def fake_cgroups(tmp_path, membership: str, files: dict[str, str]):
    """A /sys/fs/cgroup tree with ``files`` (path -> text) and a /proc/self/cgroup."""
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    root.mkdir(exist_ok=True)
    (tmp_path / "self-cgroup").write_text(membership)
    return root, tmp_path / "self-cgroup"


def test_v2_quota_in_a_container(tmp_path):
    root, member = fake_cgroups(tmp_path, "0::/\n", {"cpu.max": "100000 100000\n"})
    assert threads.cgroup_cpu_limit(root, member) == 1.0


def test_v2_tightest_quota_on_the_path_wins(tmp_path):
    root, member = fake_cgroups(tmp_path, "0::/kubepods/pod1/box\n", {
        "kubepods/cpu.max": "max 100000\n",
        "kubepods/pod1/cpu.max": "150000 100000\n",
        "kubepods/pod1/box/cpu.max": "400000 100000\n"})
    assert threads.cgroup_cpu_limit(root, member) == 1.5
    assert threads.available_cpus(root, member, idle=lambda: None) == 1, (
        "1.5 CPUs run one unthrottled thread")


def test_no_quota_means_the_affinity_mask(tmp_path):
    root, member = fake_cgroups(tmp_path, "0::/\n", {"cpu.max": "max 100000\n"})
    assert threads.cgroup_cpu_limit(root, member) is None
    assert threads.available_cpus(root, member, idle=lambda: None) == len(os.sched_getaffinity(0))


def test_busy_cpus_are_not_counted(tmp_path):
    root, member = fake_cgroups(tmp_path, "0::/\n", {"cpu.max": "max 100000\n"})
    mask = len(os.sched_getaffinity(0))
    assert threads.available_cpus(root, member, idle=lambda: mask + 5) == mask
    assert threads.available_cpus(root, member, idle=lambda: 1) == 1, "others keep the rest busy"
    assert threads.available_cpus(root, member, idle=lambda: -3) == 1, "never fewer than one"


def test_missing_files_mean_no_quota(tmp_path):
    assert threads.cgroup_cpu_limit(tmp_path / "nothing", tmp_path / "none") is None


def test_v1_quota(tmp_path):
    root, member = fake_cgroups(tmp_path, "4:cpu,cpuacct:/docker/abc\n1:memory:/docker/abc\n", {
        "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "50000\n",
        "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
        "cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    assert threads.cgroup_cpu_limit(root, member) == 0.5
    assert threads.available_cpus(root, member, idle=lambda: None) == 1, "never fewer than one thread"


def test_configure_fills_the_environment_and_keeps_what_is_set(monkeypatch):
    monkeypatch.setattr(threads, "SET", {})
    monkeypatch.setattr(threads, "available_cpus", lambda: 3)
    env = {"MKL_NUM_THREADS": "7"}
    assert threads.configure(env) == 3
    assert env == {"OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3", "MKL_NUM_THREADS": "7",
                   "OMP_WAIT_POLICY": "PASSIVE"}
    assert threads.configure({"OMP_NUM_THREADS": "2"}) is None, "an explicit setting wins"


@pytest.mark.parametrize("pinned,explicit", [(1, None), (2, None), (2, "1")])
def test_a_kernel_importing_course_gets_one_torch_thread_per_free_cpu(pinned, explicit):
    if len(os.sched_getaffinity(0)) < pinned:
        pytest.skip(f"needs {pinned} CPUs")  # a 1-CPU machine cannot show the 2-CPU case
    env = {k: v for k, v in os.environ.items() if threads.SET.get(k) != v}
    env.pop("OMP_NUM_THREADS", None)
    if explicit:
        env["OMP_NUM_THREADS"] = explicit
    cpus = sorted(os.sched_getaffinity(0))[:pinned]
    code = ("import numpy, course, torch; from threadpoolctl import threadpool_info; "
            "from course.threads import idle_cpus; "
            "print(torch.get_num_threads(), max(p['num_threads'] for p in threadpool_info()), idle_cpus())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         preexec_fn=lambda: os.sched_setaffinity(0, cpus), check=True).stdout.split()
    expected = int(explicit) if explicit else max(1, min(pinned, int(out[2])))
    assert out[:2] == [str(expected), str(expected)], f"torch, BLAS threads and idle CPUs: {out}"
