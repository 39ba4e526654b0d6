# The two commands of the README: `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: run test lint typecheck unit bench clean build-AuthorizerFunction package-authorizer \
	package-files
# What the Lambda does not run: the tooling (CLI, authoring, local gateway) and the library for
# backends (decision API, redaction, aiohttp middleware). Not shipped to Lambda.
NOT_RUNTIME := authorizer/tooling authorizer/sdk

# pip's chatter (a machine's index warnings, build back-end notices) is shown only when pip fails.
PIP_INSTALL = $(BIN)/python -m pip --disable-pip-version-check install --quiet
QUIETLY = 2>$(VENV)/pip.log || { cat $(VENV)/pip.log; exit 1; }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip $(QUIETLY)

# Reinstall only when the dependency list changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[local]' $(QUIETLY)
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]' $(QUIETLY)
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

# Two workers (pytest-xdist): the suite is mostly independent tests on two cores.
unit: $(VENV)/.installed-dev
	$(BIN)/pytest -n 2

test: lint unit

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(PIP_INSTALL) -e '.[dev,bench]' $(QUIETLY)
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench

# `sam build` runs this target for the authorizer (template.yaml: BuildMethod makefile), in a copy
# of the repository, with ARTIFACTS_DIR set. Build with `sam build --use-container` so that pip
# and python are the Lambda runtime's own.
# Another interpreter would build wheels and .pyc files the runtime cannot load (cedarpy's
# native module for 3.11 on python3.12: every invocation a 500), so it is refused here.
LAMBDA_PYTHON := 3.12
build-AuthorizerFunction:
	@$(PYTHON) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(None if v == "$(LAMBDA_PYTHON)" else f"build-AuthorizerFunction: python {v} is not the Lambda runtime'"'"'s $(LAMBDA_PYTHON): run sam build --use-container")'
	$(PYTHON) -m pip install --quiet --target "$(ARTIFACTS_DIR)" -r requirements.txt
	$(MAKE) package-files PACKAGE_PYTHON=$(PYTHON)

# The same package from this checkout, with the project's own .venv (which has cedarpy) doing the
# compiling: `make package-authorizer ARTIFACTS_DIR=DIR` (the dependencies are not copied).
package-authorizer: $(VENV)/.installed-run
	$(MAKE) package-files PACKAGE_PYTHON=$(abspath $(BIN)/python)

# The function's own files, its compiled policy store (`cedar-authz compile`: the cold start then
# skips parsing and validating the policies) and byte code for every module; then what is not
# the runtime (authorizer/tooling, authorizer/sdk) leaves the package. Lambda's file system is
# read-only, so without .pyc files every cold start compiles the sources again; hash-based .pyc
# files stay valid whatever modification times the zip gives the sources.
package-files:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set"; exit 1; }
	@test -n "$(PACKAGE_PYTHON)" || { echo "PACKAGE_PYTHON is not set"; exit 1; }
	cp -R authorizer policies schemas entities "$(ARTIFACTS_DIR)/"
	find "$(ARTIFACTS_DIR)/authorizer" -name __pycache__ -prune -exec rm -rf {} +
	rm -f "$(ARTIFACTS_DIR)/policies/.compiled.json"
	cd "$(ARTIFACTS_DIR)" && $(PACKAGE_PYTHON) -m authorizer.tooling.cli compile
	cd "$(ARTIFACTS_DIR)" && rm -rf $(NOT_RUNTIME)
	$(PACKAGE_PYTHON) -m compileall -q -f --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)"

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
