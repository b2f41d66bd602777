# event-grpc — the two commands a newcomer needs:
#   go run ./cmd/event-grpc      run, zero configuration
#   make test                    every test, against real servers
.DEFAULT_GOAL := test

GO        ?= go
# Each fuzz target runs this long in `make test`; `make fuzz FUZZTIME=5m` for a longer hunt.
FUZZTIME  ?= 10s
TEST_TIMEOUT ?= 40m

include Makefile.proto.mk

.PHONY: test services vet unit race fuzz build bench-go

## test: start/install the servers, vet, check generated code, run every test and each fuzz target briefly.
test: services vet proto-check unit race fuzz

## services: RabbitMQ, PostgreSQL, Redis, NATS, ClickHouse up (installs ClickHouse if missing).
services:
	scripts/ensure-services.sh

vet:
	$(GO) vet ./...

## unit: every package's tests (real servers included).
unit:
	$(GO) test -p 1 -count=1 -timeout $(TEST_TIMEOUT) ./...

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
