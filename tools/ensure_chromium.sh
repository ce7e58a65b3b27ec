#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the browser test (tests/test_browser.py).
# Called by `make test` and by the test itself; quick when chromium is already there.
# Never downloads a browser through Playwright: only the system package manager is used.
# Exits 0 with an explicit message when it cannot install; the browser test then fails
# (or, with COURSE_SKIP_BROWSER=1, skips) and prints the same reason.
set -uo pipefail
CHROMIUM="${COURSE_CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0

why=""
if ! command -v apt-get >/dev/null 2>&1; then
  why="no apt-get on this machine: install Chromium yourself and set COURSE_CHROMIUM=/path/to/chromium"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
    else why="not root and no password-less sudo: run 'sudo apt-get install chromium' once"; fi
  fi
  if [ -z "$why" ]; then
    echo "Installing chromium for the browser test (apt-get; log: /tmp/course-chromium-install.log) ..."
    if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation; } \
        >/tmp/course-chromium-install.log 2>&1; then
      tail -5 /tmp/course-chromium-install.log >&2
      why="apt-get install chromium failed (see /tmp/course-chromium-install.log)"
    fi
  fi
fi
if [ -x "$CHROMIUM" ]; then
  echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null)"
else
  echo "warning: chromium is not available (${why:-$CHROMIUM missing after install}); the browser test will report this." >&2
fi
exit 0
