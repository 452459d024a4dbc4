# The two entry points of the README: `make run` and `make test`. Both set everything up first.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint typecheck check-rules bench

# Installs only when pyproject.toml, setup.py or a Cython source changed since the last
# install (a stamp in .venv); CALLPOLICY_REINSTALL=1 make setup forces it.
setup:
	bash scripts/bootstrap.sh

run: setup
	bash scripts/run.sh

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/callpolicy check rules
	$(BIN)/callpolicy test rules
	$(BIN)/pytest -q --durations=15

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/lookup.py
	$(BIN)/python benchmarks/decide.py
