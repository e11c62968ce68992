# The two everyday commands: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: demo test bench bench-1m lint format install install-runtime clean-var

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

## Development: the runtime (requirements.txt) plus tests, benchmarks and lint (requirements-dev.txt).
$(VENV)/.installed: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

## What the shop runs, nothing for development.
$(VENV)/.runtime-installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

## Lint needs ruff only (not TensorFlow): its pin from requirements-dev.txt.
$(VENV)/.ruff-installed: requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet "$$(grep -E '^ruff==' requirements-dev.txt)"
	touch $@

install: $(VENV)/.installed
install-runtime: $(VENV)/.runtime-installed

## Run the shop on embedded PostgreSQL + Valkey with a worker, beat and web server.
demo: install-runtime
	PORT=$(PORT) $(PY) -m config.demo

## Run the test suite against the real services (embedded unless DATABASE_URL/REDIS_URL are set).
test: install
	$(PY) -m pytest

## Benchmarks (needs ../shared/data): appends a dated section to docs/benchmarks.md, plots in docs/img/.
## The vector search runs on its own embedded server with shared_buffers sized for the index.
## vector_search compares the project's graph (m=16) with a denser one (m=32) and binary quantization
## with an exact re-rank; served_query the served lookup now and before; pages_load the product page
## with and without its cached card lists and a web process's start with and without the model loaded.
bench: install
	$(PY) -m benchmarks.vector_search --sizes 2946,11882,100000 --queries 200 --graphs 16:64,32:128 \
		--shared-buffers 2GB --out docs
	$(PY) -m benchmarks.served_query --sizes 2946,11882,100000 --queries 200 --out docs
	$(PY) -m benchmarks.embedding_throughput --images 256 --resnet-images 64 --rounds 3 --out docs
	$(PY) -m benchmarks.pages_load --dataset fashion-sample --clients 1,8,16,32 --out docs
	$(PY) -m benchmarks.bulk_import --datasets fashion-sample,fashion-extra --out docs
	$(PY) -m benchmarks.training --rounds 3 --out docs
	$(PY) -m benchmarks.factor_serving --sizes 2946,11882,100000 --queries 200 --out docs

## The vector search at 1,000,000 vectors too (about an hour with both graphs; 5 GB of vectors, ~12 GB of memory),
## and the served similar-items query on a million products (recall against exact tiers on 50 queries per group:
## an exact tier scans the catalogue).
bench-1m: install
	$(PY) -m benchmarks.vector_search --sizes 2946,11882,100000,1000000 --queries 200 --graphs 16:64,32:128 \
		--shared-buffers 5GB --maintenance-work-mem 5GB --out docs
	$(PY) -m benchmarks.served_query --sizes 1000000 --queries 200 --exact-queries 50 \
		--shared-buffers 5GB --maintenance-work-mem 5GB --out docs

lint: $(VENV)/.ruff-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.ruff-installed
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

## Stop a left-over embedded PostgreSQL and remove local data (database, media, broker files).
clean-var: install-runtime
	$(PY) -c "from config import embedded; embedded.stop_postgres()"
	rm -rf var
