"""Merge the course's Jupyter settings (jupyter/) into an environment's etc/jupyter.

Binder's postBuild runs this, so a Binder session gets what `make lab` applies through
JUPYTER_CONFIG_PATH: no news pop-up, no update check, and the student view of nbgrader.
Existing settings are kept; the course's keys are merged in. Usage: python tools/install_jupyter_config.py [--prefix PREFIX]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "jupyter"
# Binder serves students: nbgrader's instructor extensions are off there (jupyter/student)
FILES = ("jupyter_lab_config.json", "labconfig/default_setting_overrides.json",
         "student/labconfig/page_config.json", "student/jupyter_server_config.json")


def merge(into: dict, new: dict) -> dict:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
    return into


def install(prefix: Path) -> list[Path]:
    written = []
    for rel in FILES:
        dest = prefix / "etc" / "jupyter" / rel.removeprefix("student/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        current = json.loads(dest.read_text()) if dest.exists() else {}
        merged = merge(current, json.loads((SOURCE / rel).read_text()))
        dest.write_text(json.dumps(merged, indent=2) + "\n")
        written.append(dest)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefix", default=sys.prefix)
    for path in install(Path(parser.parse_args().prefix)):
        print(f"wrote {path}")
