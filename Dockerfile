# syntax=docker/dockerfile:1
# Multi-stage: build a venv with the package, run as an unprivileged user.
# BASE is any Debian-based image with python3 ≥ 3.11.4 and python3-venv: by default the official
# image pinned by digest (refresh with `skopeo inspect docker://python:3.11-slim-bookworm`); CI
# passes a Debian 13 base built from the Debian archive (`make image`, scripts/build_image.py).
# `python3` is /usr/local/bin/python3 in the former and /usr/bin/python3 in the latter.
ARG BASE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY workers ./workers
COPY policies ./policies
RUN python3 -m venv /opt/tollgate && /opt/tollgate/bin/pip install --no-cache-dir .

FROM ${BASE}
RUN groupadd --system --gid 10001 tollgate \
 && useradd --system --uid 10001 --gid tollgate --home-dir /var/lib/tollgate --create-home tollgate
COPY --from=build /opt/tollgate /opt/tollgate
ENV PATH=/opt/tollgate/bin:$PATH \
    TOLLGATE_DATA_DIR=/var/lib/tollgate \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["tollgate"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
