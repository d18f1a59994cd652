# syntax=docker/dockerfile:1
# JadeVectorDB image: the node (default entrypoint) and the operator (Helm sets the command).
# Build: docker build -t jadevectordb:dev .

# --- build: native addons (hnswlib-node) need a C++ toolchain; production dependencies only.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY node ./node
COPY operator ./operator
COPY proto ./proto
COPY crds ./crds

# --- runtime: no compilers, no npm cache, non-root user, read-only root filesystem friendly.
FROM node:20-bookworm-slim AS runtime
# glibc malloc on transparent huge pages: see node/src/cli/node-env.ts (GLIBC_TUNABLES_FOR_NODES).
ENV NODE_ENV=production \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 \
    JADE_DATA_DIR=/var/lib/jadevectordb \
    TMPDIR=/tmp
WORKDIR /app
RUN groupadd --system --gid 10001 jade \
 && useradd --system --uid 10001 --gid jade --home-dir /nonexistent --shell /usr/sbin/nologin jade \
 && mkdir -p /var/lib/jadevectordb \
 && chown jade:jade /var/lib/jadevectordb
COPY --from=build --chown=root:root /app /app
USER 10001:10001
EXPOSE 8080 9090
VOLUME ["/var/lib/jadevectordb"]
ENTRYPOINT ["node", "--initial-old-space-size=256", "--import", "tsx", "node/src/main.ts"]
