# syntax=docker/dockerfile:1
#
# The Tether agent image: `docker build -t tether:0.1.0 .` from the repository root.
#
# Two stages on Debian 12 (bookworm):
#   build    Debian's BPF toolchain (clang, llvm, libbpf-dev, bpftool, ...), `npm ci`, `make build`
#            (vmlinux.h, the BPF objects, the native addon, the TypeScript), and the production
#            node_modules (`npm ci --omit=dev`) in a directory of their own.
#   runtime  node on bookworm-slim with only the shared libraries the addon links (libbpf1,
#            libelf1, zlib1g), the compiled output, the production node_modules and proto/.
#
# Node: bookworm's own nodejs package is 18 (`apt-cache policy nodejs`), the agent needs >= 20.17,
# so both stages start from the official node:20 images (which are bookworm underneath).
#
# vmlinux.h: the Makefile generates it from /sys/kernel/btf/vmlinux, which inside `docker build`
# is the *build host's* kernel BTF. The objects are CO-RE (relocated against the running kernel's
# BTF when the agent loads them), so the image runs on other kernels with BTF; the build host
# needs CONFIG_DEBUG_INFO_BTF (Debian 11+, Ubuntu 20.10+, RHEL 8.2+ kernels have it). Where the
# build host has none (some CI builders, Docker Desktop on older releases), generate the header on
# a machine that has it and leave it in the build context: a bpf/include/vmlinux.h present in the
# context is used as is (the Makefile only makes it when missing; .dockerignore keeps it in).
#     bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/include/vmlinux.h
#
# The agent needs root with five capabilities, the host's pid namespace and network namespace,
# and host mounts (/sys/fs/bpf, /sys/fs/cgroup, /sys/kernel/btf): see deploy/kubernetes/README.md
# and docker-compose.yml. The image alone, without them, exits with the error that names what is
# missing.

ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm AS build
# make, g++, python3 for node-gyp; the rest is what `make deps` would install for a build (the
# Makefile's DEB_PACKAGES also lists the test suites' tools, which an image does not need).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make g++ python3 \
 && rm -rf /var/lib/apt/lists/*
# The Makefile builds the addon with `npm_config_nodedir=/usr` (Debian's and nodesource's layout:
# headers in /usr/include/node); the official node images keep them in /usr/local/include/node.
RUN test -e /usr/include/node/common.gypi || ln -s /usr/local/include/node /usr/include/node
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# `make build` = deps bpf ts addon. The Debian packages are installed above: mark `deps` done so
# that make does not install the test-only packages of DEB_PACKAGES (redis-server, grpc tools...);
# node_modules/.package-lock.json from `npm ci` already marks the npm half done.
RUN mkdir -p build && touch build/.deps-deb \
 && make build \
 && test -s build/native/tether_native.node && test -s build/bpf/proc.bpf.o && test -s build/agent/cli/bin.js
# Production dependencies only, installed apart so the runtime stage copies them whole.
RUN mkdir -p /prod && cp package.json package-lock.json /prod/ \
 && cd /prod && npm ci --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# libbpf1, libelf1, zlib1g: what build/native/tether_native.node links (libbpf.so.1 dynamically:
# Debian's libbpf.a is not position-independent). util-linux (nsenter, used by the DaemonSet) and
# mount come with the base image.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libbpf1 libelf1 zlib1g \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tether
# package.json marks the package root: the agent finds build/bpf, build/native and proto/ from it.
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /prod/node_modules ./node_modules
COPY --from=build /src/build/agent ./build/agent
COPY --from=build /src/build/bpf ./build/bpf
COPY --from=build /src/build/native ./build/native
COPY --from=build /src/proto ./proto
# The default configuration (no policy: nothing enforced until one is given); the Kubernetes
# ConfigMap and the compose demo mount their own over /etc/tether.
COPY deploy/container/config.yaml /etc/tether/config.yaml
# `tether ...` on PATH: the probes (`tether healthcheck`) and `kubectl exec`/`docker exec` use it.
RUN chmod 0755 /opt/tether/build/agent/cli/bin.js \
 && ln -s /opt/tether/build/agent/cli/bin.js /usr/local/bin/tether \
 && node /opt/tether/build/agent/cli/bin.js --version
# root: the agent needs CAP_BPF and friends and owns /sys/fs/bpf/tether; the deployments drop
# every other capability.
USER 0:0
ENTRYPOINT ["node", "/opt/tether/build/agent/cli/bin.js"]
CMD ["agent", "run", "--config", "/etc/tether/config.yaml"]
