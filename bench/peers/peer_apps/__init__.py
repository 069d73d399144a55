"""Task modules of the peers for bench/peers/throughput.py, configured by environment:
BENCH_NS (the namespace: queue names, key prefixes), BENCH_KEY (the counter key), BENCH_REDIS
(Redis URL with the db), BENCH_AMQP (RabbitMQ URL), BENCH_PG (PostgreSQL URL of the run's own
database). Every task body is one Redis INCR of BENCH_KEY."""

import os

NS = os.environ.get("BENCH_NS", "bench")
KEY = os.environ.get("BENCH_KEY", "bench:counter")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/13")
AMQP = os.environ.get("BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
