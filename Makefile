# plp build and test entry points. `make test` is the command CI runs.
GO ?= go
FUZZTIME ?= 10s

.PHONY: build build-static test unit fuzz bench lint arm64 slurm-test gpu-build gpu-check

# build makes one binary that needs only glibc (purego loads the NVIDIA libraries at run time, which links
# the C library dynamically even without cgo); build-static drops the CUDA binding (tag nocuda) for a fully
# static binary that runs FROM scratch. cmd/plp's TestStaticBuild checks both ELF files.
build:
	CGO_ENABLED=0 $(GO) build -o bin/plp ./cmd/plp

build-static:
	CGO_ENABLED=0 $(GO) build -tags nocuda -trimpath -ldflags '-s -w' -o bin/plp-static ./cmd/plp

test: lint unit fuzz arm64 slurm-test

unit:
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -tags nocuda ./kernels/cuda

# The kernel, tensor and model tests built for linux/arm64, run under qemu-user on other hosts (installed
# when missing; scripts/arm64-test.sh says how).
arm64:
	GO=$(GO) scripts/arm64-test.sh

# Sharded embedding on a real single-node Slurm: sbatch --array, plp merge, byte-compared with one run. Needs
# root; installs slurm-wlm and munge when missing (scripts/slurm-test.sh says how).
slurm-test:
	GO=$(GO) scripts/slurm-test.sh

# Each fuzz target runs briefly; `go test -fuzz` takes one target per call (scripts/fuzz.sh says why it wraps it).
fuzz:
	GO=$(GO) scripts/fuzz.sh FuzzSafetensors ./weights $(FUZZTIME)
	GO=$(GO) scripts/fuzz.sh FuzzPickle ./weights $(FUZZTIME)
	GO=$(GO) scripts/fuzz.sh FuzzDecode ./imaging $(FUZZTIME)
	GO=$(GO) scripts/fuzz.sh FuzzDecode ./imaging/jpeg $(FUZZTIME)
	GO=$(GO) scripts/fuzz.sh FuzzCIFARPickle ./data $(FUZZTIME)
	GO=$(GO) scripts/fuzz.sh FuzzRequest ./serve $(FUZZTIME)

# Go benchmarks of the kernels, decoders, scores and probe (whole models: plp bench --model, see README).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./kernels/cpu ./tensor ./imaging/... ./tokenizer ./train

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# gpu-build puts everything scripts/gpu-check.sh runs into .gpu/, built without cgo, so a GPU machine with
# only the NVIDIA driver and CUDA libraries needs no Go toolchain. Test binaries run from their package dirs.
GPU_LDFLAGS = -s -w
gpu-build:
	mkdir -p .gpu
	CGO_ENABLED=0 $(GO) build -ldflags '$(GPU_LDFLAGS)' -o .gpu/plp ./cmd/plp
	CGO_ENABLED=0 $(GO) test -c -ldflags '$(GPU_LDFLAGS)' -o .gpu/tensor.test ./tensor
	CGO_ENABLED=0 $(GO) test -c -ldflags '$(GPU_LDFLAGS)' -o .gpu/cuda.test ./kernels/cuda
	CGO_ENABLED=0 $(GO) test -c -ldflags '$(GPU_LDFLAGS)' -o .gpu/plp.test ./cmd/plp

gpu-check: gpu-build
	scripts/gpu-check.sh
