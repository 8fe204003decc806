# FluentAI developer entry points.  CI runs `make test` (see .ci/run) on a clean checkout.
#
#   make setup        venv + editable install + Boehm GC + prebuilt C runtime (idempotent)
#   make demo         run examples/tour.fl, then show how an uncaught error is reported
#   make test         pyflakes, then the whole pytest suite (PYTEST_ARGS="-k lib_ -x" to narrow it)
#   make test-asan    the runtime built with ASan + UBSan under the golden cases and C tests, and
#                     GC stress over every allocation-heavy case (slow: see docs/testing.md)
#   make fuzz         the long fuzzing campaign: N generated programs in every mode, N mutants
#                     (N=1000 SEED=1 by default, FUZZ_ARGS="--max-seconds 3600" and other options
#                     of `python -m tests.fuzz --help`; failures land in tests/fuzz/failures/)
#   make bench        benchmarks against C and installed peers (QUICK=1: about a minute)
#   make bench-peers  apt-get install the peer implementations (Chez, Racket, Guile, PyPy)
#   make clean        remove build products (keeps .venv; `make distclean` removes it too)

SHELL := /bin/bash
PYTHON ?= python3
CC ?= cc
VENV := .venv
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip --disable-pip-version-check
FLUENTAI := $(VENV)/bin/fluentai

# Keyed on pyproject.toml's content rather than its mtime: a fresh clone or a branch switch
# touches every file, and only a real change to the dependency list should reinstall.
PYPROJECT_KEY := $(shell cksum pyproject.toml | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.installed-test-$(PYPROJECT_KEY)
BENCH_STAMP := $(VENV)/.installed-bench-$(PYPROJECT_KEY)

QUICK ?=
PYTEST_ARGS ?=
N ?= 1000
SEED ?= 1

.PHONY: setup system-deps demo test test-asan fuzz bench bench-peers clean distclean

# $(call apt_install,PACKAGES,WHAT): install Debian packages as root, through sudo, or explain.
# The package lists of a fresh container are empty, so `apt-get update` runs first whenever
# apt does not know a package, and once more if the install fails on stale lists.
define apt_install
if [ "$$(id -u)" = 0 ]; then sudo=""; \
elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
else echo "error: $(2) is missing: install the Debian/Ubuntu package(s) '$(1)' as root" \
          "(apt-get install $(1)), then run make again" >&2; exit 1; fi; \
if ! command -v apt-get >/dev/null 2>&1; then \
  echo "error: $(2) is missing and this system has no apt-get: install the equivalent of" \
       "the Debian package(s) '$(1)' with your package manager, then run make again" >&2; exit 1; fi; \
export DEBIAN_FRONTEND=noninteractive; \
known=1; for p in $(1); do apt-cache show "$$p" >/dev/null 2>&1 || known=0; done; \
if [ $$known = 0 ]; then $$sudo apt-get update -q; fi; \
$$sudo apt-get install -y -q $(1) || { $$sudo apt-get update -q && $$sudo apt-get install -y -q $(1); }
endef

setup: system-deps $(TEST_STAMP)
	$(VPY) -m fluentai.backend.rt_build

# What building the C runtime (a cffi extension) needs: a C compiler, Python's headers, and
# Boehm GC: gc.h for the runtime, the static libgc.a so AOT executables need nothing installed;
# and gdb, which the tests of -g drive (optional: without it those tests are skipped).
system-deps:
	@command -v $(CC) >/dev/null 2>&1 || { \
	  echo "no C compiler ($(CC)) found: installing gcc"; \
	  $(call apt_install,gcc,a C compiler); }
	@if [ ! -f /usr/include/gc.h ] || [ "$$($(CC) -print-file-name=libgc.a)" = libgc.a ]; then \
	  echo "Boehm GC headers or static library missing: installing libgc-dev"; \
	  $(call apt_install,libgc-dev,Boehm GC (gc.h and the static libgc.a)); \
	  if [ ! -f /usr/include/gc.h ] || [ "$$($(CC) -print-file-name=libgc.a)" = libgc.a ]; then \
	    echo "error: libgc-dev is installed but gc.h or libgc.a is still not found" >&2; exit 1; fi; \
	fi
	@command -v gdb >/dev/null 2>&1 || { \
	  echo "gdb not found (the tests of -g debug an executable with it): installing gdb"; \
	  ( $(call apt_install,gdb,gdb) ) || echo "warning: gdb could not be installed: its tests will be skipped" >&2; }
	@# OpenSSL's headers give the network effect https://; without them the runtime is built
	@# without TLS (an https fetch then says so), so a failed install only warns.
	@if [ ! -f /usr/include/openssl/ssl.h ]; then \
	  echo "OpenSSL headers missing (https:// in the network effect): installing libssl-dev"; \
	  ( $(call apt_install,libssl-dev,OpenSSL's headers) ) || \
	    echo "warning: libssl-dev could not be installed: https:// will not be available" >&2; \
	fi
	@$(PYTHON) -c "import sys, sysconfig, os; \
	  sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" || { \
	  echo "Python.h not found (needed to build the runtime extension): installing python3-dev"; \
	  $(call apt_install,python3-dev,Python's C headers); }

# Debian's python3 lacks ensurepip until python3-venv is installed; a failed `venv` leaves a
# half-made directory behind, so it is removed before the retry.
$(VPY):
	@$(PYTHON) -m venv $(VENV) || { \
	  rm -rf $(VENV); \
	  echo "python3 -m venv failed: installing python3-venv"; \
	  $(call apt_install,python3-venv,Python's venv module); \
	  $(PYTHON) -m venv $(VENV); }

# --no-build-isolation: the build backend comes from the venv itself, so a reinstall with every
# dependency already present needs no network.
$(TEST_STAMP): | $(VPY)
	rm -f $(VENV)/.installed-test-*
	$(PIP) install -q 'setuptools>=64' wheel
	$(PIP) install -q --no-build-isolation -e '.[test]'
	touch $@

$(BENCH_STAMP): | $(VPY)
	rm -f $(VENV)/.installed-bench-*
	$(PIP) install -q 'setuptools>=64' wheel
	$(PIP) install -q --no-build-isolation -e '.[test,bench]'
	touch $@

# The tour ends normally; the uncaught error is a separate one-liner whose exit status 1 is
# the expected outcome, so the demo checks that status instead of ignoring it.
demo: setup
	$(FLUENTAI) jit examples/tour.fl
	@echo
	@echo '$$ fluentai jit -e "(head [])"    # an uncaught runtime error: report on stderr, exit status 1'
	@$(FLUENTAI) jit -e '(head [])'; status=$$?; \
	  if [ $$status -ne 1 ]; then echo "demo: expected exit status 1, got $$status" >&2; exit 1; fi

# pyflakes first (unused imports and variables, undefined names): fast, and a failure stops here.
test: setup
	$(VPY) -m pyflakes fluentai tests bench
	$(VPY) -m pytest -q $(PYTEST_ARGS)

# Everything runs with the sanitizer runtimes preloaded (rt_build --sanitizer-env), pytest
# included, so the API mode and the C tests load the sanitized extension in-process; the
# `fluentai` subprocesses and the executables inherit it. jit-O0 adds nothing on the runtime's
# side that jit-O2 does not cover, so it stays out.
ASAN_TESTS := tests/test_sanitize.py tests/test_runtime.py tests/test_runtime_lib.py \
              tests/test_tasks_runtime.py tests/test_effects_runtime.py tests/test_callchain.py \
              tests/test_cases.py
test-asan: setup
	@sanitizer_env="$$($(VPY) -m fluentai.backend.rt_build --sanitizer-env)" || exit 1; \
	  echo "env $$sanitizer_env"; \
	  env $$sanitizer_env $(VPY) -m pytest -q -k 'not jit-O0' $(PYTEST_ARGS) $(ASAN_TESTS)

# docs/testing.md, "Fuzzing": what it generates, the oracles, where failures are saved.
fuzz: setup
	$(VPY) -m tests.fuzz --programs $(N) --mutants $(N) --seed $(SEED) $(FUZZ_ARGS)

bench: setup $(BENCH_STAMP)
	$(VPY) bench/run.py $(if $(filter-out 0,$(QUICK)),--quick)

bench-peers:
	@$(call apt_install,chezscheme racket guile-3.0 pypy3,the peer implementations)

clean:
	rm -rf build dist bench/build .pytest_cache
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
