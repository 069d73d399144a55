import os

import redis
from celery import Celery

from peer_apps import AMQP, KEY, NS, REDIS

if os.environ.get("BENCH_BACKEND") == "rabbitmq":
    # amqp broker, no result backend (Celery's default: results are not kept).
    app = Celery(NS, broker=AMQP)
else:
    # Redis broker and the Redis result backend: results kept (Celery's default expiry, 1 day).
    app = Celery(NS, broker=REDIS, backend=REDIS)
    app.conf.broker_transport_options = {"global_keyprefix": NS + ":"}
    app.conf.result_backend_transport_options = {"global_keyprefix": NS + ":"}
app.conf.task_default_queue = NS
_r = redis.Redis.from_url(REDIS)


@app.task(name="incr")
def incr():
    return _r.incr(KEY)
