# Every target sets up what it needs: a fresh clone runs `make build-dataset` or `make test` alone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PRESET ?= default
OUT    ?= medforget
STAMP  := $(VENV)/.installed-stamp
TORCH  ?= 2.13.0
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export GX_ANALYTICS_ENABLED ?= false

.PHONY: setup build-dataset test bench reference-models clean

setup: $(STAMP)

# torch goes first and pinned (torch==2.13.0, a local CPU wheel here); any other spec pulls a
# multi-GB CUDA build. On a GPU machine install your CUDA torch instead, then the rest.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==$(TORCH)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,models,llm]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps torchxrayvision==1.5.7
	touch $@

build-dataset: $(STAMP)
	$(VENV)/bin/medforget build --preset $(PRESET) --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_build.py
	$(PY) benchmarks/bench_validate.py
	$(PY) benchmarks/bench_eval.py

# The tiny track's target model and one retain model per level, trained on CPU from the tiny preset.
# Each prints what it knows (seen, left-out and held-out rows); the target must reach the bar.
reference-models: $(STAMP)
	$(VENV)/bin/medforget build --preset tiny --out medforget-tiny
	$(VENV)/bin/medforget train --dataset medforget-tiny --out models/tiny/target --require-knowledge
	for level in institution patient study section; do \
		$(VENV)/bin/medforget train --dataset medforget-tiny --without $$level --out models/tiny/retain-$$level; done

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
