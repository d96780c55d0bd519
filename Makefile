# The two commands: `make run` serves the demo, `make test` runs every check.
# Both set everything up on a machine that has only Python 3.11.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export BACKHAUL_DATABASE_URL ?= sqlite:///./backhaul.db

.PHONY: run test lint typecheck test-sqlite test-postgres bench docs lock clean

# Installs the versions in constraints.txt, so that a fresh clone tests what was last tested.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -c constraints.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/backhaul db upgrade
	$(BIN)/backhaul demo
	@echo ""
	@echo "  Backhaul is at http://127.0.0.1:8000  (sign in with a demo login above, e.g. admin / backhaul-demo)"
	@echo "  API docs: http://127.0.0.1:8000/docs"
	@echo ""
	$(BIN)/backhaul serve --no-migrate --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test-sqlite: $(STAMP)
	scripts/ensure-chromium
	$(BIN)/pytest

test-postgres: $(STAMP)
	scripts/ensure-chromium
	scripts/with-postgres $(BIN)/pytest

test: lint typecheck test-sqlite test-postgres
	@echo "all checks passed (SQLite and PostgreSQL)"

bench: $(STAMP)
	$(BIN)/python -m benchmarks
	scripts/with-postgres $(BIN)/python -m benchmarks steps-postgres

docs: $(STAMP)
	$(BIN)/backhaul lifecycle --markdown > docs/lifecycle.md

# Refresh constraints.txt to the newest versions pyproject.toml allows, in a scratch venv.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip
	.venv-lock/bin/pip install --quiet -e '.[dev]'
	head -3 constraints.txt > constraints.new
	.venv-lock/bin/pip freeze --exclude-editable >> constraints.new
	mv constraints.new constraints.txt
	rm -rf .venv-lock
	@echo "constraints.txt refreshed: run make clean test, then commit it"

clean:
	rm -rf $(VENV) backhaul.db backhaul.db-* .backhaul-keys
