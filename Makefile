# Tether: `make run` and `make test` are the whole set-up on a fresh Debian 12 machine (as root).
#   deps   Debian packages (when missing), then npm ci (when package-lock.json changed)
#   build  vmlinux.h, BPF objects, the ABI bindings, the native addon, TypeScript
#   run    the agent on its embedded defaults, in a child cgroup with its own pin dir
#   test   unit, kernel and e2e suites here, then the vm suite inside one ../shared/vm/vm-run
#   bench  the benchmarks' tables

SHELL := /bin/bash
.DELETE_ON_ERROR:

BUILD := build
NODE ?= node
TSC := node_modules/.bin/tsc
VITEST := $(NODE) node_modules/vitest/vitest.mjs run --config test/vitest.config.ts
VM_RUN ?= $(abspath ../shared/vm/vm-run)
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool || echo /usr/sbin/bpftool)

# Build: clang, libbpf, bpftool. Tests: real processes and tools (DESIGN.md, "Toolchain").
DEB_PACKAGES := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make g++ \
	util-linux procps coreutils iproute2 openssl curl python3-grpcio python3-grpc-tools protobuf-compiler
# `make run` puts the agent in this child of the cgroup v2 mount: never the v2 root.
RUN_CGROUP_NAME ?= tether-run
RUN_STATE_DIR ?= $(CURDIR)/$(BUILD)/state
RUN_PIN_DIR ?= /sys/fs/bpf/tether-run

BPF_SRC := $(wildcard bpf/*.bpf.c)
BPF_OBJ := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRC))
TEST_BPF_OBJ := $(patsubst test/bpf/%.bpf.c,$(BUILD)/test-bpf/%.bpf.o,$(wildcard test/bpf/*.bpf.c))
BPF_HDR := $(wildcard bpf/include/tether_*.h bpf/lib/*.h)
NATIVE_SRC := $(wildcard native/src/*.cc native/src/*.h) native/binding.gyp
TS_SRC := $(shell find agent bench -name '*.ts' 2>/dev/null)
ADDON := $(BUILD)/native/tether_native.node

.PHONY: all deps build run test test-host test-vm bench clean abi proto

all: build

deps: $(BUILD)/.deps-deb node_modules/.package-lock.json

$(BUILD)/.deps-deb: Makefile
	@mkdir -p $(BUILD)
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@touch $@

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

build: deps bpf ts addon

bpf/include/vmlinux.h:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDR) bpf/include/vmlinux.h
	@mkdir -p $(dir $@)
	$(CLANG) -target bpf -D__TARGET_ARCH_x86 -g -O2 -Wall -Werror -Ibpf/include -Ibpf -c $< -o $@

bpf: $(BPF_OBJ) $(BUILD)/bpf/abi.btf.json $(TEST_BPF_OBJ)

# Test-only objects (test/bpf/): never loaded by the agent.
$(BUILD)/test-bpf/%.bpf.o: test/bpf/%.bpf.c bpf/include/vmlinux.h
	@mkdir -p $(dir $@)
	$(CLANG) -target bpf -D__TARGET_ARCH_x86 -g -O2 -Wall -Werror -Ibpf/include -Ibpf -c $< -o $@

$(BUILD)/bpf/abi.btf.json: $(BUILD)/bpf/abi.bpf.o
	$(BPFTOOL) btf dump file $< -j > $@

addon: $(ADDON)

$(ADDON): $(NATIVE_SRC) $(BPF_HDR)
	cd native && npm_config_nodedir=/usr ../node_modules/.bin/node-gyp rebuild --loglevel=warn
	@mkdir -p $(dir $@)
	cp native/build/Release/tether_native.node $@

# Regenerate the committed abi.gen.ts and native/src/layout.gen.h from the BTF first (gen-abi.ts
# imports nothing of the project, so it compiles alone), then compile everything against them;
# the addon, built after, picks up the header.
ts: $(BUILD)/.ts-stamp

$(BUILD)/.ts-stamp: $(TS_SRC) tsconfig.json $(BUILD)/bpf/abi.btf.json
	$(TSC) --outDir $(BUILD)/tools --module nodenext --moduleResolution nodenext --target es2022 --types node --strict agent/kernel/gen-abi.ts
	@if [ "$$($(NODE) $(BUILD)/tools/gen-abi.js $(BUILD)/bpf/abi.btf.json agent/kernel/abi.gen.ts native/src/layout.gen.h)" = updated ]; then \
	  echo "abi.gen.ts and layout.gen.h regenerated from bpf/include/tether_abi.h"; fi
	$(TSC) -p tsconfig.json
	@chmod +x $(BUILD)/agent/cli/bin.js
	@touch $@

run: build
	@v2=$$(awk '$$3=="cgroup2"{print $$2; exit}' /proc/self/mounts); \
	[ -n "$$v2" ] || { echo "no cgroup v2 mount"; exit 1; }; \
	mkdir -p "$$v2/$(RUN_CGROUP_NAME)"; \
	echo "agent cgroup: $$v2/$(RUN_CGROUP_NAME)  (put workloads there: echo PID > $$v2/$(RUN_CGROUP_NAME)/cgroup.procs)"; \
	exec $(NODE) $(BUILD)/agent/cli/bin.js agent run --state-dir $(RUN_STATE_DIR) \
	  --cgroup "$$v2/$(RUN_CGROUP_NAME)" --pin-dir $(RUN_PIN_DIR) $(RUN_ARGS)

test: build test-host test-vm

test-host:
	$(VITEST) --project unit --project kernel --project e2e

# One VM boot for the whole vm suite (../shared/vm/README.md): features this kernel lacks.
test-vm:
	$(VM_RUN) --timeout 900 -- $(NODE) node_modules/vitest/vitest.mjs run --config test/vitest.config.ts --project vm

bench: build
	$(NODE) $(BUILD)/bench/exec-storm.js
	$(NODE) $(BUILD)/bench/mint.js
	$(NODE) $(BUILD)/bench/workload-api.js

clean:
	rm -rf $(BUILD) native/build bpf/include/vmlinux.h
