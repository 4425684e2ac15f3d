# mangacolor: `make demo` and `make test` are all a new user needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The CPU machines hold this exact pair on local disk; installing it first keeps pip from
# fetching a different multi-GB torch build.
# The demo's B&W manga page, printed from a held-out bundled drawing (data/demo/README.md).
DEMO_BW := data/demo/bw/animals_cartoon_squirrel_mike_sm1_0c5e40.jpg
# Its hint file: ten dots a person would place, chosen before any hint model was trained.
DEMO_HINTS := data/demo/hints/animals_cartoon_squirrel_mike_sm1_0c5e40.json
TORCH_PIN := torch==2.14.1 torchvision==0.29.1

.PHONY: help install demo train lint format test test-full tensorboard bench studio clean
# A GPU session's benchmark sweep runs from scripts/ (plain python3, no venv): docs/benchmarks.md.

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[test,export,studio]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install mangacolor with its test, export and studio extras

demo: $(STAMP)  ## train briefly on the bundled pages, evaluate, colour a B&W manga page, show where the results are
	$(VENV)/bin/mangacolor-train +experiment=demo paths.output_dir=outputs/demo
	@run=$$(ls -td outputs/demo/runs/*/ | head -n 1); \
	$(VENV)/bin/mangacolor-eval ckpt_path=$${run}checkpoints/generator.pt data.test_dir=data/demo/val \
		data.train_dir=data/demo/train paths.output_dir=outputs/demo && \
	$(VENV)/bin/mangacolor-colorize ckpt_path=$${run}checkpoints/generator.pt input=$(DEMO_BW) \
		output=$${run}bw format=png overwrite=true && \
	$(VENV)/bin/mangacolor-colorize ckpt_path=$${run}checkpoints/generator.pt input=$(DEMO_BW) \
		hints=$(DEMO_HINTS) output=$${run}bw_hinted format=png overwrite=true && \
	$(PY) scripts/demo_compare.py $(DEMO_BW) $${run}bw/$(notdir $(basename $(DEMO_BW))).png \
		$${run}bw_hinted/$(notdir $(basename $(DEMO_BW))).png $(DEMO_HINTS) \
		$(basename $(DEMO_BW)).truth.jpg $${run}bw_demo.png && \
	echo "Demo done. Pictures: $${run}bw_demo.png (a B&W page coloured automatically and with ten hint dots), $${run}images/ (validation grids) and the newest outputs/demo/evals/*/ (best.png, worst.png)." && \
	echo "Dashboards: $(VENV)/bin/tensorboard --logdir outputs/demo   (or: make tensorboard)"

train: $(STAMP)  ## train with the defaults; pass ARGS='+experiment=manga data.train_dir=...'
	$(VENV)/bin/mangacolor-train $(ARGS)

lint: $(STAMP)  ## ruff: the lint rules, and the formatting checked (seconds)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)  ## ruff: fix what the lint rules can fix safely, then format the tree
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint  ## ruff, then the default suite (CPU, under 10 minutes on 2 cores)
	$(PY) -m pytest -q $(ARGS)

test-full: $(STAMP)  ## every test, the slow ones too
	$(PY) -m pytest -q -m '' $(ARGS)

bench: $(STAMP)  ## print speed numbers for this machine
	$(VENV)/bin/mangacolor-bench $(ARGS)

studio: $(STAMP)  ## colour pages in the browser with hints, on the newest demo model (trains the demo first if none)
	@test -n "$$(ls -t outputs/demo/runs/*/checkpoints/generator.pt 2>/dev/null | head -n 1)" || $(MAKE) demo
	$(VENV)/bin/mangacolor-studio ckpt_path="$$(ls -t outputs/demo/runs/*/checkpoints/generator.pt | head -n 1)" \
		input=$(DEMO_BW) output=outputs/studio $(ARGS)

tensorboard: $(STAMP)  ## open the dashboards of every run under outputs/
	$(VENV)/bin/tensorboard --logdir outputs

clean:  ## remove the virtual environment (runs under outputs/ are kept)
	rm -rf $(VENV)
