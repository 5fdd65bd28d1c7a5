# Every target creates .venv and installs the project when missing, so a fresh clone needs nothing else.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_HOME := $(CURDIR)/var/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL ?= WARNING
export DO_NOT_TRACK := 1

.PHONY: install demo stack stack-down test test-fast bench lint clean office browser docs

# Install output goes to a log (shown only if the install fails) so a first run reads as cleanly as later ones.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@mkdir -p var
	@echo "installing the project into $(VENV) (first run only; log in var/install.log)"
	@($(BIN)/pip install --upgrade pip && $(BIN)/pip install -e '.[dev]') > var/install.log 2>&1 \
	  || { tail -n 40 var/install.log; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/district-compliance demo

# The deployed system on this machine (Prefect server + worker, emulator, sample websites), in the background.
stack: $(STAMP)
	$(BIN)/district-compliance stack up

stack-down: $(STAMP)
	$(BIN)/district-compliance stack down

# The workbook-to-PDF test needs LibreOffice; install it when this machine can (root + apt), else that test skips.
office:
	@command -v soffice >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing LibreOffice Calc (headless) for the PDF conversion test"; \
	    (apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui >/dev/null 2>&1)) \
	     || echo "LibreOffice could not be installed; the PDF test will skip"; \
	  else echo "LibreOffice missing and not installable here; the PDF test will skip"; fi; }

# The email layout test (tests/test_email_layout.py) opens every email in headless Chromium at phone and desktop
# widths; install Debian's chromium, its driver and the Liberation fonts (Arial's metrics, so screenshots compare
# across machines) when this machine can (root + apt), else that test skips and says why.
BROWSER_PACKAGES := chromium chromium-driver fonts-liberation
browser:
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && \
	   fc-list 2>/dev/null | grep -q LiberationSans-Regular; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium (headless) and its driver for the email layout test"; \
	    (apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES) >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES) >/dev/null 2>&1)) \
	     || echo "Chromium could not be installed; the email layout test will skip"; \
	  else echo "Chromium missing and not installable here; the email layout test will skip"; fi; }

# The README's screenshots of the Prefect UI (docs/screenshots/), taken from the running stack (started if down).
docs: $(STAMP) browser
	$(BIN)/district-compliance docs screenshots

# Everything, the slow drills included (what CI runs).
test: $(STAMP) office browser
	$(BIN)/pytest

# Unit and component tests while working: the drills marked `slow` (Prefect server, whole flows, crash and
# quota drills, large-scale runs) are left out.
test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf var out .pytest_cache
