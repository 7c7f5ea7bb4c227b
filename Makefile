# The only commands a newcomer needs. Each creates its own virtual environment.
# durable_rules does not import on Python 3.13: take the newest supported interpreter here.
PYTHON ?= $(shell for p in python3.12 python3.11 python3.10 python3; do command -v $$p >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: chat test bench bench-quick check clean

$(BIN)/dvrules: pyproject.toml
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
	$(BIN)/python -m benchmarks.run

bench-quick: $(BIN)/dvrules
	$(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
