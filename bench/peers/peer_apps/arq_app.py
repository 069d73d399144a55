from arq.connections import RedisSettings

from peer_apps import KEY, NS, REDIS


async def incr(ctx):
    return await ctx["redis"].incr(KEY)


class WorkerSettings:
    # arq's defaults otherwise: max_jobs 10, results kept 1 hour (keep_result).
    functions = [incr]
    queue_name = NS
    redis_settings = RedisSettings.from_dsn(REDIS)
