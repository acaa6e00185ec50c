# paygate — run `make help` for the targets.
#
# GOFLAGS from the environment is honoured (GOFLAGS=-v make test); the
# targets put their own flags on the go command line, never in GOFLAGS,
# so the two compose. Nothing here needs the network beyond the Go
# module proxy for `go mod download`.

GO         ?= go
BIN        ?= bin
FUZZTIME   ?= 60s
BENCHCOUNT ?= 5
BENCH      ?= .
SIMFLAGS   ?=
LOADFLAGS  ?=
BENCHFLAGS ?=
BENCH_PG   ?= $(PAYGATE_TEST_POSTGRES)
RUNFLAGS   ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@echo 'Usage: make <target> [VAR=value ...]'
	@echo
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z0-9_-]+:.*?## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo 'Variables: FUZZTIME=$(FUZZTIME) BENCHCOUNT=$(BENCHCOUNT) BENCH=$(BENCH) SIMFLAGS=$(SIMFLAGS) RUNFLAGS=$(RUNFLAGS) BENCHFLAGS=$(BENCHFLAGS) GO=$(GO)'

.PHONY: build
build: ## build bin/paygate
	$(GO) build -o $(BIN)/paygate ./cmd/paygate

.PHONY: run
run: build ## build, then run the sandbox gateway on 127.0.0.1:8080 (RUNFLAGS="--dir tmp" to add flags)
	./$(BIN)/paygate serve $(RUNFLAGS)

.PHONY: demo
demo: build ## play the scripted day (SMS, USSD, merchant push and terminal, a lockout); exits non-zero if any step deviates
	./$(BIN)/paygate demo

.PHONY: bench-ussd
bench-ussd: build ## USSD screens with 1,000 live sessions over SMPP: menu and PIN latency, the gateway's RSS per 1,000 sessions
	./$(BIN)/paygate bench --ussd --spawn $(BENCHFLAGS)

.PHONY: test
test: ## run every test with the race detector (the test command; CI runs it)
	$(GO) test -race -count=1 ./...

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 60s), one after another
	@set -e; n=0; \
	for pkg in $$($(GO) list ./...); do \
		list=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "$$list"; exit 1; }; \
		for target in $$(echo "$$list" | grep '^Fuzz' || true); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) $$pkg; \
			n=$$((n+1)); \
		done; \
	done; \
	echo "fuzzed $$n targets for $(FUZZTIME) each"

.PHONY: bench
bench: ## run the benchmarks (smpp session layer, gateway, PIN hashing) BENCHCOUNT times (default 5; BENCH=regexp to pick)
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem -count=$(BENCHCOUNT) ./smpp/... ./gateway/... ./flows/...

.PHONY: load
load: build ## the load tool: spawn a gateway, offer it LOADFLAGS (default 50,000 commands at full speed, then at 5,000/s)
	./$(BIN)/paygate load --spawn --listen 127.0.0.1:0 --count 50000 $(LOADFLAGS)
	./$(BIN)/paygate load --spawn --listen 127.0.0.1:0 --count 50000 --rate 5000 $(LOADFLAGS)

.PHONY: bench-transfers
bench-transfers: build ## the transfer load tool: spawn a gateway, run BENCHFLAGS (default 2,000 transfers from 500 phones) on SQLite, then on PostgreSQL at BENCH_PG (default: PAYGATE_TEST_POSTGRES) when set
	./$(BIN)/paygate bench --spawn $(BENCHFLAGS)
	@if [ -n "$(BENCH_PG)" ]; then \
		echo "./$(BIN)/paygate bench --spawn --database \$$BENCH_PG $(BENCHFLAGS)"; \
		./$(BIN)/paygate bench --spawn --database '$(BENCH_PG)' $(BENCHFLAGS); \
	else \
		echo "bench-transfers: BENCH_PG and PAYGATE_TEST_POSTGRES are not set: no PostgreSQL run"; \
	fi

.PHONY: soak
soak: ## the kill -9 soak (R2): SIGKILL the gateway PAYGATE_SOAK_KILLS times (default 100) under concurrent transfers, then check I1-I6
	PAYGATE_SOAK=1 $(GO) test -run '^TestSoakKill9$$' -count=1 -v -timeout 30m ./cmd/paygate

.PHONY: sim
sim: build ## run the SMSC simulator on 127.0.0.1:2775 (SIMFLAGS="--dlr" to add flags)
	./$(BIN)/paygate sim smsc $(SIMFLAGS)

.PHONY: lint
lint: ## gofmt (must list nothing) and go vet
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: check
check: lint ## every static check; CI runs it before test

.PHONY: clean
clean: ## remove build output, test binaries and profiles
	rm -rf $(BIN)
	rm -f *.test *.prof cpu.out mem.out
