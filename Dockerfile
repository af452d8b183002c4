# One image for every service of docker-compose.yml: worker, beat, Flower and the (simulator) bridge.
FROM python:3.11-slim-bookworm

# Flower is pinned: its UI and API change between releases (docker-compose.yml passes the same version).
ARG FLOWER_VERSION=2.2.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged user; the terminal never needs root, and neither does Celery.
RUN groupadd --system --gid 10001 mt5 \
    && useradd --system --uid 10001 --gid mt5 --home-dir /app --shell /usr/sbin/nologin mt5

WORKDIR /app
# The package, installed from pyproject.toml (not editable: the image holds no source tree to edit).
COPY pyproject.toml README.md celeryconfig.py ./
COPY mt5_worker ./mt5_worker
RUN pip install ".[flower]" "flower==${FLOWER_VERSION}" \
    && rm -rf /app/build /app/*.egg-info

USER mt5:mt5
# Settings come from the environment (docker-compose.yml passes .env); see .env.example.
CMD ["mt5-worker", "worker"]
