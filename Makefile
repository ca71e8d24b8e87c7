# Two commands matter: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench local clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

## Upload a generated sample video and image to the embedded local service.
demo: $(STAMP)
	$(PY) -m vodwidget demo

## Run every test (slow, browser and reliability ones included), then ruff.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)
	$(VENV)/bin/ruff check vodwidget tests benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check vodwidget tests benchmarks

## Benchmarks against raw oss2 and voduploadsdk; writes benchmarks/RESULTS.md.
bench: $(STAMP)
	$(PY) benchmarks/run_all.py

## Run the local VOD + OSS service in the foreground.
local: $(STAMP)
	$(PY) -m vodwidget.local

clean:
	rm -rf $(VENV) build *.egg-info artifacts
