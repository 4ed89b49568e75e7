# syntax=docker/dockerfile:1.7
# category-match worker: `python -m worker`, core dependencies only (no torch, no kserve),
# with the tokenizer.json of the same model version as the predictor image.
#
#   docker build -f docker/worker.Dockerfile \
#     --build-arg MODEL_DIR=var/models/seed -t ghcr.io/category-match/category-match-worker:0.1.0-seed .
#
# A worker for an sklearn predictor needs no tokenizer: build it from any transformer
# model dir and run it with CATMATCH_WORKER__INPUT_MODE=text (the chart sets it).
# Build args: MODEL_DIR (only tokenizer.json and catmatch.json are copied), MODEL_VERSION,
# BASE_IMAGE (default python:3.11-slim).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
# The worker's layers only (docs/ARCHITECTURE.md): no CLI, no predictor, no training.
COPY core ./core
COPY schemas ./schemas
COPY transport ./transport
COPY modelstore ./modelstore
COPY worker ./worker
# The core set only: no extras. The import check fails the build if the worker's entry
# point needs anything else.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install . \
    && python -m worker --help >/dev/null
ARG MODEL_DIR=var/models/seed
COPY ${MODEL_DIR}/tokenizer.json ${MODEL_DIR}/catmatch.json /models/category-match/
RUN chmod -R a+rX /models

FROM ${BASE_IMAGE}
ARG MODEL_VERSION=seed
LABEL org.opencontainers.image.title="category-match-worker" \
      org.opencontainers.image.source="https://github.com/category-match/category-match" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.category-match.model-version="${MODEL_VERSION}"
RUN groupadd --gid 10001 catmatch \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin catmatch
COPY --from=build /opt/venv /opt/venv
COPY --from=build /models /models
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CATMATCH_WORKER__TOKENIZER_PATH=/models/category-match/tokenizer.json \
    CATMATCH_WORKER__METRICS_HOST=0.0.0.0
WORKDIR /tmp
USER 10001:10001
EXPOSE 9400
ENTRYPOINT ["python", "-m", "worker"]
CMD ["--workers", "1"]
