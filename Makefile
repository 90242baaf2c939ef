# kafka-lab: `make demo` to see it, `make test` to check it.
SHELL := /bin/bash
CARGO ?= cargo
TANSU := .tools/bin/tansu

.PHONY: help build release test lint pure-rust broker tools demo bench

help:
	@echo "make demo      build, start a local broker, the producer and two consumers; print the page's URL"
	@echo "make test      lint-free build, unit and integration tests against a real broker (Tansu)"
	@echo "make lint      cargo fmt --check and clippy -D warnings"
	@echo "make broker    a local broker on 127.0.0.1:9093 with first-topic (2 partitions)"
	@echo "make bench     measure latency, throughput, footprint and hand-over"

build:
	$(CARGO) build

release:
	$(CARGO) build --release

# Everything the tests need that is not a Rust crate, installed into .tools/ (git-ignored).
tools:
	bash scripts/install-tansu.sh

test: tools pure-rust
	$(CARGO) test --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# The default build must not need a C compiler (rskafka without default features, gzip and snappy only).
pure-rust:
	CC=/bin/false CXX=/bin/false $(CARGO) build --release --bins

broker: tools
	bash scripts/broker.sh 9093
