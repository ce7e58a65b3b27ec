"""environment.yml (Binder) and pyproject.toml name the same packages, with CPU-only torch."""
import re
import tomllib

import yaml

from conftest import ROOT


def name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def env_pip_lines():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return [line for line in pip if not line.startswith("-")], pip


def test_environment_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {name(r) for r in project["dependencies"]}
    packages, _ = env_pip_lines()
    assert {name(p) for p in packages} == wanted


def test_environment_pins_cpu_torch_and_pulls_no_cuda():
    packages, pip = env_pip_lines()
    torch = [p for p in packages if name(p) == "torch"]
    assert torch == ["torch==2.13.0+cpu"], torch
    assert any("/whl/cpu" in line for line in pip if line.startswith("--extra-index-url"))
    for line in pip:
        assert not re.search(r"cuda|nvidia", line.lower()), f"would pull a CUDA build: {line}"


def test_constraints_pin_torch_and_setup_uses_them():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().split()
    assert "-c constraints.txt" in (ROOT / "tools" / "setup.sh").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / "README.md").read_text()
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"
