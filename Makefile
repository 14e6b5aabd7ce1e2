# BatchHub: `make run` to try it, `make test` to check it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

TEST_DATABASE_URL ?= postgres://postgres:postgres@127.0.0.1:5432/batchhub
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
TEST_ENV := BATCHHUB_ENV=test DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL)
SQLITE_ENV := BATCHHUB_ENV=test DATABASE_URL=sqlite:///$(CURDIR)/var/test-portable.sqlite3 REDIS_URL= \
	CELERY_BROKER_DIR=$(CURDIR)/var/test-broker

.PHONY: run test lint check-deploy test-postgres test-sqlite bench install install-test clean

$(VENV)/bin/activate:
	scripts/ensure-services.sh python-venv
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

$(VENV)/.installed: requirements/base.txt $(VENV)/bin/activate
	$(VENV)/bin/pip install -q -r requirements/base.txt
	touch $@

$(VENV)/.installed-test: requirements/test.txt $(VENV)/.installed
	$(VENV)/bin/pip install -q -r requirements/test.txt
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	PORT=$(PORT) scripts/run.sh

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

PROD_CHECK_ENV = BATCHHUB_ENV=production \
	SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	FIELD_ENCRYPTION_KEY=$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
	ALLOWED_HOSTS=batchhub.example.com \
	DATABASE_URL=postgres://batchhub:unused@db.example.com:5432/batchhub REDIS_URL=redis://cache.example.com:6379/0

# The deploy checks and the production image's collectstatic (hashed, compressed), under production settings
# with throwaway secrets: what the image build runs cannot break unseen.
check-deploy: install
	$(PROD_CHECK_ENV) $(PY) manage.py check --deploy --fail-level WARNING
	rm -rf var/collectstatic-check
	$(PROD_CHECK_ENV) STATIC_ROOT=$(CURDIR)/var/collectstatic-check $(PY) manage.py collectstatic --noinput -v 0

test-postgres: install-test
	scripts/ensure-services.sh postgres redis chromium
	$(TEST_ENV) $(PY) -m pytest

test-sqlite: install-test
	mkdir -p var
	rm -f var/test-portable.sqlite3
	$(SQLITE_ENV) $(PY) -m pytest -m portable -p no:playwright -q

test: lint check-deploy test-postgres test-sqlite

bench: install-test
	scripts/ensure-services.sh postgres redis wrk
	$(PY) bench/run.py

clean:
	rm -rf var staticfiles
