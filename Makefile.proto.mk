# Protobuf tooling for event-grpc: lint, code generation and a staleness
# check. Included by the main Makefile (`include Makefile.proto.mk`); also
# usable alone: `make -f Makefile.proto.mk proto`.
#
# Every tool is pinned here and fetched through the Go module proxy; nothing
# needs to be installed globally:
#   - buf runs with `go run pkg@version` (built once, then cached by Go);
#   - the protoc plugins are `go install`ed into .bin/ (keep .bin/ in
#     .gitignore) and .bin/ is put first on PATH for buf.
# Tool versions live here only; scripts/proto-check.sh gets them from make.

# Don't let this fragment's targets become the includer's default goal:
# remember it here and restore it at the end.
PROTO_MK_DEFAULT_GOAL := $(.DEFAULT_GOAL)

# Directory of this file, so paths hold whatever directory make runs from.
PROTO_MK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
# Keep equal to connectrpc.com/connect in go.mod: the generated code calls
# that runtime (proto-check fails when they differ).
PROTOC_GEN_CONNECT_GO_VERSION := v1.21.1

BUF       := go run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
PROTO_BIN := $(PROTO_MK_DIR)/.bin
PROTO_ENV := PATH="$(PROTO_BIN):$$PATH"

# One stamp per plugin version: changing a version above reinstalls it.
PROTOC_GEN_GO_STAMP      := $(PROTO_BIN)/.protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
PROTOC_GEN_GO_GRPC_STAMP := $(PROTO_BIN)/.protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
PROTOC_GEN_CONNECT_GO_STAMP := $(PROTO_BIN)/.protoc-gen-connect-go@$(PROTOC_GEN_CONNECT_GO_VERSION)
PROTO_PLUGINS := $(PROTOC_GEN_GO_STAMP) $(PROTOC_GEN_GO_GRPC_STAMP) $(PROTOC_GEN_CONNECT_GO_STAMP)

.PHONY: proto proto-lint proto-generate proto-check proto-tools

## proto: lint the protos and regenerate gen/ from them.
proto: proto-lint proto-generate

## proto-lint: buf lint (STANDARD rules, see proto/buf.yaml).
proto-lint:
	cd $(PROTO_MK_DIR)/proto && $(BUF) lint

## proto-generate: regenerate gen/ (buf.gen.yaml cleans it first).
proto-generate: $(PROTO_PLUGINS)
	cd $(PROTO_MK_DIR)/proto && $(PROTO_ENV) $(BUF) generate

## proto-check: fail if lint fails or gen/ differs from a fresh generation.
proto-check: $(PROTO_PLUGINS)
	BUF="$(BUF)" PROTO_BIN="$(PROTO_BIN)" CONNECT_GO_VERSION="$(PROTOC_GEN_CONNECT_GO_VERSION)" $(PROTO_MK_DIR)/scripts/proto-check.sh

## proto-tools: install the pinned protoc plugins into .bin/.
proto-tools: $(PROTO_PLUGINS)

$(PROTOC_GEN_GO_STAMP):
	GOBIN=$(PROTO_BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@touch $@

$(PROTOC_GEN_GO_GRPC_STAMP):
	GOBIN=$(PROTO_BIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	@touch $@

$(PROTOC_GEN_CONNECT_GO_STAMP):
	GOBIN=$(PROTO_BIN) go install connectrpc.com/connect/cmd/protoc-gen-connect-go@$(PROTOC_GEN_CONNECT_GO_VERSION)
	@touch $@

# Run alone (make -f Makefile.proto.mk), the default goal is `proto`.
ifeq ($(words $(MAKEFILE_LIST)),1)
.DEFAULT_GOAL := proto
else
.DEFAULT_GOAL := $(PROTO_MK_DEFAULT_GOAL)
endif
