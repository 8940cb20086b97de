# Two set-up commands work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-unit test-contract contract-servers lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/nacos-serving demo

# Unit, integration and conformance suites against the embedded registry (always runnable).
test: install
	$(PY) -m pytest tests --ignore=tests/contract -q

# The contract suite against the embedded registry, real Nacos 3.1 and r-nacos (NACOS_CONTRACT_SERVERS
# narrows it). A real server that cannot start fails the run unless NACOS_CONTRACT=optional.
test-contract: install contract-servers
	$(PY) -m pytest tests/contract -q

# Builds what the real servers need once (cached in ~/.m2 and ~/.cache/nacos-serving).
contract-servers:
	scripts/rnacos install

test-unit: install
	$(PY) -m pytest tests/unit -q

lint: install
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/mypy

bench: install
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
