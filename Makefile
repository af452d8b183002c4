# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo serve test test-unit lint bench docs clients dashboard compose-check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed  ## the stack on the simulator: results, pool stats, an eviction; stops by itself
	$(VENV)/bin/mt5-worker demo

serve: $(VENV)/.installed  ## the demo, then keep the stack (and Flower) up until Ctrl-C
	$(VENV)/bin/mt5-worker demo --serve

# The suite starts some 300 Python processes (workers, beat, bridges, feeds, the CLI): with PYTHONDONTWRITEBYTECODE
# set in the shell, each would compile the package from source, and pytest would rewrite every test module again.
test: $(VENV)/.installed  ## unit and integration tests (a private Redis, real Celery workers and beat)
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest

test-unit: $(VENV)/.installed  ## the in-process tests only (no Redis, no workers): seconds, for quick loops
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -m unit -q

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy mt5_worker examples harness reliability bench scripts/generate_clients.py
	$(VENV)/bin/lint-imports

docs: $(VENV)/.installed  ## regenerate the settings table (docs/configuration.md) and the lists of checked SDK facts (docs/sdk-*.md, docs/trading.md)
	$(PY) -m mt5_worker.cli.settings_doc
	$(PY) -m mt5_worker.conformance.doc_tables

clients: $(VENV)/.installed  ## regenerate the clients' task methods from the task table (scripts/generate_clients.py)
	$(PY) -m scripts.generate_clients

bench: $(VENV)/.installed  ## P1-P5, C1, D1, D2, S1, T1 on real Redis and workers, rewrites docs/performance.md; capacity, docs/capacity.md (~60 min; see bench/README.md)
	$(PY) -m bench.p1_pooled_vs_naive
	$(PY) -m bench.p2_overhead
	$(PY) -m bench.p3_routing
	$(PY) -m bench.p4_sweep
	$(PY) -m bench.p5_latency
	$(PY) -m bench.c1_clients
	$(PY) -m bench.d1_rates_transfer
	$(PY) -m bench.d2_bridge_call
	$(PY) -m bench.s1_streams
	$(PY) -m bench.t1_order_send
	$(PY) -m bench.capacity

dashboard: $(VENV)/.installed  ## rewrite monitoring/grafana/dashboards/mt5-worker.json from scripts/build_dashboard.py
	$(PY) scripts/build_dashboard.py

compose-check: $(VENV)/.installed  ## build and run the compose stack on the Docker daemon DOCKER_HOST names, check it, remove it (~2 min)
	$(PY) scripts/compose_check.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
