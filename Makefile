# lamppost: `make demo` runs the built-in scenario, `make test` runs the suite.
# Both create .venv with the pinned dependencies on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# --- ship: build, type check, flash, deploy (docs/shipping.md "Ship it to a board") ---
# The type checker and the MicroPython stubs live in build/typecheck, never in .venv:
# the stubs would shadow CPython's standard library there.
TC := build/typecheck
TC_STAMP := $(TC)/.installed
BASEDPYRIGHT := basedpyright==1.40.2
STUBS := micropython-esp32-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
CHIP ?= esp32

.PHONY: demo test bench docs venv clean firmware flash deploy typecheck

venv: $(STAMP)

# Builds run under one lock (flock): two `make test` at once in one tree build once, and the
# second finds the stamp newer than its source and builds nothing.
LOCK := flock .make-build.lock

$(STAMP): pyproject.toml
	$(LOCK) sh -c 'test $@ -nt pyproject.toml || { \
	  $(PYTHON) -m venv $(VENV) && \
	  $(PY) -m pip install --quiet --upgrade pip && \
	  $(PY) -m pip install --quiet -e ".[dev]" && touch $@; }'

# HOLD=1 keeps the operations console (its URL and login are printed) up after the run
demo: $(STAMP)
	$(VENV)/bin/lamppost-sim run $(if $(HOLD),--keep-console,)

test: $(STAMP) $(TC_STAMP)
	$(PY) -m pytest -n 2 -q

bench: $(STAMP)
	$(PY) -m bench

# re-render the docs' measured blocks from the last bench output (make bench does this too)
docs: $(STAMP)
	$(PY) -m bench.render_docs


$(TC_STAMP): Makefile
	$(LOCK) sh -c 'test $@ -nt Makefile || { rm -rf $(TC) && \
	  $(PYTHON) -m venv $(TC)/venv && \
	  $(TC)/venv/bin/pip install --quiet $(BASEDPYRIGHT) && \
	  $(TC)/venv/bin/pip install --quiet --no-deps --target $(TC)/typings $(STUBS) && touch $@; }'

typecheck: $(TC_STAMP)
	$(TC)/venv/bin/basedpyright -p firmware/pyrightconfig.json

firmware: $(STAMP)
	$(VENV)/bin/lampctl build --chip $(CHIP)

# lampctl's own messages name --image/--port: say the make variables here
flash: $(STAMP)
	@test -n "$(IMAGE)" || { echo "make flash: give the MicroPython image: make flash PORT=/dev/ttyUSB0 IMAGE=FILE.bin [CHIP=esp32]" >&2; exit 2; }
	@test -n "$(PORT)$(DRY_RUN)" || { echo "make flash: give the board's serial port: PORT=/dev/ttyUSB0 (lampctl ports lists them)" >&2; exit 2; }
	$(VENV)/bin/lampctl flash --port "$(PORT)" --chip $(CHIP) --image "$(IMAGE)" $(if $(DRY_RUN),--dry-run,)

deploy: $(STAMP)
	@test -n "$(PORT)$(DRY_RUN)" || { echo "make deploy: give the board's serial port: PORT=/dev/ttyUSB0 (lampctl ports lists them)" >&2; exit 2; }
	$(VENV)/bin/lampctl deploy --port "$(PORT)" --chip $(CHIP) $(if $(POST),--post $(POST),) $(if $(DRY_RUN),--dry-run,)

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis .make-build.lock
