# Two commands do everything on a fresh machine:
#   make book   create .venv, install requirements.txt and the package, build the HTML book
#   make test   same set-up, run the whole test suite (the book build included)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv test test-fast book clean

help:
	@echo "make book       build the HTML book into _build/html (creates .venv first)"
	@echo "make test       run the whole test suite, book build included"
	@echo "make test-fast  run the tests that do not build the book"
	@echo "make clean      remove build outputs (keeps .venv)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not book"

test: $(STAMP)
	$(BIN)/python -m pytest

book: $(STAMP)
	rm -rf _build
	$(BIN)/jupyter-book build . -W --keep-going

clean:
	rm -rf _build .pytest_cache
