# syntax=docker/dockerfile:1
# The one image for every role: `mca serve` (API), `mca worker`, `mca migrate`.
# Builder: compiles/collects wheels and installs them into a venv. Runtime: python:3.11-slim with
# only that venv and the source, run as an unprivileged user; no compilers, no pip cache.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# Only for a dependency that ships no wheel for this platform; never reaches the runtime image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
COPY pyproject.toml README.md ./
# The `s3` extra too: the image serves several machines, which keep media in a bucket.
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['s3']))" > /tmp/requirements.txt \
 && pip wheel --wheel-dir /wheels -r /tmp/requirements.txt \
 && pip install --no-index --find-links /wheels -r /tmp/requirements.txt

# The project itself, installed in place: `mca migrate` reads alembic.ini and migrations/ from
# beside the package, so the source tree at /app is what runs (no second copy in site-packages).
COPY alembic.ini ./
COPY migrations ./migrations
COPY workers ./workers
COPY app ./app
RUN pip install --no-deps -e . \
 && python -m compileall -q app workers migrations


FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    DATA_DIR=/var/lib/mca
RUN groupadd --system --gid 10001 mca \
 && useradd --system --uid 10001 --gid mca --home-dir /var/lib/mca --shell /usr/sbin/nologin mca \
 && mkdir -p /var/lib/mca && chown mca:mca /var/lib/mca
COPY --from=builder /opt/venv /opt/venv
# Owned by root and read-only for the service user: the code cannot be rewritten at run time.
COPY --from=builder /app /app
WORKDIR /app
USER mca:mca
# 8000: the API (and its /metrics); 9100: a worker's metrics when WORKER_METRICS_PORT=9100.
EXPOSE 8000 9100
CMD ["mca", "serve", "--host", "0.0.0.0", "--port", "8000"]
