# emocirc: `make book` builds the book, `make test` runs the tests.
# Both create the virtual environment .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.emocirc-installed
PARAMS ?=
TIMEOUT ?= 1800

# make setup installs with uv, given pip's settings (tools/install.py: 9 s here
# against 46 s with pip; EMOCIRC_INSTALLER=pip make setup uses pip alone), and
# without compiling (pip's compiling took 60 s of a fresh set-up);
# the modules a run imports are compiled on first use instead, into one cache
# in the environment, even where PYTHONDONTWRITEBYTECODE is set (without cached
# bytecode every Python process of the tests recompiles torch, transformers and
# scikit-learn: 10 s an import instead of 5, measured here).
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache
unexport PYTHONDONTWRITEBYTECODE

.PHONY: book test lab setup clean clean-book

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/install.py $(VENV) '.[book,test,hf]'
	@touch $(STAMP)

setup: $(STAMP)

book: $(STAMP)
	$(PY) book/build.py --timeout $(TIMEOUT) $(if $(PARAMS),--params $(PARAMS))

# The tests run on every core (pytest-xdist; tests/conftest.py says how they
# are spread); TEST_WORKERS=0 runs them in this one process.
TEST_WORKERS ?= auto
TEST_DIST := --dist loadscope --no-loadscope-reorder
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) $(TEST_DIST))

# JupyterLab on the chapters, configured by lab/ (root or not, the project's
# kernel, .py chapters open as notebooks); LAB_ARGS passes more options,
# e.g. make lab LAB_ARGS="--ip=0.0.0.0 --port=8890 --no-browser".
LAB_ARGS ?=
lab: $(STAMP)
	@$(PY) -c "import jupyterlab, jupytext" 2>/dev/null || $(PY) -m pip install --quiet -e '.[lab]'
	@echo "JupyterLab starts below: open the http://127.0.0.1:<port>/lab?token=... address it prints"
	@echo "(double-click a notebooks/NN_name.py chapter; Ctrl-C twice stops the server)."
	JUPYTER_PREFER_ENV_PATH=1 $(VENV)/bin/jupyter lab --config=lab/jupyter_lab_config.py $(LAB_ARGS)

clean-book:
	rm -rf _build book/executed

clean: clean-book
	rm -rf $(VENV)
