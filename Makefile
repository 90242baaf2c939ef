# kafka-lab: `make demo` to see it, `make test` to check it.
SHELL := /bin/bash
CARGO ?= cargo
TANSU := .tools/bin/tansu
# make broker / make demo: tansu (one in-memory Tansu broker) or kafka (an Apache Kafka cluster of a controller
# and two brokers, scripts/kafka-cluster.sh).
BROKER ?= tansu
# Cargo features of `make build` and `make release`: empty builds pure Rust (no C compiler); tls adds TLS to the
# brokers (SECURITY_PROTOCOL=SSL, SASL_SSL) with rustls' ring provider, which compiles C. `make test` and
# `make lint` always include tls, `make pure-rust` never.
FEATURES ?=
CARGO_FEATURES = $(if $(FEATURES),--features $(FEATURES))

.PHONY: help build release test lint pure-rust broker tools demo bench chaos

help:
	@echo "make demo      build, start a local broker, the producer and two consumers; print the page's URL"
	@echo "make test      unit tests, and integration tests on Apache Kafka and on Tansu (installs what it needs)"
	@echo "make release   the binaries, pure Rust; FEATURES=tls adds TLS to the brokers (needs a C compiler)"
	@echo "make lint      cargo fmt --check and clippy -D warnings"
	@echo "make broker    a local broker on 127.0.0.1:9093 with first-topic (2 partitions)"
	@echo "               BROKER=kafka: Apache Kafka, brokers on 127.0.0.1:9093 and 9094 (make demo BROKER=kafka too)"
	@echo "make bench     measure latency, throughput, footprint and hand-over (BROKER=kafka: on Apache Kafka)"
	@echo "make chaos     the fault suite on both brokers, 15 s of load around each fault (make test runs it with 3 s)"

build:
	$(CARGO) build $(CARGO_FEATURES)

release:
	$(CARGO) build --release $(CARGO_FEATURES)

# Everything the tests need that is not a Rust crate: the test brokers (Tansu, and Apache Kafka's jars from
# Maven Central) and the Python peers (aiokafka, confluent-kafka) into .tools/ (git-ignored), the Java peers
# compiled into target/java-peers, headless Chromium (Debian) and playwright-core (tests/browser/node_modules).
# tests/security.rs also needs openssl, which makes its certificates (scripts/test-certificates.sh).
tools:
	@command -v openssl >/dev/null || { echo "make tools: openssl is missing (Debian: apt-get install -y openssl)" >&2; exit 1; }
	bash scripts/install-tansu.sh
	bash scripts/install-kafka.sh
	bash scripts/install-aiokafka.sh
	bash scripts/build-java-peers.sh
	bash scripts/install-browser.sh

test: tools pure-rust
	node --test tests/page-model/
	$(CARGO) test --features tls --lib --bins --tests

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features tls -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --document-private-items --quiet

# The default build must not need a C compiler (rskafka without default features, gzip and snappy only; SASL's
# SCRAM in pure Rust; TLS, whose crypto compiles C, only with FEATURES=tls).
pure-rust:
	CC=/bin/false CXX=/bin/false $(CARGO) build --release --bins

broker:
	@case "$(BROKER)" in \
	  tansu) exec bash scripts/broker.sh 9093 ;; \
	  kafka) exec bash scripts/kafka-cluster.sh run ;; \
	  *) echo "make broker: BROKER must be tansu (the default) or kafka, not '$(BROKER)'" >&2; exit 2 ;; \
	esac

demo: release
	BROKER=$(BROKER) bash scripts/demo.sh

# The fault suite (tests/chaos/) with a longer load than make test gives it; tables in target/chaos/.
chaos: tools
	CHAOS_SECONDS=$${CHAOS_SECONDS:-15} $(CARGO) test --test chaos -- --nocapture --test-threads=1

bench: release
	bash scripts/build-before-batching.sh
	bash scripts/install-tansu.sh
	@if [ "$(BROKER)" = kafka ]; then bash scripts/install-kafka.sh; fi
	BROKER=$(BROKER) $(CARGO) bench --bench bench

# --- Docker (compose/) ---
# The workshop's cluster and services in containers: two Kafka brokers (KRaft), the topics, Kafka UI, the
# producer and two consumers, from compose/compose.yaml; the images are static binaries FROM scratch
# (compose/Dockerfile). up/down/logs/image need Docker with Compose v2; the two checks need no engine.
COMPOSE ?= docker compose
LAB_COMPOSE = $(COMPOSE) -f compose/compose.yaml

.PHONY: up down logs image static-check compose-check

up:
	$(LAB_COMPOSE) up -d --build
	@echo "lab page http://localhost:5000, consumers :8000 and :8001, Kafka UI http://localhost:8080," \
		"brokers localhost:9093,localhost:9094 (make logs to follow, make down to stop)"

down:
	$(LAB_COMPOSE) down --remove-orphans

logs:
	$(LAB_COMPOSE) logs -f

image:
	$(LAB_COMPOSE) build

# Builds the static binaries (target/static) and proves, in a chroot holding only them and an /etc, that they
# resolve names from /etc/hosts and DNS and reach a broker. Needs root.
static-check:
	bash scripts/static-check.sh

# Validates compose/compose.yaml with Docker Compose v2's parser (installed into .tools/) and checks the
# workshop's ports, topics, groups and listeners in it.
compose-check:
	bash scripts/compose-check.sh
