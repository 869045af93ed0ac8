# Doppelganger in a container, for users with Docker and internet.
#   docker build -t doppelganger .
#   docker run --rm -v "$PWD/data:/data" -v "$PWD/runs:/runs" -v "$PWD/cache:/cache" doppelganger data download lfw --dest /data/lfw
#   docker run --rm -v "$PWD/weights:/weights" doppelganger models download
#   docker run --rm -v "$PWD/data:/data" -v "$PWD/weights:/weights" -v "$PWD/runs:/runs" -v "$PWD/cache:/cache" doppelganger train --config configs/default.toml --out /runs/default
#   docker run --rm -v "$PWD/data:/data" -v "$PWD/weights:/weights" -v "$PWD/runs:/runs" -v "$PWD/cache:/cache" -v "$PWD/indexes:/indexes" doppelganger index build
#   docker run --rm -p 8000:8000 -e DOPPELGANGER_ADMIN_TOKEN=... -v "$PWD/data:/data" -v "$PWD/weights:/weights" -v "$PWD/runs:/runs" -v "$PWD/cache:/cache" -v "$PWD/indexes:/indexes" -v "$PWD/galleries:/galleries" doppelganger
# Data (LFW, TT100K), the pretrained face models, runs, indexes and caches live in volumes; nothing is baked into the image. The server runs as
# an unprivileged user, listens on 0.0.0.0:8000 and reports its health on /health (Docker's HEALTHCHECK below).
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DOPPELGANGER_DATA_DIR=/data \
    DOPPELGANGER_WEIGHTS_DIR=/weights \
    DOPPELGANGER_RUNS_DIR=/runs \
    DOPPELGANGER_CACHE_DIR=/cache \
    DOPPELGANGER_MODEL_RUN=/runs/default \
    DOPPELGANGER_INDEX_DIR=/indexes/lfw \
    DOPPELGANGER_GALLERY_ADDED_DIR=/galleries/added \
    DOPPELGANGER_HOST=0.0.0.0 \
    TORCH_HOME=/cache/torch

WORKDIR /app
# CPU-only PyTorch first (a fraction of the CUDA build's size), then the project.
RUN pip install --index-url "$TORCH_INDEX" "torch==2.14.1" "torchvision==0.29.1"
COPY pyproject.toml setup.py README.md ./
COPY model ./model
COPY index ./index
COPY app ./app
COPY templates ./templates
COPY static ./static
COPY configs ./configs
# The committed run summaries the accuracy dashboard shows (DOPPELGANGER_SUMMARIES_DIR, docs/results/runs under /app).
COPY docs/results/runs ./docs/results/runs
RUN pip install . && useradd --create-home --uid 10001 doppelganger \
    && mkdir -p /data /weights /runs /cache /indexes /galleries \
    && chown doppelganger /data /weights /runs /cache /indexes /galleries
USER doppelganger
VOLUME ["/data", "/weights", "/runs", "/cache", "/indexes", "/galleries"]
EXPOSE 8000
# Healthy once the model and index are loaded (GET /health says "ok"); a rebuild never makes it unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import json, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4); exit(json.load(r)['status'] != 'ok')"
ENTRYPOINT ["doppelganger"]
CMD ["serve"]
