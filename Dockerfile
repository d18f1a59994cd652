# syntax=docker/dockerfile:1
# JadeVectorDB image: the node (default entrypoint) and the operator (Helm sets the command), both
# run from the JavaScript that `npm run build` emits into dist/.
# Build: docker build -t jadevectordb:dev .

# --- deps: production dependencies only; native addons (hnswlib-node) need a C++ toolchain.
FROM node:20-bookworm-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- build: compiles the TypeScript to JavaScript in dist/ (npm run build: tsc, a devDependency).
# Compiling needs no native addon, so install scripts are skipped and no toolchain is needed.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY node ./node
COPY operator ./operator
RUN npm run build

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
# Only what the compiled node and operator read at run time: no TypeScript sources, no devDependencies.
COPY --chown=root:root package.json ./package.json
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root proto ./proto
COPY --from=build --chown=root:root /app/dist ./dist
USER 10001:10001
EXPOSE 8080 9090 6334
VOLUME ["/var/lib/jadevectordb"]
# The compiled build (npm run build), not tsx: no transpiling at start-up.
ENTRYPOINT ["node", "--initial-old-space-size=256", "dist/node/src/main.js"]
