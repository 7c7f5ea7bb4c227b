# The only commands a newcomer needs. Each creates its own virtual environment.
# durable_rules does not import on Python 3.13: take the first interpreter that runs and is 3.10-3.12.
PYTHON ?= $(shell for p in python3 python3.12 python3.11 python3.10; do \
	$$p -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] < (3, 13))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: chat test bench bench-quick check clean

$(BIN)/dvrules: pyproject.toml
	@test -n "$(PYTHON)" || { echo "dvrules needs Python 3.10, 3.11 or 3.12 (durable_rules does not import on 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,telegram,slack]'
	touch $(BIN)/dvrules

chat: $(BIN)/dvrules  ## guided chat in the terminal (FLOW=cdrp|bvpi225|minimum-standards|referral)
	$(BIN)/dvrules chat $(or $(FLOW),cdrp)

test: $(BIN)/dvrules  ## the whole test suite
	$(BIN)/dvrules kb check
	$(BIN)/python -m pytest

bench: $(BIN)/dvrules  ## benchmarks -> benchmarks/results/
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m benchmarks.run

bench-quick: $(BIN)/dvrules
	$(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
