# mangacolor: `make demo` and `make test` are all a new user needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The CPU machines hold this exact pair on local disk; installing it first keeps pip from
# fetching a different multi-GB torch build.
TORCH_PIN := torch==2.14.1 torchvision==0.29.1

.PHONY: help install demo train test test-full tensorboard bench clean \
	gpu-prep gpu-wheels gpu-pages bench-gpu bench-gpu-eager bench-gpu-compile test-gpu

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install mangacolor with its test extras

demo: $(STAMP)  ## train briefly on the bundled pages, evaluate, and show where the results are
	$(VENV)/bin/mangacolor-train +experiment=demo paths.output_dir=outputs/demo
	@run=$$(ls -td outputs/demo/runs/*/ | head -n 1); \
	$(VENV)/bin/mangacolor-eval ckpt_path=$${run}checkpoints/generator.pt data.test_dir=data/demo/val \
		data.train_dir=data/demo/train paths.output_dir=outputs/demo && \
	echo "Demo done. Pictures: $${run}images/ (validation grids) and the newest outputs/demo/evals/*/ (best.png, worst.png)." && \
	echo "Dashboards: $(VENV)/bin/tensorboard --logdir outputs/demo   (or: make tensorboard)"

train: $(STAMP)  ## train with the defaults; pass ARGS='+experiment=manga data.train_dir=...'
	$(VENV)/bin/mangacolor-train $(ARGS)

test: $(STAMP)  ## the default suite (CPU, under 10 minutes on 2 cores)
	$(PY) -m pytest -q $(ARGS)

test-full: $(STAMP)  ## every test, the slow ones too
	$(PY) -m pytest -q -m '' $(ARGS)

bench: $(STAMP)  ## print speed numbers for this machine
	$(VENV)/bin/mangacolor-bench $(ARGS)

# ---- the GPU sweep of docs/benchmarks.md ("GPU session recipe") ------------------------------------
# Here `make gpu-prep` fills what the GPU machine lacks: .whl/ (wheels) and .gpu-pages/ (it gets no
# ../shared). There, with no venv and no console scripts, PYTHON_RUN=python3 runs the modules with
# that Python and never builds .venv; the carried wheels must be installed and on PYTHONPATH first,
# with src/ (the whole command line is in docs/benchmarks.md):
#   make bench-gpu-eager test-gpu PYTHON_RUN=python3 OUT_DIR=$$OUT
# Each bench line is '-': one failing part must not cost the rest of a 10-minute call.
PYTHON_RUN ?=
RUN_PY      = $(or $(PYTHON_RUN),$(PY))
RUN_NEEDS   = $(if $(PYTHON_RUN),,$(STAMP))
PAGES      ?= .gpu-pages
OUT_DIR    ?= outputs/bench-gpu
COMPILE_BATCHES ?= [1,8,16,32,64]
DECODE_SWEEP    ?= 'bench.data_decode_on_device=[false,true]'
BENCH_ARGS ?=  # last on every bench line, so they win: e.g. BENCH_ARGS='+debug=tiny ...' for a CPU smoke test
BENCH_GPU   = $(RUN_PY) -m mangacolor.commands.bench +experiment=manga 'data.train_dir=$(PAGES)'
WHEELS      := .whl
# The versions CI runs with; antlr4 4.9.3 is an sdist on PyPI, built here (pure Python).
GPU_WHEELS  := kornia==0.9.0 kornia_rs==0.2.0 hydra-core==1.3.8 omegaconf==2.3.1
SHARED_PAGES   ?= ../shared/data/clipart/train
GPU_PAGE_COUNT ?= 600

gpu-prep: gpu-wheels gpu-pages $(STAMP)  ## fill .whl/ and .gpu-pages/ for a GPU call; print the commit to name there
	@echo "MANGACOLOR_COMMIT=$$($(PY) -c 'from mangacolor.benchmark.machine import git_commit; from mangacolor.runtime.bundled import REPO_DIR; print(git_commit(REPO_DIR))')"

gpu-wheels:  ## download the wheels the GPU machine lacks (Python 3.12, x86-64) into .whl/
	rm -rf $(WHEELS)
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d $(WHEELS) $(GPU_WHEELS)
	$(PYTHON) -m pip wheel -q --no-deps -w $(WHEELS) antlr4-python3-runtime==4.9.3

gpu-pages:  ## copy GPU_PAGE_COUNT (600) pages of ../shared's clipart into .gpu-pages/
	rm -rf .gpu-pages && mkdir -p .gpu-pages
	find $(SHARED_PAGES) -maxdepth 1 -type f -print0 | sort -z | head -z -n $(GPU_PAGE_COUNT) | xargs -0 cp -t .gpu-pages

bench-gpu: bench-gpu-eager bench-gpu-compile  ## the whole GPU sweep into OUT_DIR (on a card: two calls, one per part)

bench-gpu-eager: $(RUN_NEEDS)  ## GPU sweep, part 1: eager batch sweep, channels_last, bf16/fp32 profiled, data, end to end, colourise
	-$(BENCH_GPU) 'bench.tasks=[model]' 'bench.batch_sizes=[1,8,16,32,64]' 'bench.compile=[false]' \
		'bench.channels_last=[false,true]' 'bench.json=$(OUT_DIR)/eager/bench.json' $(BENCH_ARGS)
	-$(BENCH_GPU) 'bench.tasks=[model,data,end_to_end,colourise]' 'bench.batch_sizes=[16]' 'bench.compile=[false]' \
		'bench.precisions=[bf16-mixed,32-true]' bench.profile=true data.batch_size=16 data.num_workers=16 'bench.data_workers=[16]' $(DECODE_SWEEP) \
		bench.data_batches=100 bench.iterations=50 'bench.json=$(OUT_DIR)/pipeline/bench.json' $(BENCH_ARGS)

bench-gpu-compile: $(RUN_NEEDS)  ## GPU sweep, part 2: torch.compile at each batch size, profiled at 16 and 64
	-$(BENCH_GPU) 'bench.tasks=[model]' 'bench.batch_sizes=$(COMPILE_BATCHES)' 'bench.compile=[true]' \
		'bench.profile=[16,64]' 'bench.json=$(OUT_DIR)/compiled/bench.json' $(BENCH_ARGS)

test-gpu: $(RUN_NEEDS)  ## the tests that need CUDA (they skip without it)
	$(RUN_PY) -m pytest -q -m gpu $(ARGS)

tensorboard: $(STAMP)  ## open the dashboards of every run under outputs/
	$(VENV)/bin/tensorboard --logdir outputs

clean:  ## remove the virtual environment (runs under outputs/ are kept)
	rm -rf $(VENV)
