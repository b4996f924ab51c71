# make run: install what is missing, then start the whole system on its embedded ZooKeeper.
# make test: install what is missing, then run the linters and the whole test suite.
# make fuzz: schemathesis against a system it starts on loopback (tests/fuzz/run.py).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ZK_JAR := /usr/share/java/zookeeper.jar
# The live cluster page's test: Debian's headless Chromium and its WebDriver.
CHROMEDRIVER := /usr/bin/chromedriver
CONF ?= etc/odenos.conf
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: install install-dev run start stop status test lint fuzz bench bench-scale clean

# What running needs; the linters and test tools only for test, lint and fuzz.
install: $(VENV)/.installed $(ZK_JAR)
install-dev: install $(VENV)/.installed-dev $(CHROMEDRIVER)

# Debian's python3 may lack venv/pip: install them once if creating the venv fails.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { $(APT) update -qq && $(APT) install -y -qq python3-venv python3-pip && rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(CHROMEDRIVER):
	$(APT) update -qq
	$(APT) install -y -qq chromium chromium-driver

# Apache ZooKeeper 3.8 and a Java runtime, from Debian (the package starts no service).
$(ZK_JAR):
	$(APT) update -qq
	$(APT) install -y -qq zookeeper

run: install
	$(BIN)/odenos run -c $(CONF)

start: install
	$(BIN)/odenos start -c $(CONF)

stop:
	$(BIN)/odenos stop -c $(CONF)

status:
	$(BIN)/odenos status -c $(CONF)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install-dev lint
	$(BIN)/pytest

fuzz: install-dev
	$(BIN)/python tests/fuzz/run.py

bench: install
	$(BIN)/python -m bench

# How costs grow with 100, 1,000 and 10,000 components over 2 and 10 managers (~20 min).
bench-scale: install
	$(BIN)/python -m bench.scale

clean:
	rm -rf $(VENV) var *.egg-info .pytest_cache .mypy_cache .ruff_cache
