# Two commands do everything on a fresh machine:
#   make book   create .venv, install requirements.txt and the package, build the HTML book
#   make test   same set-up, run the whole test suite (the book build included)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv test test-fast book book-assets chromium clean

help:
	@echo "make book       build the HTML book into _build/html (creates .venv first)"
	@echo "make test       run the whole test suite, book build included"
	@echo "make test-fast  run the tests that do not build the book"
	@echo "make clean      remove build outputs (keeps .venv)"
	@echo "make chromium   install Debian's chromium for the book's browser tests (apt-get, as root)"

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

# The book. Every notebook executes during the build; -W --keep-going turns any cell error or Sphinx
# warning into a failed build (after building every page). tests/test_book.py runs this target.
# Chapter 11 reads Multi30k: from MULTI30K_DIR if set, else the offline copy beside the repository if
# there is one, else the Hugging Face hub. (An absolute path: notebooks run in book/.)
ifneq ($(wildcard ../shared/data/multi30k),)
export MULTI30K_DIR ?= $(abspath ../shared/data/multi30k)
endif

book: $(STAMP) book-assets
	rm -rf _build
	$(BIN)/jupyter-book build . -W --keep-going

# Offline JavaScript for the built HTML (vega bundle, MathJax) from the npm registry, cached in node_modules/.
book-assets: $(STAMP)
	scripts/build_book_assets.sh $(BIN)/python

# Debian's Chromium for the browser checks of tests/test_book.py (never `playwright install`).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

clean:
	rm -rf _build .pytest_cache
