# Every target sets up what it needs: a fresh clone runs `make build-dataset` or `make test` alone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PRESET ?= default
OUT    ?= medforget
STAMP  := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export GX_ANALYTICS_ENABLED ?= false

.PHONY: setup build-dataset test bench clean

setup: $(STAMP)

# Whenever torch joins the environment it goes first and pinned (torch==2.13.0, a local CPU
# wheel here); any other spec pulls a multi-GB CUDA build. The build needs no torch.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps torchxrayvision==1.5.7
	touch $@

build-dataset: $(STAMP)
	$(VENV)/bin/medforget build --preset $(PRESET) --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_build.py
	$(PY) benchmarks/bench_validate.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
