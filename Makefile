# cmc-agent: every target installs what it needs and is safe to run twice.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all system venv test lint typecheck unit demo bench clean

all: test

system:
	bash softhsm-setup/install-system-packages.sh

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	PYTHONWARNINGS=ignore $(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(VENV)/bin/ruff check tokens agent localca tests bench
	$(VENV)/bin/ruff format --check tokens agent localca tests bench

typecheck: venv
	$(VENV)/bin/mypy

unit: system venv
	$(PY) -m pytest -q

test: system venv lint typecheck unit

demo: system venv
	bash softhsm-setup/demo.sh

bench: system venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache demo-work
