# syntax=docker/dockerfile:1
# CareGraph: one image for the one-process graph and for each of the five subgraphs.
#
#   docker build -t caregraph .                                   # GPU: onnxruntime-gpu, CUDA 13
#   docker build -t caregraph:cpu --build-arg VARIANT=cpu \
#       --build-arg RUNTIME_BASE=python:3.11-slim-bookworm .      # CPU only, much smaller
#   docker build -t caregraph-gateway --target gateway .          # Hive Gateway (infra/deploy)
#
# Build arguments:
#   VARIANT        gpu (default) keeps onnxruntime-gpu as pyproject.toml pins it; cpu installs
#                  the CPU-only onnxruntime of the same version (infra/deploy/install.sh).
#   RUNTIME_BASE   the run-time base image. onnxruntime-gpu 1.31 is built for CUDA 13.0 and
#                  cuDNN 9 (its wheel's build_and_package_info.py says cuda_version '13.0'), so
#                  the default is NVIDIA's CUDA 13 runtime image with cuDNN; the CPU variant
#                  takes python:3.11-slim-bookworm.
#
# Configured by environment only (README.md lists every CAREGRAPH_* setting): the subgraph by
# CAREGRAPH_SUBGRAPH (empty: the whole graph), migrations by CAREGRAPH_MIGRATE (1 or 0). Run
# with `--gpus all` for CUDA; without a GPU, onnxruntime falls back to the CPU and says so.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG RUNTIME_BASE=nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: the virtual environment, made by the script the tests run
FROM ${PYTHON_IMAGE} AS build
ARG VARIANT=gpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schema ./schema
COPY resolvers ./resolvers
COPY domain ./domain
COPY inference ./inference
COPY infra ./infra
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN CAREGRAPH_ONNXRUNTIME="${VARIANT}" sh infra/deploy/install.sh /opt/caregraph

# ---- runtime: Python from the build image on the chosen base, the venv, a non-root user
FROM ${RUNTIME_BASE} AS runtime
# The base may be a CUDA image without Python: bring the same CPython the venv was built with
# (built for an older glibc than Ubuntu 24.04's, so it runs there), and the libraries it links.
COPY --from=build /usr/local/ /usr/local/
RUN set -eu; \
    if command -v apt-get >/dev/null; then \
      apt-get update; \
      apt-get install -y --no-install-recommends ca-certificates libssl3 libffi8 libsqlite3-0 \
        zlib1g libbz2-1.0 liblzma5 tzdata || apt-get install -y --no-install-recommends \
        ca-certificates libssl3t64 libffi8 libsqlite3-0 zlib1g libbz2-1.0 liblzma5 tzdata; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    ldconfig; \
    python3.11 --version; \
    (groupadd --system caregraph && useradd --system --gid caregraph --home-dir /var/lib/caregraph caregraph) \
      || (addgroup --system caregraph && adduser --system --ingroup caregraph --home /var/lib/caregraph caregraph); \
    mkdir -p /var/lib/caregraph; \
    chown caregraph:caregraph /var/lib/caregraph
COPY --from=build /opt/caregraph /opt/caregraph
COPY infra/deploy/start.sh infra/deploy/healthcheck.py /opt/caregraph/deploy/
ENV PATH=/opt/caregraph/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CAREGRAPH_HOST=0.0.0.0 \
    CAREGRAPH_PORT=8000 \
    CAREGRAPH_DATA_DIR=/var/lib/caregraph \
    CAREGRAPH_SUBGRAPH= \
    CAREGRAPH_MIGRATE=1
USER caregraph
WORKDIR /var/lib/caregraph
VOLUME ["/var/lib/caregraph"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3.11", "/opt/caregraph/deploy/healthcheck.py"]
ENTRYPOINT ["sh", "/opt/caregraph/deploy/start.sh"]

# ---- gateway: Hive Gateway on the committed supergraph (infra/deploy/gateway.mjs)
FROM ${NODE_IMAGE} AS gateway
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error && npm cache clean --force
COPY infra/deploy/gateway.mjs infra/deploy/gateway.config.mjs ./infra/deploy/
COPY schema/supergraph.graphql ./schema/
ENV NODE_ENV=production CAREGRAPH_GATEWAY_HOST=0.0.0.0 CAREGRAPH_GATEWAY_PORT=4000
USER node
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.CAREGRAPH_GATEWAY_PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "infra/deploy/gateway.mjs"]

# The default target: the CareGraph image.
FROM runtime
