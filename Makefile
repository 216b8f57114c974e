# hybridcal developer commands. Everything installs itself into .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
# Google's emulators for the store and Pub/Sub tests (local/emulators), from the Google Cloud CLI.
EMULATOR_PACKAGES := google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator

.PHONY: run cloud-local cloud-chaos test lint bench chaos audit i18n clean help browser emulators \
	mutate mutate-ci

help:
	@echo "make run    - start the embedded stack with a simulated Workspace domain"
	@echo "make cloud-local - infra/'s functions, each in its own process, on Google's emulators"
	@echo "make cloud-chaos - the chaos day on CloudStack while function instances are killed"
	@echo "make test   - run the whole test suite"
	@echo "make lint   - ruff, then mypy"
	@echo "make bench  - print the benchmark tables"
	@echo "make chaos  - a day of 1,000 users while Google, the network and handlers fail"
	@echo "make audit  - pip-audit every installed dependency (AUDIT_ARGS=--strict in Cloud Build)"
	@echo "make mutate - mutation score of the critical modules (MUTATE_ARGS=shared/x.py for one)"
	@echo "make mutate-ci - the fixed mutant sample CI runs so the score cannot fall silently"
	@echo "make i18n   - re-extract and compile the join-block translations"

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $(STAMP)

# Google's Firestore and Pub/Sub emulators (Java) come with the Google Cloud CLI; the store
# contract and Pub/Sub tests run on them. Installed with apt when missing and we may use apt
# (needs Google's Cloud SDK apt repository); without them those tests skip, or fail with CI=true.
emulators:
	@gcloud=$$(command -v gcloud 2>/dev/null); \
	sdk=$${gcloud:+$$(dirname "$$(dirname "$$(readlink -f "$$gcloud")")")}; \
	if [ -n "$$sdk" ] && [ -d "$$sdk/platform/cloud-firestore-emulator" ] && \
	   [ -d "$$sdk/platform/pubsub-emulator" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get install -y -qq $(EMULATOR_PACKAGES) >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null && apt-get install -y -qq $(EMULATOR_PACKAGES) >/dev/null)) || \
		echo "could not install $(EMULATOR_PACKAGES) (add Google's Cloud SDK apt repository:" \
		     "https://cloud.google.com/sdk/docs/install#deb): emulator tests will be skipped"; \
	else echo "Google's emulators not found and not root: apt-get install $(EMULATOR_PACKAGES)" \
	          "(emulator tests will be skipped)"; fi

# Debian's Chromium for the meetings-page browser tests (Playwright drives it through
# executable_path; no browser download), a Japanese font so the ja pages render as people see
# them, and axe-core from npm for the accessibility check (tests/browser/package-lock.json).
BROWSER_PACKAGES := chromium fonts-ipafont-gothic
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi ipagothic; } || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null 2>&1 || \
			 (apt-get update -qq >/dev/null && apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null)) || \
			echo "could not install $(BROWSER_PACKAGES): the browser tests will be skipped"; \
		else echo "chromium not found and not root: the browser tests will be skipped"; fi; }
	@test -f tests/browser/node_modules/axe-core/axe.min.js || \
		npm ci --prefix tests/browser --no-audit --no-fund --silent

run: $(STAMP)
	$(PY) -m local

# The deployed topology (local.CloudStack): every function of infra/ in its own process, with
# its service account, grants and Cloud Run front, on Google's Firestore and Pub/Sub emulators.
cloud-local: $(STAMP) emulators
	$(PY) -m local.cloudstack

# The chaos day on CloudStack: 50 users while busy function instances are SIGKILLed.
cloud-chaos: $(STAMP) emulators
	$(PY) -m local.cloudstack.chaos $(CHAOS_ARGS)

test: $(STAMP) emulators browser
	$(PY) -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

# mypy is strict on shared/ and functions/ ([tool.mypy] in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy shared functions

bench: $(STAMP)
	$(PY) -m bench

# CHAOS_ARGS e.g. "--users 200 --seed 7 --crash-rate 0.05"; CI runs 200 users in tests/chaos.
chaos: $(STAMP)
	$(PY) -m local.chaos $(CHAOS_ARGS)

# Mutation testing (mutation/config.toml: modules and their tests; mutation/equivalents.toml:
# mutants left out, with the reason). One module at a time, one worker, in copies under .mutation/.
mutate: $(STAMP)
	$(PY) -m mutation $(MUTATE_ARGS)

mutate-ci: $(STAMP)
	$(PY) -m mutation --ci

audit: $(STAMP)
	$(PY) -m local.dependency_audit $(AUDIT_ARGS)

i18n: $(STAMP)
	$(VENV)/bin/pybabel extract --no-location --project=hybridcal -o shared/i18n/hybridcal.pot shared/keyword/joinblock.py shared/meetings/page.py
	$(VENV)/bin/pybabel update -D hybridcal -i shared/i18n/hybridcal.pot -d shared/i18n/locales -w 100 --no-fuzzy-matching
	$(VENV)/bin/pybabel compile -D hybridcal -d shared/i18n/locales --statistics

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
