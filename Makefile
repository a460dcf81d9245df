# Two commands: `make run` (materialize everything on the embedded data) and `make test`.
# Both create the environment from uv.lock when needed and install WeasyPrint's system libraries.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export DAGSTER_HOME := $(CURDIR)
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache
# when this make started: `make run` reports the environment and system-package setup time from it
export VAULT_MAKE_STARTED := $(shell date +%s.%N)
# Debian packages the project needs at run time (WeasyPrint) and for the browser tests.
RUN_DEBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
TEST_DEBS := chromium caddy

.PHONY: run test ui serve validate bench clean system-deps test-system-deps report

.venv/.synced: pyproject.toml uv.lock
	@test -x "$(UV)" || $(PYTHON) -m pip install --quiet --user uv
	$(UV) sync --frozen
	@touch $@

system-deps:
	@scripts/ensure_debs.sh $(RUN_DEBS)

test-system-deps:
	@scripts/ensure_debs.sh $(RUN_DEBS) $(TEST_DEBS)

run: .venv/.synced system-deps
	@mkdir -p .dagster_home
	$(UV) run --frozen python -m assets.run

# One selloff PDF from the stored backtests (after `make run`): make report EVENT=jan_2026
report: .venv/.synced system-deps
	@test -n "$(EVENT)" || { echo "usage: make report EVENT=<event_id> (e.g. jan_2026; see analytics.backtest_events)" >&2; exit 2; }
	@mkdir -p .dagster_home
	$(UV) run --frozen python -m assets.report "$(EVENT)"

test: .venv/.synced test-system-deps
	$(UV) run --frozen python -m pytest

ui: .venv/.synced system-deps
	@mkdir -p .dagster_home
	$(UV) run --frozen dagster dev

# Preview the published site at http://127.0.0.1:8000 (VAULT_SITE_DIR, default build/site).
# Loopback only and no auth: serving it to others is deploy/Caddyfile's job (docs/deploy.md).
SITE_DIR := $(or $(VAULT_SITE_DIR),build/site)
serve:
	@test -f "$(SITE_DIR)/index.html" || { echo "no site at $(SITE_DIR)/index.html: run 'make run' first" >&2; exit 1; }
	$(PYTHON) -m http.server 8000 --bind 127.0.0.1 --directory "$(SITE_DIR)"

validate: .venv/.synced
	$(UV) run --frozen dagster definitions validate

bench: .venv/.synced
	$(UV) run --frozen python benchmarks/bench_pricing.py --write
	$(UV) run --frozen python benchmarks/bench_strategies.py --write
	$(UV) run --frozen python benchmarks/bench_site.py --write
	$(UV) run --frozen python benchmarks/bench_backtest.py --write

clean:
	rm -rf build .dagster_home warehouse/vault.duckdb warehouse/vault.duckdb.wal
