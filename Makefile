# event-grpc — the two commands a newcomer needs:
#   go run ./cmd/event-grpc      run, zero configuration
#   make test                    every test, against real servers
.DEFAULT_GOAL := test

GO        ?= go
# Each fuzz target runs this long in `make test`; `make fuzz FUZZTIME=5m` for a longer hunt.
FUZZTIME  ?= 10s
TEST_TIMEOUT ?= 40m

include Makefile.proto.mk

.PHONY: test services vet unit race fuzz build bench-go chaos chaos-short cluster-chaos cluster-chaos-full java ts alerts console segment

## test: start/install the servers, vet, check generated code, run every test, the short chaos suites, each fuzz target briefly, the SDKs, the console, the Segment SDKs, the Helm chart and the container image.
test: services vet proto-check alerts chaos-short unit cluster-chaos race fuzz java ts console segment helm image-smoke release-smoke

## services: RabbitMQ, PostgreSQL, Redis, NATS, ClickHouse up (installs ClickHouse if missing).
services:
	scripts/ensure-services.sh

vet:
	$(GO) vet ./...

## unit: every package's tests (real servers included), one package at a
## time: some stop and start RabbitMQ, NATS or ClickHouse.
unit:
	$(GO) test -p 1 -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v /test/chaos)

## chaos-short: the chaos suite's short version (~2.5 min), scenario lines shown.
chaos-short:
	$(GO) test -count=1 -timeout 15m -v -run TestChaos ./test/chaos/

## chaos: the full chaos suite (kill -9 ×3, SIGTERM, RabbitMQ and ClickHouse
## outages, poison, two instances) against real servers; prints the
## scenario=… summary.
chaos: services
	scripts/chaos.sh

## cluster-chaos: the cluster chaos suite, short (scripts/cluster/: RabbitMQ,
## NATS and ClickHouse clusters on private ports, two instances behind
## haproxy, a node killed per scenario); cluster-chaos-full: the long one.
cluster-chaos:
	scripts/cluster/chaos.sh; s=$$?; scripts/cluster/down.sh; exit $$s

cluster-chaos-full:
	scripts/cluster/chaos.sh --full

## race: the concurrent core again under the race detector.
race:
	$(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) ./internal/pipeline/... ./internal/consume/... ./internal/landing/... ./internal/ingest/...

## ts: the TypeScript SDK: npm ci, generated code check, build, unit tests, headless-Chromium end-to-end.
ts:
	scripts/test-ts.sh

## fuzz: each fuzz target for FUZZTIME.
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

build:
	$(GO) build -o event-grpc ./cmd/event-grpc

## bench-go: the Go benchmarks of the hot paths.
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/pipeline/ ./internal/broker/... ./internal/sink/...

## release: versioned Linux amd64/arm64 binaries, the TS package and the Java jars into dist/ with SHA256SUMS.
release:
	scripts/release.sh

## release-smoke: the release build's smoke test (amd64): version, zero-config start, one dispatch stored, /heartbeat.
release-smoke:
	scripts/release.sh --smoke

# make test also runs the release smoke test.
.PHONY: release release-smoke

## java: build the Java SDK (clients/java) from Debian's packages and run its tests, the real server's included.
java:
	scripts/test-java.sh

# Alert rules: syntax and the unit test of every alert (promtool from Debian).
alerts:
	./scripts/ensure-prometheus.sh
	cd deploy/prometheus && promtool check rules alerts.yml && promtool test rules alerts_test.yml

# The status page in headless Chromium, against a server under load.
console: services
	./scripts/test-console.sh

## proxy: the service behind a real nginx from Debian (installs nginx-light when missing); `unit` runs it too.
.PHONY: proxy
proxy:
	$(GO) test -count=1 -v ./test/proxy/

# Deployment artefacts: the Helm chart (lint, render, offline manifest
# checks) and the container image (built on a local Debian base, run, one
# dispatch must land as a row). The compose files are checked by the Go test
# in deploy/compose (part of `unit`).
.PHONY: helm image image-smoke

## helm: helm lint + template of deploy/helm/event-grpc in both modes, manifests checked offline (scripts/test-helm.sh).
helm:
	scripts/test-helm.sh

## image: build the container image on a local Debian bookworm base (no registry needed).
image:
	scripts/image.sh build

## image-smoke: build the image and smoke-test it (scripts/image.sh).
image-smoke:
	scripts/image.sh all

## segment: the public Segment SDKs (analytics-node, rudder-sdk-node, analytics-next in headless Chromium) against the real server.
segment:
	./scripts/test-segment.sh
