# aigc-gateway: compliance gateway for generative AI (screening, GB 45438 labels, proxy).
#   docker build -t aigc-gateway .
#   docker run --rm -p 8080:8080 aigc-gateway serve --demo
#   docker run --rm -p 8080:8080 -v $PWD/gateway.toml:/etc/aigc-gateway.toml:ro \
#       -e AIGC_GATEWAY_CONFIG=/etc/aigc-gateway.toml aigc-gateway
# Without a Docker daemon: scripts/build-image (buildah; builds its Debian base from packages
# and passes it as BASE_IMAGE, then checks the image). docs/deployment.md has the details.

# Any Debian-based image with Python >= 3.11 and its venv module.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/aigc-gateway/venv/bin:$PATH

# fonts-noto-cjk: explicit labels on images need a CJK font (GB 45438 §4).
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /srv/aigc-gateway --uid 10001 aigc

# Optional, for builds behind a TLS-inspecting proxy: a CA bundle path for pip (build only).
ARG PIP_CERT
# One layer for the install: pip into a virtual environment (Debian's own python3 refuses
# system-wide pip installs, PEP 668), then drop the source copy.
WORKDIR /opt/aigc-gateway
COPY pyproject.toml README.md ./
COPY lexicons ./lexicons
COPY labelers ./labelers
COPY service ./service
COPY benchmarks ./benchmarks
RUN python3 -m venv venv \
 && venv/bin/pip install . \
 && rm -rf build *.egg-info lexicons labelers service benchmarks

USER aigc
WORKDIR /srv/aigc-gateway

# Compile the bundled lexicon into the on-disk cache now, so every worker starts from it.
RUN python -c "from lexicons import load_lexicon; load_lexicon(cache_dir='var/lexicon-cache')"

ENV AIGC_GATEWAY_HOST=0.0.0.0 \
    AIGC_GATEWAY_PORT=8080 \
    AIGC_GATEWAY_DATA_DIR=/srv/aigc-gateway/var
VOLUME ["/srv/aigc-gateway/var"]
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('AIGC_GATEWAY_PORT', '8080'), timeout=2)" || exit 1

ENTRYPOINT ["aigc-gateway"]
CMD ["serve"]
