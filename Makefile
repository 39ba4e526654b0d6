# The two commands of the README: `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: run test lint typecheck unit bench clean build-AuthorizerFunction package-authorizer

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependency list changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[local]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/cedar-authz serve --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check authorizer pre_token_hook tests bench
	$(BIN)/mypy
	$(BIN)/cedar-authz format --check policies
	$(BIN)/cedar-authz validate
	$(BIN)/cfn-lint template.yaml

unit: $(VENV)/.installed-dev
	$(BIN)/pytest

test: lint unit

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench

# `sam build` runs this target for the authorizer (template.yaml: BuildMethod makefile), in a copy
# of the repository, with ARTIFACTS_DIR set. Build with `sam build --use-container` so that pip
# and python are the Lambda runtime's own.
build-AuthorizerFunction:
	$(PYTHON) -m pip install --quiet --target "$(ARTIFACTS_DIR)" -r requirements.txt
	$(MAKE) package-authorizer

# The function's own files, its compiled policy store (`cedar-authz compile`: the cold start then
# skips parsing and validating the policies) and byte code for every module. Lambda's file system
# is read-only, so without .pyc files every cold start compiles the sources again; hash-checked
# .pyc files stay valid whatever modification times the zip gives the sources.
package-authorizer:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set"; exit 1; }
	cp -R authorizer policies schemas entities "$(ARTIFACTS_DIR)/"
	rm -f "$(ARTIFACTS_DIR)/policies/.compiled.json"
	cd "$(ARTIFACTS_DIR)" && $(PYTHON) -m authorizer.cli compile
	$(PYTHON) -m compileall -q -f --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)"

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
