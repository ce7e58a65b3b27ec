"""Which torch build set-up installs, and which one a venv holds (``tools/setup.sh`` calls it).

PyPI's torch wheel for Linux is the CUDA build (gigabytes of NVIDIA packages); PyTorch's own CPU
index (https://download.pytorch.org/whl/cpu) has the same version as ``+cpu``.

    python tools/torch_build.py reachable URL   # exit 0 when the index answers within 10 s
    python tools/torch_build.py report          # the installed build, in one line
"""
from __future__ import annotations

import sys
import urllib.request
from importlib import metadata

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def reachable(index: str, timeout: float = 10.0) -> bool:
    """Whether ``index`` answers for torch (a simple-index page) within ``timeout`` seconds."""
    try:
        urllib.request.urlopen(index.rstrip("/") + "/torch/", timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def report() -> str:
    """The installed torch and its build, and what to do for the CPU build if it is not."""
    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "torch is not installed"
    nvidia = sorted({(d.metadata["Name"] or "").lower() for d in metadata.distributions()
                     if (d.metadata["Name"] or "").lower().startswith("nvidia-")})
    if "+cpu" in version or not nvidia:
        return f"torch {version}: the CPU build"
    return (f"torch {version}: the CUDA build, with {len(nvidia)} NVIDIA packages (the lessons run "
            f"on the CPU all the same). For the smaller CPU build, where {CPU_INDEX} is reachable: "
            "rm -rf .venv && make setup")


if __name__ == "__main__":
    if sys.argv[1:2] == ["reachable"] and len(sys.argv) == 3:
        sys.exit(0 if reachable(sys.argv[2]) else 1)
    if sys.argv[1:] == ["report"]:
        print(report())
        sys.exit(0)
    sys.exit(__doc__)
