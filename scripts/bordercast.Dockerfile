# The Bordercast image: CLI, flows, API and Dask workers share it (docker-compose.yml).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY forecasting ./forecasting
COPY flows ./flows
COPY service ./service
COPY bordercast ./bordercast
COPY data ./data
RUN pip install -c constraints.txt .
USER nobody
