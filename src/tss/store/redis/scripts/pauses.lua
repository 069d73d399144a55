-- Pauses that end by themselves: resume the paused jobs whose pause-until has come.

-- script: resume_due_pauses (head, runs)
-- ARGV: prefix, limit. Resumes up to limit jobs whose pause ended at or before now,
-- earliest first: each is unpaused, loses its pause and goes back in due. A job is taken
-- out of pause-until as it is resumed, so a second sweep never resumes it again.
-- Returns the hashes of the jobs resumed (flat field/value lists).
do
  local limit = tonumber(ARGV[2])
  local now = us(clock())
  local names = redis.call('ZRANGEBYSCORE', P .. 'pause-until', '-inf', now,
                           'LIMIT', 0, limit)
  local out = {}
  for _, name in ipairs(names) do
    redis.call('ZREM', P .. 'pause-until', name)
    local key = P .. 'job:' .. name
    if redis.call('HGET', key, 'paused') == '1' then
      redis.call('HSET', key, 'paused', '0', 'updated', now)
      redis.call('HDEL', key, 'pause')
      local next_fire = redis.call('HGET', key, 'next')
      if next_fire then redis.call('ZADD', P .. 'due', next_fire, name) end
      out[#out + 1] = redis.call('HGETALL', key)
    end
  end
  return out
end
