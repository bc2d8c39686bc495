# Two commands: `make run` (set up, then open the chat) and `make test` (set up, then check everything).
# Every step is idempotent: a second run skips what is already done.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
# torch is pinned and installed first: pip takes the CPU build of 2.13.0 from local disk, while an
# unpinned torch (pulled in by sentence-transformers) would download several GB of CUDA wheels.
TORCH := torch==2.13.0
# Exact versions and hashes of everything else (make lock writes them from pyproject.toml's ranges).
LOCK := requirements.lock
LOCK_COMPILED := requirements-llamacpp.lock
HOST ?= 127.0.0.1
PORT ?= 7860

export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test setup lock test-latest index lint typecheck pytest evals bench browser haproxy pdftools ocr clean

run: setup index
	$(VENV)/bin/rag serve --host $(HOST) --port $(PORT)

test: setup index browser haproxy lint typecheck pytest evals

setup: $(VENV)/.installed

# What a machine must have before pip runs, each missing piece named with the Debian packages that bring it.
$(PY):
	@version=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	if [ -z "$$version" ]; then echo "rag needs Python 3.11 ($(PYTHON) does not run here): sudo apt-get install python3.11 python3.11-venv, or set PYTHON=/path/to/python3.11" >&2; exit 2; fi; \
	if [ "$$version" != 3.11 ]; then echo "rag needs Python 3.11 ($(PYTHON) is $$version): sudo apt-get install python3.11 python3.11-venv, or set PYTHON=/path/to/python3.11" >&2; exit 2; fi
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { echo "$(PYTHON) cannot make a virtualenv: sudo apt-get install python3.11-venv" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)

# Everything from the lock, nothing resolved on the day: torch (no deps: they are in the lock), the lock
# with hashes, then llama-cpp-python, which compiles llama.cpp (about 6 minutes on 2 idle cores; pip's wheel
# cache makes a reinstall take seconds) with the lock's scikit-build-core, then the project itself.
$(VENV)/.installed: $(LOCK) $(LOCK_COMPILED) pyproject.toml | $(PY)
	@for tool in cc c++ cmake; do command -v $$tool >/dev/null 2>&1 || { echo "llama.cpp (--answerer llamacpp and its tests) needs $$tool to compile: sudo apt-get install build-essential cmake" >&2; exit 2; }; done
	$(PIP) install --no-deps $(TORCH)
	$(PIP) install --require-hashes --no-deps -r $(LOCK)
	$(PIP) install --require-hashes --no-deps --no-build-isolation -r $(LOCK_COMPILED)
	$(PIP) install --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@

# Write the lock files again from pyproject.toml's ranges (uv pip compile; see scripts/lock.py), then install them.
lock: $(VENV)/.installed
	$(PY) scripts/lock.py
	$(MAKE) setup

# Early warning of upstream breakage: a throwaway virtualenv with the newest releases pyproject.toml allows,
# the packages that moved since the lock, then the suite. A failure here never blocks `make test` (the lock).
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/pip --disable-pip-version-check --quiet install $(TORCH)
	.venv-latest/bin/pip --disable-pip-version-check --quiet install -e '.[dev]'
	.venv-latest/bin/python scripts/moved.py $(LOCK) $(LOCK_COMPILED)
	.venv-latest/bin/pytest -p no:cacheprovider && echo "test-latest: passed with the newest releases" \
		|| { echo "test-latest: FAILED with the newest releases (make test runs on the lock and is unaffected)"; exit 1; }

index: setup
	$(VENV)/bin/rag index

# Debian's Chromium for the browser tests (never `playwright install`, which downloads its own).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium from Debian for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's HAProxy, the load balancer in front of `rag serve --workers N` (and its tests).
haproxy:
	@command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || { \
		echo "installing haproxy from Debian for rag serve --workers"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq haproxy >/dev/null; }

# Debian's pdftotext (poppler-utils): the baseline of benchmarks/bench_extract.py.
pdftools:
	@command -v pdftotext >/dev/null 2>&1 || { \
		echo "installing poppler-utils from Debian for the extraction benchmark"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq poppler-utils >/dev/null; }

# Optional: Debian's tesseract-ocr reads scanned PDFs (setting ocr = auto); without it they are skipped, by name.
ocr:
	@command -v tesseract >/dev/null 2>&1 || { \
		echo "installing tesseract-ocr from Debian to read scanned PDFs"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq tesseract-ocr >/dev/null; }

# ruff, then the layout's import contracts (pyproject.toml [tool.importlinter]: layers, doors, no circles).
lint: setup
	$(VENV)/bin/ruff check rag ui server tests benchmarks evals scripts
	$(VENV)/bin/ruff format --check rag ui server tests benchmarks evals scripts
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup
	$(VENV)/bin/pytest

# The Q&A suites with the extractive default; thresholds sit just under what it reaches, so a regression fails.
# Since issue 23 a quote carries the context it needs (the term above a description, the sentence a leading
# "It" stands for) and a multi-part question gets a sentence per part: sentences_per_answer counts those
# context sentences, and citation_precision counts a passage cited only for context (or for a second part)
# as not relevant, so those two floors moved (1.45 -> 1.7, 0.85 -> 0.78 / 0.75).
# The listwise ranker (issue 23) keeps the seeds' figures (calibration 0.881 correct, refusals 0.923 / 1.000;
# held out 0.833, recall 0.444) with fewer padding sentences, so the citation floors rose (0.85 / 0.80).
# evals/qa.jsonl calibrated the answerer (evals/calibrate.py); evals/heldout.jsonl never did: its figures are
# the honest ones, printed here for every CI run.
evals: setup index
	@echo "== calibration set (evals/qa.jsonl: the answerer's settings were chosen on it)"
	$(VENV)/bin/rag eval -q --qa evals/qa.jsonl \
		--min hit@5=0.95 --min mrr=0.88 --min answer_correct=0.85 --min refusal_precision=0.85 \
		--min refusal_recall=0.95 --min citation_precision=0.85 --min citation_recall=0.95 \
		--max sentences_per_answer=1.6
	@echo "== held-out set (evals/heldout.jsonl: written independently, never used to calibrate)"
	$(VENV)/bin/rag eval -q --qa evals/heldout.jsonl \
		--min hit@5=0.95 --min answer_correct=0.80 --min refusal_recall=0.40 --min citation_precision=0.80 \
		--max sentences_per_answer=1.6
	@echo "== real documentation, fast part (evals/real/fast.jsonl: the calibration items on git's HTML man pages and the Asymptote PDF manual)"
	python3 evals/real/fetch.py --corpus git --corpus asymptote --into evals/real/fast
	@mkdir -p reports
	$(VENV)/bin/rag eval -q --docs evals/real/fast --index index-real-fast --qa evals/real/fast.jsonl --out reports/real-fast.jsonl \
		--min hit@5=0.95 --min answer_correct=0.80 --min refusal_precision=0.80 --min refusal_recall=0.70 \
		--min citation_precision=0.58 --min citation_source_precision=0.93 --min page_accuracy=0.95 \
		--max sentences_per_answer=2.4 --max chars_per_answer=365
	$(PY) evals/real/check_answers.py reports/real-fast.jsonl
	@echo "== documents set (evals/docs_qa.jsonl: PDF, Word, HTML and wrapped text written for it, with pages)"
	$(VENV)/bin/rag eval -q --docs evals/docs --index index-docs --qa evals/docs_qa.jsonl \
		--min hit@5=0.95 --min mrr=0.90 --min answer_correct=0.85 --min refusal_precision=0.55 \
		--min refusal_recall=0.55 --min citation_precision=0.95 --min citation_recall=0.95 --min page_accuracy=0.95

bench: setup index pdftools
	$(PY) benchmarks/bench_extract.py
	$(PY) benchmarks/bench_query.py
	$(PY) benchmarks/bench_load.py
	$(PY) benchmarks/bench_load.py --scale-out
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_scale.py
	$(PY) benchmarks/bench_live.py
	$(PY) benchmarks/bench_api.py

clean:
	rm -rf $(VENV) .venv-latest index index-docs index-real-fast evals/real/fast .mypy_cache .ruff_cache .pytest_cache .import_linter_cache .grimp_cache
