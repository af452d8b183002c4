FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md celeryconfig.py ./
COPY mt5_worker ./mt5_worker
RUN pip install --no-cache-dir ".[flower]"
USER nobody
CMD ["mt5-worker", "worker"]
