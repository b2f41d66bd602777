# event-grpc — the two commands a newcomer needs:
#   go run ./cmd/event-grpc      run, zero configuration
#   make test                    every test, against real servers
.DEFAULT_GOAL := test

GO        ?= go
# Each fuzz target runs this long in `make test`; `make fuzz FUZZTIME=5m` for a longer hunt.
FUZZTIME  ?= 10s
TEST_TIMEOUT ?= 40m

include Makefile.proto.mk

.PHONY: test services vet unit race fuzz build bench-go chaos chaos-short

## test: start/install the servers, vet, check generated code, run every test, the short chaos suite and each fuzz target briefly.
test: services vet proto-check unit chaos-short race fuzz

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

## race: the concurrent core again under the race detector.
race:
	$(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) ./internal/pipeline/... ./internal/consume/... ./internal/ingest/...

## fuzz: each fuzz target for FUZZTIME.
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

build:
	$(GO) build -o event-grpc ./cmd/event-grpc

## bench-go: the Go benchmarks of the hot paths.
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/pipeline/ ./internal/broker/... ./internal/sink/...
