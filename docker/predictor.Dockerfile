# syntax=docker/dockerfile:1.7
# category-match predictor: kserve.ModelServer + our kserve.Model, model baked in.
#
#   docker build -f docker/predictor.Dockerfile \
#     --build-arg MODEL_DIR=var/models/seed -t ghcr.io/category-match/category-match-predictor:0.1.0-seed .
#
# Build args:
#   MODEL_DIR        model directory inside the build context (HF sequence-classification
#                    dir: config.json, model.safetensors, tokenizer.json, catmatch.json; or
#                    with RUNTIME=sklearn a joblib model: model.joblib, catmatch.json).
#   RUNTIME          transformers (default) or sklearn: what MODEL_DIR must contain. The
#                    image serves both runtimes; in the chart's store mode the baked model
#                    is not used at all.
#   MODEL_VERSION    recorded as an image label.
#   BASE_IMAGE       python:3.11-slim (default) or a CUDA runtime image such as
#                    nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 (Python is added).
#   TORCH_INDEX_URL  empty (default): torch from PyPI, the CUDA build, which runs on CPU and
#                    GPU nodes alike. https://download.pytorch.org/whl/cpu gives a CPU-only
#                    image about 2.5 GB smaller.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS base
# CUDA runtime images ship without Python; the venv links to this interpreter.
RUN if ! command -v python3 >/dev/null 2>&1; then \
      apt-get update \
      && apt-get install -y --no-install-recommends python3 python3-venv \
      && rm -rf /var/lib/apt/lists/*; \
    fi
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

FROM base AS build
ARG TORCH_INDEX_URL=""
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
# The predictor's layers only (docs/ARCHITECTURE.md): no CLI, no worker, no training.
COPY core ./core
COPY schemas ./schemas
COPY modelstore ./modelstore
COPY predictor ./predictor
RUN --mount=type=cache,target=/root/.cache/pip \
    if [ -n "${TORCH_INDEX_URL}" ]; then \
      pip install --index-url "${TORCH_INDEX_URL}" "torch>=2.13,<2.16"; \
    fi \
    && pip install ".[predictor]" \
    && python -c "import kserve, torch, transformers, predictor.model, predictor.server"
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

FROM base
ARG MODEL_VERSION=seed
LABEL org.opencontainers.image.title="category-match-predictor" \
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
    HF_HOME=/tmp/hf \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    CATMATCH_SERVE__HOST=0.0.0.0 \
    CATMATCH_SERVE__MODEL_DIR=/models/category-match
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "predictor"]
CMD ["--model_name", "category-match", "--model-dir", "/models/category-match", "--http_port", "8080"]
