# The cspr image. One image, three uses (see docker-compose.yml): the API (the default command),
# the worker (`python worker.py`) and the case-store migrations (`alembic upgrade head`).

# The workspace's browser assets (GOV.UK Frontend, Swagger UI, ReDoc) from npm, as `make venv`
# installs them (web/package-lock.json): only web/node_modules leaves this stage.
FROM node:20.20.2-bookworm-slim AS assets
WORKDIR /web
COPY web/package.json web/package-lock.json web/.npmrc ./
RUN npm ci

# An exact patch release on a named Debian release: a rebuild next month is the same Python.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Every entry point (uvicorn, worker.py, alembic, the health checks) imports the code from
    # /app, the same files whichever way it starts.
    PYTHONPATH=/app

# A fixed numeric id, so an orchestrator can check that the process does not run as root.
RUN groupadd --system --gid 10001 cspr \
    && useradd --system --uid 10001 --gid cspr --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin cspr

WORKDIR /app

# The dependencies first, in a layer of their own: a change to the code does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Every package in pyproject's [tool.setuptools] (tests/test_compose.py checks the list), the
# migrations (store/migrations, found through alembic.ini) and the worker's health check.
# Nothing else: tests, .data/ (development keys) and .env files never enter the image.
COPY domain/ domain/
COPY workflows/ workflows/
COPY activities/ activities/
COPY api/ api/
COPY infra/ infra/
COPY store/ store/
COPY letters/ letters/
COPY web/ web/
COPY --from=assets /web/node_modules web/node_modules/
COPY worker.py alembic.ini ./
COPY deploy/worker_healthcheck.py deploy/

# `pip install .` without the dev extras; the dependencies are already there.
RUN pip install --no-deps . && rm -rf build ./*.egg-info

# The code stays owned by root: the service can read it, not change it.
USER 10001:10001

EXPOSE 8000
# No HEALTHCHECK here: the API, the worker and the migrations each need a different one, and
# docker-compose.yml gives each its own.
CMD ["uvicorn", "api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
