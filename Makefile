# emocirc: `make book` builds the book, `make test` runs the tests.
# Both create the virtual environment .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.emocirc-installed
PARAMS ?=
TIMEOUT ?= 1800

.PHONY: book test lab setup clean clean-book

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[book,test,hf]'
	@touch $(STAMP)

setup: $(STAMP)

book: $(STAMP)
	$(PY) book/build.py --timeout $(TIMEOUT) $(if $(PARAMS),--params $(PARAMS))

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

lab: $(STAMP)
	@$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install --quiet -e '.[lab]'
	$(VENV)/bin/jupyter lab --notebook-dir=.

clean-book:
	rm -rf _build book/executed

clean: clean-book
	rm -rf $(VENV)
