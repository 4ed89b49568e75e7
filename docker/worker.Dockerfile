# syntax=docker/dockerfile:1.7
# category-match worker: `python -m worker`, core dependencies only (no torch, no kserve).
#
#   # tokenizers come from the model store (the chart's modelStore mode)
#   docker build -f docker/worker.Dockerfile --target store \
#     -t ghcr.io/category-match/category-match-worker:0.1.0 .
#   # the tokenizer.json of a baked model (the same version as the predictor image)
#   docker build -f docker/worker.Dockerfile --build-arg MODEL_DIR=var/models/seed \
#     -t ghcr.io/category-match/category-match-worker:0.1.0-seed .
#
# A worker for an sklearn predictor needs no tokenizer: use the store target and run it with
# CATMATCH_WORKER__INPUT_MODE=text (the chart sets it). Build args: BASE_IMAGE (pinned by
# digest), MODEL_DIR (only tokenizer.json and catmatch.json are copied), MODEL_VERSION,
# PIP_BUILD_CA_BUNDLE (a CA bundle inside the build container for pip, for builds behind a
# TLS-inspecting proxy; only the build stage sees it). Packages are installed with
# -c requirements/constraints.txt.
ARG BASE_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${BASE_IMAGE} AS build
ENV PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
# The worker's layers only (docs/ARCHITECTURE.md): no CLI, no predictor, no training.
COPY core ./core
COPY schemas ./schemas
COPY transport ./transport
COPY resultcache ./resultcache
COPY modelstore ./modelstore
COPY worker ./worker
# The core set only: no extras. The import check fails the build if the worker's entry
# point needs anything else. An empty REQUESTS_CA_BUNDLE means pip's own CAs.
ARG PIP_BUILD_CA_BUNDLE=""
RUN --mount=type=cache,target=/root/.cache/pip \
    REQUESTS_CA_BUNDLE="${PIP_BUILD_CA_BUNDLE}" pip install -c requirements/constraints.txt . \
    && python -m worker --help >/dev/null
# The image's SBOM: CycloneDX JSON of /opt/venv (every installed distribution with its version
# and purl, category-match itself as the root component), at /opt/venv/sbom.cdx.json.
# cyclonedx-py runs from a venv of its own in this stage only, so it is not in the image or
# the SBOM; --output-reproducible leaves out the timestamp and serial number, so an unchanged
# environment gives the same file (docs/SECURITY.md; scripts/sbom.py does the same locally).
RUN --mount=type=cache,target=/root/.cache/pip \
    export REQUESTS_CA_BUNDLE="${PIP_BUILD_CA_BUNDLE}" \
    && python3 -m venv /opt/sbom \
    && /opt/sbom/bin/pip install -c requirements/constraints.txt cyclonedx-bom \
    && /opt/sbom/bin/cyclonedx-py environment --output-reproducible --of JSON \
       --pyproject pyproject.toml --mc-type application -o /opt/venv/sbom.cdx.json \
       /opt/venv/bin/python \
    && chmod a+r /opt/venv/sbom.cdx.json

FROM ${BASE_IMAGE} AS store
LABEL org.opencontainers.image.title="category-match-worker" \
      org.opencontainers.image.source="https://github.com/category-match/category-match" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 catmatch \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin catmatch
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CATMATCH_WORKER__METRICS_HOST=0.0.0.0
WORKDIR /tmp
USER 10001:10001
EXPOSE 9400
ENTRYPOINT ["python", "-m", "worker"]
CMD ["--workers", "1"]

FROM build AS model
ARG MODEL_DIR=var/models/seed
COPY ${MODEL_DIR}/tokenizer.json ${MODEL_DIR}/catmatch.json /models/category-match/
RUN chmod -R a+rX /models

# The default target: the tokenizer of a baked model.
FROM store
ARG MODEL_VERSION=seed
LABEL io.category-match.model-version="${MODEL_VERSION}"
COPY --from=model /models /models
ENV CATMATCH_WORKER__TOKENIZER_PATH=/models/category-match/tokenizer.json
