"""Binder readiness: the launch URL, the environment, the Jupyter settings, and a student's
never-restarted kernel running every lesson within Binder's 2 GB.

The figures for the report come from ``python -m course.tooling.binder memory`` and ``envsize``
(``make binder-check``, offline by default); the test here reads the same one-kernel run
that also checks every solution runs top to bottom (``one_kernel`` in tests/conftest.py).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import urllib.parse

import yaml

from conftest import READY, ROOT
from course.tooling import binder, lab


def env_yml() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def pip_section() -> list[str]:
    return next(d["pip"] for d in env_yml()["dependencies"] if isinstance(d, dict) and "pip" in d)


def split(requirement: str) -> tuple[str, str]:
    name = re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-"), requirement.strip()[len(name):].replace(" ", "")


def test_binder_url_opens_lesson_00_in_jupyterlab():
    readme = (ROOT / "README.md").read_text()
    urls = re.findall(r"https://mybinder\.org/v2/gh/[^)\s]+", readme)
    assert urls, "README.md has no mybinder.org launch URL"
    for url in urls:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
        target = query.get("urlpath", [""])[0]
        assert target.startswith("lab/tree/"), (
            f"the Binder URL opens {target!r}, not JupyterLab's lab/tree/...: {url}")
        path = ROOT / target.removeprefix("lab/tree/")
        assert path == ROOT / "lessons" / "00_orientation" / "00_orientation.ipynb", (
            f"the Binder URL opens {target!r}, expected lessons/00_orientation/00_orientation.ipynb")
        assert path.exists(), f"the Binder URL opens {target!r}, which is not in the repository"


def test_environment_versions_match_pyproject_and_stay_cpu_only():
    project = dict(split(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())
                   ["project"]["dependencies"])
    packages = dict(split(p) for p in pip_section() if not p.startswith("-"))
    assert packages.keys() == project.keys(), (
        f"environment.yml and pyproject.toml name different packages: only in environment.yml "
        f"{sorted(packages.keys() - project.keys())}, only in pyproject.toml "
        f"{sorted(project.keys() - packages.keys())}")
    for name, spec in packages.items():
        expected = project[name] + ("+cpu" if name == "torch" else "")
        assert spec == expected, (
            f"{name}: environment.yml asks for {spec!r}, pyproject.toml for {project[name]!r}")
    indexes = [line for line in pip_section() if line.startswith("-")]
    assert indexes == ["--extra-index-url https://download.pytorch.org/whl/cpu"], (
        f"the only extra index must be PyTorch's CPU index, found {indexes}")
    conda = [d for d in env_yml()["dependencies"] if isinstance(d, str)]
    heavy = [d for d in conda if re.match(r"(py)?torch|cuda|cudnn|nvidia|nccl|magma", d, re.I)]
    assert not heavy, f"conda packages that would pull torch or CUDA builds: {heavy}"
    channels = env_yml().get("channels", [])
    assert not any(re.search(r"nvidia|pytorch", c) for c in channels), (
        f"channels that serve CUDA builds: {channels}")


def test_postbuild_is_needed_and_installs_the_course_and_its_jupyter_settings():
    post = (ROOT / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post, (
        "postBuild must make `import course` work from the lessons (an editable install, no deps)")
    assert "tools/install_jupyter_config.py" in post, (
        "postBuild must install the course's Jupyter settings (no news pop-up on Binder)")
    assert not re.search(r"pip install (?!--no-deps)", post), (
        "postBuild must not install dependencies: environment.yml owns them (CPU-only torch)")


def test_jupyter_settings_silence_news_everywhere(tmp_path):
    overrides = json.loads((lab.CONFIG_DIR / "labconfig" / "default_setting_overrides.json").read_text())
    note = overrides["@jupyterlab/apputils-extension:notification"]
    assert note == {"fetchNews": "false", "checkForUpdates": False}, (
        f"the notification settings must turn news and update checks off: {note}")
    labapp = json.loads((lab.CONFIG_DIR / "jupyter_lab_config.json").read_text())["LabApp"]
    assert labapp["news_url"] is None, "LabApp.news_url must be null (no news feed)"
    env = lab.lab_env({"JUPYTER_CONFIG_PATH": "/elsewhere"})
    assert env["JUPYTER_CONFIG_PATH"].split(":")[0] == str(lab.CONFIG_DIR), (
        f"make lab must put jupyter/ first on JUPYTER_CONFIG_PATH: {env['JUPYTER_CONFIG_PATH']}")
    (tmp_path / "etc" / "jupyter").mkdir(parents=True)
    (tmp_path / "etc" / "jupyter" / "jupyter_lab_config.json").write_text(
        json.dumps({"LabApp": {"default_url": "/lab"}}))
    subprocess.run([sys.executable, str(ROOT / "tools" / "install_jupyter_config.py"),
                    "--prefix", str(tmp_path)], check=True, capture_output=True)
    merged = json.loads((tmp_path / "etc" / "jupyter" / "jupyter_lab_config.json").read_text())
    assert merged["LabApp"] == {"default_url": "/lab", **labapp}, (
        f"postBuild's settings install must merge, not overwrite: {merged}")
    written = json.loads((tmp_path / "etc" / "jupyter" / "labconfig" /
                          "default_setting_overrides.json").read_text())
    assert written == overrides, f"the news settings were not installed for Binder: {written}"


def test_offline_preamble_refuses_the_network_but_not_loopback():
    code = binder.OFFLINE_PREAMBLE + r'''
import socket, urllib.request
try:
    urllib.request.urlopen("http://example.org", timeout=5)
    print("ONLINE")
except OSError as err:
    print("REFUSED", err)
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
client = socket.create_connection(server.getsockname(), timeout=5)
print("LOOPBACK OK")
'''
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "REFUSED" in out.stdout and "offline" in out.stdout, (
        f"the offline run would still reach the internet: {out.stdout} {out.stderr}")
    assert "LOOPBACK OK" in out.stdout, f"the offline run blocks loopback too: {out.stderr}"


def test_offline_env_hides_the_mirror_and_empties_caches(tmp_path):
    env = binder.offline_env({"COURSE_DATA_MIRROR": "/srv/mirror", "PATH": "/bin"}, tmp_path)
    assert "COURSE_DATA_MIRROR" not in env, "the offline run still sees the dataset mirror"
    assert env["XDG_CACHE_HOME"] == str(tmp_path), "caches must point at the empty folder"
    assert env["https_proxy"].startswith("http://127.0.0.1:"), "downloads must fail fast"
    for name in binder.course_env_names():
        assert "MIRROR" not in name or name not in env, f"{name} still set in the offline run"


def test_every_lesson_in_one_never_restarted_kernel_under_2_gb(one_kernel):
    """A Binder student: every lesson, one kernel, no restart, one CPU, the real data when it
    can be had (Binder has internet). Without data or internet, every lesson must explain in a
    sentence and carry on: the browser test runs them so."""
    rows = list(one_kernel.values())
    table = "\n".join(binder._row_text(r) for r in rows)
    print(f"\nlesson               wall (s)  peak (MB)    end (MB)\n{table}")
    for r in rows:
        for note in r["data_notes"]:
            print(f"  {r['lesson']} says: {note}")
    assert list(one_kernel) == READY, f"not every ready lesson ran: {list(one_kernel)}"
    failed = {r["lesson"]: r["error"] for r in rows if not r["ok"]}
    assert not failed, f"lessons that stop in a never-restarted kernel: {failed}"
    over = {r["lesson"]: r["peak_mb"] for r in rows if r["peak_mb"] >= binder.LIMIT_MB}
    assert not over, f"peak memory over Binder's 2 GB in a never-restarted kernel: {over}"
