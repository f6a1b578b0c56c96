# The two commands of the README: `make run` and `make test`.
GO ?= go

.PHONY: all build run test bench fuzz clean

all: build

build:
	$(GO) build -o bin/gateway ./cmd/gateway

# A gateway with an embedded store and a SoftHSM token under ./var.
run: build
	scripts/quickstart.sh

# Every suite: unit, SoftHSM, SQLite and PostgreSQL, end-to-end.
test:
	scripts/test.sh

# Benchmarks, each as a ratio to a reference measured in the same run;
# rewrites BENCHMARKS.md.
bench:
	scripts/bench.sh

# Every fuzz target for FUZZTIME (default 30s) each; `make test` runs
# their seed inputs.
fuzz:
	scripts/fuzz.sh

clean:
	rm -rf bin
