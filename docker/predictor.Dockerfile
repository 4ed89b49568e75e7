# syntax=docker/dockerfile:1.7
# category-match predictor: kserve.ModelServer + our kserve.Model.
#
#   # serves the model store (the chart's modelStore mode; no model inside the image)
#   docker build -f docker/predictor.Dockerfile --target store \
#     -t ghcr.io/category-match/category-match-predictor:0.1.0 .
#   # a model baked in (modelStore disabled)
#   docker build -f docker/predictor.Dockerfile --build-arg MODEL_DIR=var/models/seed \
#     -t ghcr.io/category-match/category-match-predictor:0.1.0-seed .
#   # a CPU image without torch, an ONNX int8 model baked in (`catmatch models export`)
#   docker build -f docker/predictor.Dockerfile --build-arg EXTRA=serve-cpu \
#     --build-arg TORCH_INDEX_URL= --build-arg RUNTIME=onnx \
#     --build-arg MODEL_DIR=var/models/seed-onnx -t ...category-match-predictor:0.1.0-onnx .
#
# Build args:
#   BASE_IMAGE       pinned by digest (python:3.11-slim by default). For a GPU image a CUDA
#                    runtime image, e.g. nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04@sha256:...
#                    (Python is added), with TORCH_INDEX_URL="" (PyPI's CUDA torch).
#   TORCH_INDEX_URL  where torch comes from: the CPU-only wheels by default (about 2.5 GB
#                    smaller than PyPI's CUDA build, which a CPU pod never uses).
#   MODEL_DIR        the baked model (default target only): an HF sequence-classification dir
#                    (config.json, model.safetensors, tokenizer.json, catmatch.json) or, with
#                    RUNTIME=sklearn, a joblib model (model.joblib, catmatch.json).
#   RUNTIME          transformers (default), onnx or sklearn: what MODEL_DIR must contain.
#   EXTRA            the Python extra installed: predictor (default: torch, transformers,
#                    onnxruntime, scikit-learn) or serve-cpu (onnxruntime and scikit-learn
#                    only, no torch: set TORCH_INDEX_URL= too). A serve-cpu image serves
#                    onnx and sklearn models; a transformers model needs the default.
#   MODEL_VERSION    recorded as an image label.
#   PIP_BUILD_CA_BUNDLE  a CA bundle inside the build container for pip (builds behind a
#                    TLS-inspecting proxy, scripts/cluster.py images); build stage only.
# Every Python package is installed with -c requirements/constraints.txt (the versions the
# test suite ran with). Refresh the base digest with
# `docker buildx imagetools inspect python:3.11-slim` and update it here on purpose.
ARG BASE_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${BASE_IMAGE} AS base
# CUDA runtime images ship without Python; the venv links to this interpreter.
RUN if ! command -v python3 >/dev/null 2>&1; then \
      apt-get update \
      && apt-get install -y --no-install-recommends python3 python3-venv \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --gid 10001 catmatch \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin catmatch
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

FROM base AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG EXTRA=predictor
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
# The predictor's layers only (docs/ARCHITECTURE.md): no CLI, no worker, no training.
COPY core ./core
COPY schemas ./schemas
COPY resultcache ./resultcache
COPY modelstore ./modelstore
COPY predictor ./predictor
# An empty REQUESTS_CA_BUNDLE means pip's own CAs.
ARG PIP_BUILD_CA_BUNDLE=""
RUN --mount=type=cache,target=/root/.cache/pip \
    export REQUESTS_CA_BUNDLE="${PIP_BUILD_CA_BUNDLE}" \
    && if [ -n "${TORCH_INDEX_URL}" ]; then \
      pip install -c requirements/constraints.txt --index-url "${TORCH_INDEX_URL}" torch; \
    fi \
    && pip install -c requirements/constraints.txt ".[${EXTRA}]" \
    && python -c "import kserve, onnxruntime, sklearn, predictor.model, predictor.server" \
    && if [ "${EXTRA}" = predictor ]; then python -c "import torch, transformers"; fi
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

# The store image: models come from the model store volume (--model-ref, the chart's
# modelStore mode), so no model is baked in twice.
FROM base AS store
LABEL org.opencontainers.image.title="category-match-predictor" \
      org.opencontainers.image.source="https://github.com/category-match/category-match" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    HF_HOME=/tmp/hf \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    CATMATCH_SERVE__HOST=0.0.0.0
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "predictor"]
CMD ["--model_name", "category-match", "--model-ref", "production", "--store", "/mnt/models", "--http_port", "8080"]

FROM build AS model
ARG MODEL_DIR=var/models/seed
ARG RUNTIME=transformers
COPY ${MODEL_DIR}/ /models/category-match/
# save_pretrained writes model.safetensors as 0600: make the model world-readable for the
# non-root user, and fail early if the directory is not a model of that runtime.
RUN chmod -R a+rX /models \
    && python -c "import sys; from predictor.runtimes import detect_runtime; \
got = detect_runtime('/models/category-match'); \
sys.exit(0 if got == '${RUNTIME}' else f'MODEL_DIR holds a {got} model, RUNTIME is ${RUNTIME}')" \
    && if [ "${RUNTIME}" = transformers ]; then \
      test -f /models/category-match/config.json \
      && test -f /models/category-match/model.safetensors \
      && test -f /models/category-match/tokenizer.json; \
    fi

# The default target: a model baked in (the chart with modelStore disabled).
FROM store
ARG MODEL_VERSION=seed
LABEL io.category-match.model-version="${MODEL_VERSION}"
COPY --from=model /models /models
ENV CATMATCH_SERVE__MODEL_DIR=/models/category-match
CMD ["--model_name", "category-match", "--model-dir", "/models/category-match", "--http_port", "8080"]
