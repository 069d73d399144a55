import os

import dramatiq
import redis

from peer_apps import AMQP, KEY, NS, REDIS

if os.environ.get("BENCH_BACKEND") == "rabbitmq":
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=AMQP)
    # Results need a Redis/Memcached backend: none on the RabbitMQ backend (Dramatiq's default).
    STORE = False
else:
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.results import Results
    from dramatiq.results.backends import RedisBackend

    broker = RedisBroker(url=REDIS, namespace=NS)
    broker.add_middleware(Results(backend=RedisBackend(url=REDIS, namespace=NS + "-results")))
    STORE = True
dramatiq.set_broker(broker)
_r = redis.Redis.from_url(REDIS)


@dramatiq.actor(queue_name=NS, **({"store_results": True} if STORE else {}))
def incr():
    return _r.incr(KEY)
