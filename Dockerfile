# One image for every service of docker-compose.yml: worker, beat, Flower and the (simulator) bridge.
#
# Two stages: the first builds the package's wheel from the source tree; the second installs that wheel, and
# nothing else of the source, in a clean image. So `import mt5_worker` (and Celery's `celeryconfig`) load the
# installed package from site-packages: no copy of the source sits in the working directory to shadow it.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md celeryconfig.py ./
COPY mt5_worker ./mt5_worker
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm

# Flower is pinned: its UI and API change between releases (docker-compose.yml passes the same version).
ARG FLOWER_VERSION=2.2.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged user; the terminal never needs root, and neither does Celery.
RUN groupadd --system --gid 10001 mt5 \
    && useradd --system --uid 10001 --gid mt5 --home-dir /app --create-home --shell /usr/sbin/nologin mt5

# The wheel built above, with its dependencies and Flower; then the wheel file goes.
COPY --from=build /wheels /wheels
RUN wheel="$(ls /wheels/mt5_worker-*.whl)" \
    && pip install "${wheel}[flower]" "flower==${FLOWER_VERSION}" \
    && rm -rf /wheels

WORKDIR /app
USER mt5:mt5
# Settings come from the environment (docker-compose.yml passes .env); see .env.example.
CMD ["mt5-worker", "worker"]
