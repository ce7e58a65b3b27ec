# Two commands do everything on a fresh machine (see README):
#   make lab    set up .venv, then open the course in JupyterLab (student view)
#   make test   set up .venv, then run the whole test suite
# and one for developers: make check, the fast loop (no notebook runs, no servers; < 60 s)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8888
# test workers: a lesson's tests stay together on one (tests/conftest.py, tests/README.md)
JOBS   ?= 2
PYTEST := $(PY) -m pytest -n $(JOBS) --dist loadgroup
# nbgrader runs helper tools (alembic) by name: the venv's bin must be on PATH
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: lab lab-instructor hub test check lessons book bench grade bench-grade bench-cluster setup clean

$(STAMP): pyproject.toml constraints.txt
	@tools/setup.sh

setup: $(STAMP)

# students see nbgrader's Validate and Assignments; ROLE=instructor (or make lab-instructor)
# adds Create Assignment, Formgrader and the course list
ROLE   ?= student
lab: $(STAMP)
	@$(PY) -m course.tooling.lab --port $(PORT) --role $(ROLE)

lab-instructor: $(STAMP)
	@$(PY) -m course.tooling.lab --port $(PORT) --role instructor

# a demo classroom: JupyterHub on 127.0.0.1, one instructor and two students (local accounts,
# removed on Ctrl-C); needs root. Its proxy comes from npm (tools/ensure_proxy.sh)
HUB_PORT ?= 8000
hub: $(STAMP)
	@tools/ensure_proxy.sh
	@$(PY) -m course.tooling.hub --port $(HUB_PORT)

# the browser test needs Debian's chromium: installed here when missing (apt-get);
# the hub test needs JupyterHub's proxy (npm)
test: $(STAMP)
	@tools/ensure_chromium.sh
	@tools/ensure_proxy.sh || true   # on failure the hub test says why
	@$(PYTEST)

# library units, structure, leaks, regenerate-and-compare: everything not marked slow
check: $(STAMP)
	@$(PYTEST) -m "not slow"

# regenerate lessons/ (student versions) from solutions/ (the nbgrader source)
lessons: $(STAMP)
	@for dir in solutions/*/; do \
	  id=$$(basename $$dir); \
	  $(VENV)/bin/nbgrader generate_assignment $$id --force --log-level=WARN || exit 1; \
	  echo "lessons/$$id regenerated"; \
	done

# the course as a static website in _build/book/html: every lesson run in one kernel, offline
# (real-data sections read COURSE_DATA_MIRROR where set, else say they skipped); prints index.html
book: $(STAMP)
	@$(PY) -m course.tooling.book

bench: $(STAMP)
	@$(PY) -m course bench

# Binder terms: peak memory per lesson in one never-restarted kernel (offline, one CPU),
# then the size of environment.yml's packages once installed
binder-check: $(STAMP)
	@$(PY) -m course.tooling.binder memory
	@$(PY) -m course.tooling.binder envsize

# autograde a class: make grade ASSIGNMENT=00_orientation SUBMISSIONS=path/to/dir-or.zip [WORKERS=2]
WORKERS ?= 2
grade: $(STAMP)
	@test -n "$(ASSIGNMENT)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade ASSIGNMENT=<id> SUBMISSIONS=<dir|zip> [WORKERS=2]"; exit 2; }
	@$(PY) -m autograder grade $(ASSIGNMENT) --submissions $(SUBMISSIONS) --workers $(WORKERS)

# 60 submissions of the heaviest finished lesson: 1 and 2 workers vs plain nbgrader autograde
bench-grade: $(STAMP)
	@$(PY) -m autograder bench

# the same class graded by 2 local workers and by a Dask cluster of 2 workers on this machine
bench-cluster: $(STAMP)
	@$(PY) -m autograder bench --cluster $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT))

clean:
	rm -rf $(VENV) .pytest_cache _build autograder/gradebook.db autograder/submitted autograder/autograded autograder/feedback
