#!/usr/bin/env bash
# Create .venv and install the course into it. Called by `make`; cheap when already done.
# Each step names itself on failure and says how to retry.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
LOG="$VENV/install.log"

fail() { echo "error: set-up step '$1' failed. $2" >&2; exit 1; }

PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null 2>&1 \
  || fail "find Python" "No '$PYTHON' on PATH: install Python 3.10 or newer, then run the command again (or set PYTHON=/path/to/python3)."
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || fail "check Python version" "$("$PYTHON" --version 2>&1) is too old: the course needs Python 3.10 or newer."

if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV ..."
  "$PYTHON" -m venv "$VENV" || fail "create $VENV" "Install the venv module (Debian: apt-get install python3-venv), delete $VENV, and run the command again."
fi
mkdir -p "$VENV"
: >"$LOG"
# torch: the CPU build. On Linux PyPI's wheel is the CUDA build (gigabytes of NVIDIA packages);
# PyTorch's CPU index has the same version as +cpu (constraints.txt's pin matches it). Where
# that index is unreachable, torch comes from the usual index and the last line says which build.
TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
if [ "$(uname -s)" = Linux ] && ! "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("torch")' 2>/dev/null; then
  if "$VENV/bin/python" tools/torch_build.py reachable "$TORCH_INDEX"; then
    echo "Installing torch's CPU build from $TORCH_INDEX ..."
    "$VENV/bin/python" -m pip install --disable-pip-version-check -c constraints.txt \
        --index-url "$TORCH_INDEX" --extra-index-url https://pypi.org/simple torch >>"$LOG" 2>&1 \
      || fail "install torch (CPU build)" "See $LOG. Set TORCH_INDEX to another index (TORCH_INDEX=https://pypi.org/simple gives PyPI's build), then run the command again."
  else
    echo "note: PyTorch's CPU index ($TORCH_INDEX) is not reachable: torch comes from your package index, whose Linux wheel is the CUDA build unless a CPU wheel is found (set TORCH_INDEX to a mirror of the CPU index to choose)."
  fi
fi
echo "Installing the course and its dependencies into $VENV (log: $LOG) ..."
# every install goes through constraints.txt (it pins torch). The test extra runs the suite,
# the book extra builds the website (make book, tests/test_book.py)
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -c constraints.txt -e '.[test,book]' >>"$LOG" 2>&1; then
  grep -E "^ERROR|error:" "$LOG" | tail -5 >&2
  fail "pip install" "See $LOG. Check the network or the package index, then run the command again (delete $VENV to start from scratch)."
fi
mkdir -p autograder
touch "$VENV/.installed"
echo "Set-up done: $("$VENV/bin/python" tools/torch_build.py report)."
