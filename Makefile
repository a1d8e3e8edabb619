# redsweep — see README.md. Everything a fresh machine needs is installed from here.
GO        ?= go
BIN       := bin
PKGS      := ./...
FUZZTIME  ?= 20s

.PHONY: all build deps test demo lint fuzz bench clean

all: build

# Test-only system packages (chromium for the call-sheet print test), installed when absent.
deps:
	@bash scripts/setup-test-deps.sh

build:
	$(GO) build -o $(BIN)/redsweep ./cmd/redsweep
	$(GO) build -o $(BIN)/simnet ./cmd/simnet

# vet first: a vet failure is cheaper to read than a race report.
test: deps
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout 25m $(PKGS)

demo: build
	bash scripts/demo.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Each fuzz target runs for FUZZTIME; go test allows one -fuzz target per run.
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

bench: build
	bash scripts/bench.sh

clean:
	rm -rf $(BIN) demo
