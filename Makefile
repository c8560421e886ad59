# The two commands a new user types are `make book` and `make test`.
# Both create .venv on first use and install the pinned project into it;
# later runs reuse it and start in seconds.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SEED   ?= 2026

# JupyterLab finds the course's nbgrader configuration through JUPYTER_CONFIG_PATH (nothing
# is written to your own Jupyter settings). The student lab puts autograder/student-lab
# first: it turns off nbgrader's instructor tools. LAB_ARGS passes options to `jupyter lab`,
# e.g. make lab LAB_ARGS="--no-browser --port 8899".
INSTRUCTOR_LAB_CONFIG := $(CURDIR)/autograder
STUDENT_LAB_CONFIG    := $(CURDIR)/autograder/student-lab:$(INSTRUCTOR_LAB_CONFIG)
LAB_ARGS ?=

.PHONY: help sandbox book test lab lab-instructor student-repo release check bench data lock \
	lint clean distclean hub

help:
	@echo "make book       build the course website into _build/html (strict: any warning fails)"
	@echo "make test       run every test, including the strict book build"
	@echo "make test-fast  run the unit tests only (no book build, notebooks, grading runs or browser)"
	@echo "make lab        JupyterLab for students: the exercises copied into my-work/ (yours,"
	@echo "                git-ignored), nbgrader's Assignments panel and Validate button"
	@echo "make lab-instructor"
	@echo "                JupyterLab with every nbgrader tool (formgrader, Create Assignment)"
	@echo "make student-repo DEST=DIR"
	@echo "                write the repository students clone (no solutions/, no tests/) to DIR"
	@echo "make hub        (root) a JupyterHub for the course on 127.0.0.1:8000: accounts for an"
	@echo "                instructor and students, a shared exchange (HUB_ARGS=\"--help\" for options)"
	@echo "make release    regenerate exercises/ from solutions/ (course release)"
	@echo "make check      check that every assignment grades correctly (course check)"
	@echo "make bench      time the lessons and the book builds, write benchmarks/RESULTS.md"
	@echo "make data       regenerate datasets/shopsim from the simulator (SEED=$(SEED))"
	@echo "make lint       ruff check and format check"
	@echo "make clean      remove _build (keeps .venv)"
	@echo "make distclean  remove _build and .venv"

$(STAMP): pyproject.toml requirements.lock requirements-nodeps.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required, found " + sys.version.split()[0] + ": set PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	@touch $(STAMP)

# Grading sandboxes student code with bubblewrap (Debian package `bubblewrap`). Installed
# here when missing and we may (root with apt-get); otherwise grading falls back to
# --sandbox rlimit and says so.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap for the grading sandbox"; \
	    (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null; \
	  else \
	    echo "note: bubblewrap is not installed; grading will use the weaker rlimit sandbox"; \
	  fi; }

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Open _build/html/index.html in a browser."

test: $(STAMP) sandbox
	$(BIN)/python -m pytest

# The fast tier for authors: unit tests only, a few minutes of CPU. tests/conftest.py marks
# the tests that need the book build, a browser or sandboxed grading runs.
FAST_TESTS := not slow and not book and not browser and not grading
.PHONY: test-fast
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "$(FAST_TESTS)"

# Students work in my-work/ (git-ignored): the release files they do not have yet are
# copied there first; a file they already have is never replaced.
lab: $(STAMP)
	@$(BIN)/python -m autograder.student
	JUPYTER_CONFIG_PATH=$(STUDENT_LAB_CONFIG) $(BIN)/jupyter lab $(LAB_ARGS)

lab-instructor: $(STAMP)
	JUPYTER_CONFIG_PATH=$(INSTRUCTOR_LAB_CONFIG) $(BIN)/jupyter lab $(LAB_ARGS)

student-repo: $(STAMP)
	@test -n "$(DEST)" || { echo "usage: make student-repo DEST=../course-for-students"; exit 2; }
	$(BIN)/course student-copy "$(DEST)"

# The course on a JupyterHub on this machine (root: local accounts, a server per user); see
# autograder/hub/launch.py and the instructor guide. HUB_ARGS passes options, e.g.
# make hub HUB_ARGS="--port 8100 --students 'ann ben'".
HUB_ARGS ?=
hub: $(STAMP)
	$(BIN)/python -m autograder.hub $(HUB_ARGS)

release: $(STAMP)
	$(BIN)/course release

check: $(STAMP) sandbox
	$(BIN)/course check

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

data: $(STAMP)
	$(BIN)/python -m ecomrec.datasets generate --seed $(SEED) --out datasets/shopsim

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check ecomrec tests benchmarks tools

# Re-pin every transitive dependency from a fresh environment.
# Lock with the oldest Python 3.11 you can: a pin whose wheel needs a newer patch release breaks
# the install there (soupsieve 4.1.3 needs 3.11.5; Debian 12 ships 3.11.2). requirements.lock pins
# soupsieve 2.10 for that reason; keep it when re-locking.
lock:
	rm -rf /tmp/ecomrec-lock-venv
	$(PYTHON) -m venv /tmp/ecomrec-lock-venv
	/tmp/ecomrec-lock-venv/bin/pip install --quiet --disable-pip-version-check -e ".[dev]"
	/tmp/ecomrec-lock-venv/bin/pip freeze --exclude-editable | sed 's/+cpu$$//' > requirements.lock
	rm -rf /tmp/ecomrec-lock-venv

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV)
