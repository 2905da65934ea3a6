# The two commands of the README: `make demo` (train + evaluate + report) and
# `make test`. Each creates .venv and installs the project into it once.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/demo

$(VENV)/installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

.PHONY: test demo
test: $(VENV)/installed
	$(PY) -m pytest -q

demo: $(VENV)/installed
	$(PY) -m aoarm.demo --workdir=$(WORKDIR)
