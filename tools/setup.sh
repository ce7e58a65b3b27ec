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
echo "Installing the course and its dependencies into $VENV (log: $LOG) ..."
# constraints.txt pins torch to the CPU build; every install goes through it. The test
# extra runs the suite, the book extra builds the website (make book, tests/test_book.py)
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -c constraints.txt -e '.[test,book]' >"$LOG" 2>&1; then
  grep -E "^ERROR|error:" "$LOG" | tail -5 >&2
  fail "pip install" "See $LOG. Check the network or the package index, then run the command again (delete $VENV to start from scratch)."
fi
mkdir -p autograder
touch "$VENV/.installed"
echo "Set-up done."
